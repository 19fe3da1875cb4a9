"""Run the emulator over HTTPS: pre-bind every socket, serve with uvicorn, announce readiness, stop cleanly.

All sockets (main port + HSM port pool) are bound before anything else so a port conflict is reported at once
(exit 1, one line) and HSMs keep their ports across restarts. uvicorn's own signal handling re-raises SIGTERM after
shutdown (exit status -15); we want a clean exit 0, so the server subclass only flags the exit.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys
from collections.abc import Callable, Generator
from contextlib import contextmanager
from types import FrameType

import uvicorn

from hsm_emulator.app import create_app
from hsm_emulator.runtime import Emulator
from hsm_emulator.tls import TlsFiles

logger = logging.getLogger(__name__)

GRACEFUL_SHUTDOWN_SECONDS = 5


class BindError(OSError):
    """A listening socket could not be bound (port taken, bad address)."""


def bind_sockets(host: str, ports: list[int]) -> list[socket.socket]:
    """Bind and listen on every port or none (sockets already bound are closed on failure)."""
    bound: list[socket.socket] = []
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        for port in ports:
            # proto=IPPROTO_TCP explicitly: asyncio enables TCP_NODELAY on accepted connections only when the
            # socket says it is TCP; socket.create_server leaves proto 0, and Nagle + delayed ACK then add ~40 ms
            # to every response (headers and body are separate TLS records).
            sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((host, port))
                sock.listen(256)
            except OSError as exc:
                sock.close()
                raise BindError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from None
            sock.set_inheritable(False)
            bound.append(sock)
    except BaseException:
        for sock in bound:
            sock.close()
        raise
    return bound


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_ready = on_ready

    @contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        def request_exit(signum: int, frame: FrameType | None) -> None:
            if self.should_exit and signum == signal.SIGINT:
                self.force_exit = True
            self.should_exit = True

        previous = {sig: signal.signal(sig, request_exit) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and not self.should_exit:
            self._on_ready()


def serve(emulator: Emulator, sockets: list[socket.socket], tls: TlsFiles, *, log_level: str = "warning") -> None:
    """Serve until SIGTERM/SIGINT; closes the database afterwards."""
    settings = emulator.settings

    def announce() -> None:
        ca = f" (ca: {tls.ca_file})" if tls.ca_file else ""
        print(f"hsm-emulator ready: {settings.main_url}{ca}", flush=True)

    config = uvicorn.Config(
        create_app(emulator),
        ssl_certfile=str(tls.cert_file),
        ssl_keyfile=str(tls.key_file),
        log_level=log_level,
        access_log=log_level in ("debug", "trace"),
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        server_header=False,
    )
    server = _Server(config, announce)
    try:
        asyncio.run(server.serve(sockets=sockets))
    finally:
        for sock in sockets:
            sock.close()
        emulator.close()
    if not server.started:
        sys.exit(3)
