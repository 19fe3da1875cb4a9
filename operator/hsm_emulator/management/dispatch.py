"""Routing of ARM requests: case-insensitive paths, api-version checks, authentication, one call context.

ARM treats paths case-insensitively (the resources SDK sends `/resourcegroups/`, the Key Vault SDK
`/resourceGroups/`), and role assignments hang below any scope (`{scope}/providers/Microsoft.Authorization/...`).
FastAPI routes are case-sensitive and cannot express "any scope", so the plane mounts two catch-all routes
(`/subscriptions/...`, `/providers/...`) and this module dispatches them over a table of case-insensitive patterns.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ValidationError

from hsm_emulator.errors import MethodNotAllowed, NotFound, bad_request
from hsm_emulator.identity.audiences import ARM
from hsm_emulator.identity.auth import authenticate
from hsm_emulator.identity.principal import Principal
from hsm_emulator.management import arm_errors, service
from hsm_emulator.runtime import Emulator
from hsm_emulator.validation import describe_first_error

API_VERSION = "api-version"
ModelT = TypeVar("ModelT", bound=BaseModel)


@dataclass(frozen=True)
class ApiVersions:
    """The api-versions one resource type accepts, and how ARM words the refusal of any other."""

    resource_type: str
    supported: tuple[str, ...]
    provider_registered: bool  # True: a resource provider's type (NoRegisteredProviderFound); False: ARM's own

    def check(self, version: str | None, location: str) -> None:
        if version is None or not version.strip():
            raise arm_errors.missing_api_version()
        if version in self.supported:
            return
        if self.provider_registered:
            raise arm_errors.no_registered_provider(version, location, self.resource_type, self.supported)
        raise arm_errors.invalid_api_version(version, self.supported)


@dataclass
class ArmCall:
    """One authenticated ARM request: the caller, the path parameters and the emulator."""

    request: Request
    emulator: Emulator
    principal: Principal
    params: dict[str, str]
    raw_body: bytes = b""

    @property
    def now(self) -> float:
        return self.emulator.clock()

    @property
    def base_url(self) -> str:
        """Absolute URLs we hand out (Location headers, nextLinks) point where the client reached us."""
        return str(self.request.base_url).rstrip("/")

    def query(self, name: str) -> str | None:
        for key, value in self.request.query_params.items():
            if key.lower() == name.lower():
                return value
        return None

    @property
    def settings(self) -> service.ManagementSettings:
        return self.emulator.require(service.ManagementSettings)

    def body(self, model: type[ModelT]) -> ModelT:
        """Validate the (already read) JSON body; 400 `InvalidRequestContent` naming the bad field otherwise.

        Synchronous on purpose: handlers call it inside their transaction, after the authorization decision, so a
        caller without rights learns nothing about what a valid body would be.
        """
        if not self.raw_body.strip():
            raise bad_request(self.request, "The request body is missing.")
        try:
            document = json.loads(self.raw_body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise bad_request(self.request, f"The request body is not valid JSON: {exc}") from exc
        try:
            return model.model_validate(document)
        except ValidationError as exc:
            raise bad_request(self.request, f"Invalid request body: {describe_first_error(exc.errors())}") from exc


Handler = Callable[[ArmCall], Awaitable[Response]]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    versions: ApiVersions
    handler: Handler


@dataclass
class RouteTable:
    routes: list[Route] = field(default_factory=list)

    def add(self, method: str, pattern: str, versions: ApiVersions, handler: Handler) -> None:
        self.routes.append(Route(method, re.compile(f"^{pattern}/?$", re.IGNORECASE), versions, handler))

    def extend(self, routes: Iterable[Route]) -> None:
        self.routes.extend(routes)

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        allowed_elsewhere = False
        for route in self.routes:
            found = route.pattern.match(path)
            if found is None:
                continue
            if route.method == method or (method == "HEAD" and route.method == "HEAD"):
                return route, {key: value for key, value in found.groupdict().items() if value is not None}
            allowed_elsewhere = True
        if allowed_elsewhere:
            raise MethodNotAllowed(f"The requested resource does not support http method '{method}'.")
        raise NotFound(f"No HTTP resource was found that matches the request URI '{path}'.", code="NotFound")


def build_router(table: RouteTable) -> APIRouter:
    """Two catch-all routes feeding the table; the handlers themselves stay plain async functions."""
    router = APIRouter()

    async def dispatch(request: Request) -> Response:
        emulator = request.app.state.emulator
        assert isinstance(emulator, Emulator)
        path = re.sub(r"/{2,}", "/", request.url.path)
        route, params = table.match(request.method, path)
        principal = authenticate(request, ARM)
        version = next((v for k, v in request.query_params.items() if k.lower() == API_VERSION), None)
        route.versions.check(version, params.get("location", "global"))
        raw_body = await request.body() if request.method in ("PUT", "PATCH", "POST") else b""
        return await route.handler(ArmCall(request, emulator, principal, params, raw_body))

    methods = ["GET", "PUT", "PATCH", "DELETE", "POST", "HEAD"]
    router.add_api_route("/subscriptions/{rest:path}", dispatch, methods=methods, include_in_schema=False)
    router.add_api_route("/providers/{rest:path}", dispatch, methods=methods, include_in_schema=False)
    return router
