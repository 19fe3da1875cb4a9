"""Maps azure-core / azure-identity exceptions to the reconciler's reasons (`reconciler.errors`).

Why this module exists: the loop must record a short, specific reason for every failure and pace its retries
(Retry-After for throttling), but it must not depend on the SDK. Like kopf re-raising client errors as its own tree,
the SDK's exception types stop here. `classify` is handed to `Reconciler(classify=...)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.identity import CredentialUnavailableError

from hsm_operator.reconciler import errors

# Phrases the service uses when a name is taken by a soft-deleted object (ARM and data plane alike).
_SOFT_DELETE_HINTS = ("soft delete", "soft-delete", "softdelete", "deleted state", "is in a deleted", "recover")


def classify(exc: BaseException) -> errors.ReconcileError | None:
    """The reconcile error for an SDK exception, or None when `exc` is not an Azure SDK failure."""
    if isinstance(exc, errors.ReconcileError):
        return exc
    if isinstance(exc, CredentialUnavailableError):
        return errors.CredentialsMissing(f"No usable credential: {exc.message}")
    if isinstance(exc, ClientAuthenticationError) and exc.status_code in (None, 401):
        # azure-identity raises this for token failures (wrong secret, disabled principal), the SDK for HTTP 401.
        return errors.AuthenticationFailed(f"Authentication failed: {_describe(exc)}")
    if isinstance(exc, HttpResponseError) and exc.status_code is not None:
        return _from_status(exc, exc.status_code)
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return errors.Unavailable(f"Service unreachable: {_describe(exc)}")
    return None


def _from_status(exc: HttpResponseError, status: int) -> errors.ReconcileError:
    text = _describe(exc)
    retry_after = retry_after_seconds(_headers(exc))
    if status == 403:
        return errors.AuthorizationFailed(f"Forbidden: {text}")
    if status == 401:
        return errors.AuthenticationFailed(f"Unauthorized: {text}")
    if status == 429:
        return errors.Throttled(f"Throttled: {text}", retry_after=retry_after if retry_after is not None else 10.0)
    if status == 404:
        return errors.NotFound(f"Not found: {text}")
    if status == 409:
        if any(hint in text.lower() for hint in _SOFT_DELETE_HINTS):
            return errors.SoftDeletedConflict(f"Name held by a soft-deleted object: {text}")
        return errors.Conflict(f"Conflict: {text}")
    if status in (400, 422):
        return errors.InvalidSpec(f"Rejected by the service: {text}")
    if status >= 500:
        return errors.Unavailable(f"Service error {status}: {text}", retry_after=retry_after)
    return errors.ReconcileError(f"HTTP {status}: {text}", retry_after=retry_after)


def _describe(exc: Any) -> str:
    """`Code: message` from the Azure error body when there is one, else the exception's first line."""
    odata = getattr(exc, "error", None)
    code = getattr(odata, "code", None)
    message = getattr(odata, "message", None)
    if code or message:
        return errors.short(f"{code}: {message}" if code and message else str(code or message))
    return errors.short(str(getattr(exc, "message", None) or exc))


def _headers(exc: HttpResponseError) -> Mapping[str, str]:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    return headers if isinstance(headers, Mapping) else {}


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds from `retry-after-ms`, `x-ms-retry-after-ms` or `Retry-After` (integer seconds); None if absent."""
    lowered = {key.lower(): value for key, value in headers.items()}
    for name, scale in (("retry-after-ms", 0.001), ("x-ms-retry-after-ms", 0.001), ("retry-after", 1.0)):
        raw = lowered.get(name)
        if raw is None:
            continue
        try:
            return max(0.0, float(raw) * scale)
        except ValueError:
            continue  # an HTTP-date Retry-After: fall back to our own backoff
    return None
