"""Errors of the emulator, rendered exactly as the service being emulated renders them.

Hierarchy (raise these from any plane; one handler turns them into responses)::

    AzureError(status, code, message, inner_code=None, headers=None)   {"error": {"code", "message", "innererror"}}
     +-- BadRequest          400  BadRequest / BadParameter / InvalidRequestContent ...
     +-- Unauthenticated     401  Unauthorized / InvalidAuthenticationToken ...
     +-- Forbidden           403  Forbidden / AccessDenied / AuthorizationFailed ...
     +-- NotFound            404  NotFound / KeyNotFound / ResourceNotFound ...
     +-- MethodNotAllowed    405
     +-- Conflict            409  Conflict (inner ObjectIsDeletedButRecoverable ...)
     +-- TooManyRequests     429  Throttled
     +-- InternalError       500  InternalError (always a bug)
     +-- ServiceUnavailable  503  ServiceUnavailable + Retry-After (storage full: `storage.StorageFull`)
     +-- GraphError               Microsoft Graph shape: {"error": {"code", "message", "innerError": {...}}}
     +-- OAuthError               Entra token endpoint shape: {"error", "error_description", "error_codes", ...}

Which 400 code a validation failure gets depends on the API surface the request hit (`ErrorStyle`): the HSM data
plane says `BadParameter`, ARM `InvalidRequestContent`, Graph `Request_BadRequest`, the token endpoint
`invalid_request`. FastAPI's own 422 body never reaches a client.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import logging
import re
import uuid
from collections.abc import Mapping
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from hsm_emulator.storage import StorageFull
from hsm_emulator.validation import describe_first_error

logger = logging.getLogger(__name__)

# Set on the ASGI scope by the port router: which listener a request arrived on.
SURFACE_SCOPE_KEY = "hsm_emulator.surface"
SURFACE_MAIN = "main"
SURFACE_HSM = "hsm"

_TOKEN_ENDPOINT_PATH = re.compile(r"^/[^/]+/oauth2/")


class ErrorStyle(enum.Enum):
    """The API surface a request belongs to; decides codes and body shape of generic errors."""

    ARM = "arm"
    DATA_PLANE = "dataplane"
    GRAPH = "graph"
    OAUTH = "oauth"


class AzureError(Exception):
    """An error answer in the Azure envelope `{"error": {"code", "message", "innererror": {"code"}}}`."""

    status: int = 500
    default_code: str = "InternalError"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        inner_code: str | None = None,
        headers: Mapping[str, str] | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.inner_code = inner_code
        self.headers = dict(headers or {})
        if status is not None:
            self.status = status

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, code={self.code!r}, message={self.message!r})"

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.inner_code:
            error["innererror"] = {"code": self.inner_code}
        return {"error": error}

    def to_response(self) -> Response:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


class BadRequest(AzureError):
    status = 400
    default_code = "BadRequest"


class Unauthenticated(AzureError):
    status = 401
    default_code = "Unauthorized"


class Forbidden(AzureError):
    status = 403
    default_code = "Forbidden"


class NotFound(AzureError):
    status = 404
    default_code = "NotFound"


class MethodNotAllowed(AzureError):
    status = 405
    default_code = "MethodNotAllowed"


class Conflict(AzureError):
    status = 409
    default_code = "Conflict"


class TooManyRequests(AzureError):
    status = 429
    default_code = "Throttled"


class InternalError(AzureError):
    status = 500
    default_code = "InternalError"


class ServiceUnavailable(AzureError):
    status = 503
    default_code = "ServiceUnavailable"


# Seconds a client should wait after a storage failure; azure-core's retry policy honours Retry-After on 503.
STORAGE_RETRY_AFTER = "5"


class GraphError(AzureError):
    """Microsoft Graph's error shape (directory API)."""

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "innerError": {
                    "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                    "request-id": str(uuid.uuid4()),
                    "client-request-id": str(uuid.uuid4()),
                },
            }
        }


class OAuthError(AzureError):
    """Entra ID's token endpoint error shape; `code` is the OAuth error, `aadsts` the AADSTS number.

    azure-identity / MSAL show `error_description` in ClientAuthenticationError, so it must say what went wrong.
    """

    def __init__(self, status: int, error: str, aadsts: int, description: str) -> None:
        super().__init__(f"AADSTS{aadsts}: {description}", code=error, status=status)
        self.aadsts = aadsts

    def body(self) -> dict[str, Any]:
        trace_id = str(uuid.uuid4())
        correlation_id = str(uuid.uuid4())
        timestamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        return {
            "error": self.code,
            "error_description": f"{self.message} Trace ID: {trace_id} Correlation ID: {correlation_id} "
            f"Timestamp: {timestamp}",
            "error_codes": [self.aadsts],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": f"https://login.microsoftonline.com/error?code={self.aadsts}",
        }


def error_style(request: Request) -> ErrorStyle:
    """The surface a request hit: HSM ports are the data plane; on the main port Graph and the token endpoint are
    recognised by path and everything else is ARM."""
    if request.scope.get(SURFACE_SCOPE_KEY) == SURFACE_HSM:
        return ErrorStyle.DATA_PLANE
    path = request.url.path
    if path.startswith("/v1.0/") or path == "/v1.0":
        return ErrorStyle.GRAPH
    if _TOKEN_ENDPOINT_PATH.match(path):
        return ErrorStyle.OAUTH
    return ErrorStyle.ARM


def bad_request(request: Request, message: str) -> AzureError:
    """A 400 for malformed input, in the shape and code of the surface the request hit."""
    style = error_style(request)
    if style is ErrorStyle.DATA_PLANE:
        return BadRequest(message, code="BadParameter")
    if style is ErrorStyle.GRAPH:
        return GraphError(message, code="Request_BadRequest", status=400)
    if style is ErrorStyle.OAUTH:
        return OAuthError(400, "invalid_request", 900144, message)
    return BadRequest(
        f"The request content was invalid and could not be deserialized: {message}", code="InvalidRequestContent"
    )


def not_found(request: Request, message: str) -> AzureError:
    style = error_style(request)
    if style is ErrorStyle.GRAPH:
        return GraphError(message, code="Request_ResourceNotFound", status=404)
    if style is ErrorStyle.OAUTH:
        return OAuthError(404, "invalid_request", 90002, message)
    return NotFound(message)


ModelT = TypeVar("ModelT", bound=BaseModel)


async def read_json_body(request: Request, model: type[ModelT]) -> ModelT:
    """Parse and validate the JSON body as `model`; 400 in the surface's shape naming the bad field otherwise.

    Planes call this *after* authenticating, so an unauthenticated request gets its 401 challenge first (the SDKs
    send their first request without a body and expect the challenge).
    """
    raw = await request.body()
    if not raw.strip():
        raise bad_request(request, "The request body is missing.")
    try:
        document = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise bad_request(request, f"The request body is not valid JSON: {exc}") from exc
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise bad_request(request, f"Invalid request body: {describe_first_error(exc.errors())}") from exc


async def _azure_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AzureError)
    return exc.to_response()


async def _validation_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    detail = describe_first_error(list(exc.errors()), skip_prefix=("body",))
    return bad_request(request, f"Invalid request: {detail}").to_response()


async def _http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        error = not_found(request, f"The requested path {request.url.path} was not found.")
    elif exc.status_code == 405:
        error = MethodNotAllowed(f"The HTTP method {request.method} is not supported for {request.url.path}.")
    elif exc.status_code < 500:
        error = AzureError(str(exc.detail), code="BadRequest", status=exc.status_code)
    else:
        error = InternalError(str(exc.detail))
    if exc.headers:
        error.headers.update(exc.headers)
    return error.to_response()


def storage_unavailable(request: Request) -> AzureError:
    """A write failed because the emulator's storage is full: 503 in the surface's shape, nothing was written.

    The real services answer an internal storage failure with a retryable 5xx in their usual envelope; 503 with
    Retry-After tells clients (and azure-core's retry policy) that the same request may succeed later.
    """
    message = "The service cannot store this change right now (its storage is full); nothing was written. Retry later."
    headers = {"Retry-After": STORAGE_RETRY_AFTER}
    style = error_style(request)
    if style is ErrorStyle.GRAPH:
        return GraphError(message, code="serviceNotAvailable", status=503, headers=headers)
    if style is ErrorStyle.OAUTH:
        error = OAuthError(503, "temporarily_unavailable", 90033, f"A transient error has occurred. {message}")
        error.headers.update(headers)
        return error
    return ServiceUnavailable(message, inner_code="StorageFull", headers=headers)


async def _storage_full_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StorageFull)
    logger.warning("%s %s refused: %s", request.method, request.url.path, exc)
    return storage_unavailable(request).to_response()


async def _unexpected_error_handler(request: Request, exc: Exception) -> Response:
    # A bug: log it with the traceback and answer like Azure would, never with a stack trace.
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return InternalError("An unexpected error occurred while processing the request.").to_response()


def install_error_handlers(app: FastAPI) -> None:
    """Register the one set of handlers on an app; every emulator app calls this."""
    app.add_exception_handler(AzureError, _azure_error_handler)
    app.add_exception_handler(StorageFull, _storage_full_handler)
    app.add_exception_handler(RequestValidationError, _validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, _http_error_handler)
    app.add_exception_handler(Exception, _unexpected_error_handler)
