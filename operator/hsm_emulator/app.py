"""The ASGI application: one FastAPI app for the main port, one for the HSM ports, routed by local port.

Why two apps: the data plane and ARM share paths (`.../providers/Microsoft.Authorization/roleAssignments/...`) and
the SDKs derive an HSM's URL as scheme://host:port, so each HSM lives on its own port of a pre-bound pool
(docs/emulator-design.md). `PortRouter` looks at `scope["server"][1]`, the local port of the connection, and hands
the request to the right app. Both apps share the same `Emulator` (`request.app.state.emulator`) and the same
error handlers.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from hsm_emulator.errors import SURFACE_HSM, SURFACE_MAIN, SURFACE_SCOPE_KEY, install_error_handlers
from hsm_emulator.runtime import Emulator

logger = logging.getLogger(__name__)


def get_emulator(request: Request) -> Emulator:
    """FastAPI dependency: the running emulator."""
    emulator = request.app.state.emulator
    assert isinstance(emulator, Emulator)
    return emulator


EmulatorDep = Annotated[Emulator, Depends(get_emulator)]


def local_port(request: Request) -> int:
    """The local port the request arrived on; on an HSM port it identifies the HSM."""
    server = request.scope.get("server")
    if not server or server[1] is None:
        raise RuntimeError("request without a local port")
    return int(server[1])


LocalPortDep = Annotated[int, Depends(local_port)]


class PortRouter:
    """ASGI app that dispatches on the connection's local port: HSM pool ports -> data plane app, else main app."""

    def __init__(self, main_app: ASGIApp, hsm_app: ASGIApp, hsm_ports: frozenset[int]) -> None:
        self.main_app = main_app
        self.hsm_app = hsm_app
        self.hsm_ports = hsm_ports

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.main_app(scope, receive, send)
            return
        server = scope.get("server")
        is_hsm = server is not None and server[1] in self.hsm_ports
        scope = {**scope, SURFACE_SCOPE_KEY: SURFACE_HSM if is_hsm else SURFACE_MAIN}
        try:
            await (self.hsm_app if is_hsm else self.main_app)(scope, receive, send)
        except Exception:
            # Starlette's ServerErrorMiddleware already sent the Azure-shaped 500 (our handler) and logged the
            # traceback, then re-raised; stop it here so the server does not log it twice.
            logger.debug("exception after 500 response", exc_info=True)


def _new_app(emulator: Emulator, **kwargs: Any) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, **kwargs)
    app.state.emulator = emulator
    install_error_handlers(app)
    return app


def create_app(emulator: Emulator) -> PortRouter:
    """Build the whole HTTP surface for an opened emulator."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for plane in emulator.planes:
                if plane.lifespan is not None:
                    await stack.enter_async_context(plane.lifespan(emulator))
            yield

    main_app = _new_app(emulator, lifespan=lifespan)
    hsm_app = _new_app(emulator)

    @main_app.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    for plane in emulator.planes:
        for router in plane.main_routers:
            main_app.include_router(router)
        for router in plane.hsm_routers:
            hsm_app.include_router(router)
    return PortRouter(main_app, hsm_app, frozenset(emulator.settings.hsm_ports))
