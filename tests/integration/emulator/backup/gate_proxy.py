"""A TCP proxy in front of Azurite whose connections wait at a gate: holds a backup job mid-flight, on purpose.

Backup jobs are fast, so "a second job while one runs" and "storage stops during a backup" would be races. Through
this proxy the job's first storage request waits (connection accepted, nothing forwarded) until the test opens the
gate; meanwhile the job is truly in progress and blocked on storage. Real sockets, real Azurite: nothing is faked.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class GateProxy:
    def __init__(self, upstream_port: int, host: str = "127.0.0.1") -> None:
        self.upstream = (host, upstream_port)
        self._listener = socket.create_server((host, 0))
        self.port = int(self._listener.getsockname()[1])
        self.gate = threading.Event()
        self.connections = threading.Semaphore(0)  # released once per accepted connection
        self._sockets: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def wait_for_connection(self, timeout: float = 30.0) -> bool:
        return self.connections.acquire(timeout=timeout)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._sockets.append(client)
            self.connections.release()
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        self.gate.wait()
        try:
            upstream = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            client.close()  # storage is gone: the job sees its connection dropped
            return
        self._sockets.append(upstream)
        threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()
        self._pipe(client, upstream)

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                target.sendall(data)
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._closed = True
        self.gate.set()
        self._listener.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()
