"""Run Azurite (the Azure Storage emulator, blob service only) as a child process: for tests, benchmarks, `make run`.

Full backups of the emulated HSMs go to real Blob Storage; locally that is Azurite. It is installed once with npm
(`hack/install-azurite.sh`, pinned version) into `${XDG_CACHE_HOME:-~/.cache}/managed-hsm-operator/azurite`,
started with a temporary `--location` on a free loopback port, and stopped by PID (`ManagedProcess`). Azurite uses
the well-known development account `devstoreaccount1`; SAS tokens are signed with its published key, and Azurite
checks them (signature, permissions, expiry, container) as Azure Storage does.

    with AzuriteProcess(tmp_dir) as azurite:
        azurite.create_container("backups")
        sas = azurite.container_sas("backups")                 # "racwdl", valid 1 day
        url = azurite.container_url("backups")                 # http://127.0.0.1:<port>/devstoreaccount1/backups
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import time
from pathlib import Path

from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas

from hsm_devtools.processes import ManagedProcess, ProcessStartError

AZURITE_VERSION = "3.37.0"
ACCOUNT_NAME = "devstoreaccount1"
# Azurite's published development key (documented by Microsoft; not a secret).
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
_REPO = Path(__file__).resolve().parents[2]
INSTALL_SCRIPT = _REPO / "hack" / "install-azurite.sh"


def install_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "managed-hsm-operator" / "azurite"


def azurite_binary() -> Path:
    return install_dir() / "node_modules" / ".bin" / "azurite-blob"


def ensure_installed() -> Path:
    """The azurite-blob executable, installed by `hack/install-azurite.sh` first if missing."""
    binary = azurite_binary()
    if not binary.exists():
        result = subprocess.run(
            [str(INSTALL_SCRIPT)],
            env={**os.environ, "AZURITE_VERSION": AZURITE_VERSION},
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0 or not binary.exists():
            raise ProcessStartError(f"installing Azurite failed ({INSTALL_SCRIPT}):\n{result.stdout}{result.stderr}")
    return binary


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class AzuriteProcess:
    """One Azurite blob service; data in `state_dir/data`, log in `state_dir/azurite.log`."""

    def __init__(self, state_dir: Path, *, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.state_dir = state_dir
        self.host = host
        self.port = port
        self.data_dir = state_dir / "data"
        self.log_file = state_dir / "azurite.log"
        self._process: ManagedProcess | None = None

    @property
    def account_url(self) -> str:
        if self.port is None:
            raise RuntimeError("Azurite has not been started")
        return f"http://{self.host}:{self.port}/{ACCOUNT_NAME}"

    def container_url(self, container: str) -> str:
        return f"{self.account_url}/{container}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.exit_code() is None

    def start(self, timeout: float = 60.0) -> AzuriteProcess:
        """Start on `port` (a free one the first time; the same one on a restart, so URLs stay valid)."""
        binary = ensure_installed()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.port is None:
            self.port = _free_port(self.host)
        argv = [
            str(binary),
            "--location", str(self.data_dir),
            "--blobHost", self.host,
            "--blobPort", str(self.port),
            "--skipApiVersionCheck",
            "--silent",
        ]  # fmt: skip
        process = ManagedProcess("azurite", argv, self.log_file)
        process.start()
        deadline = time.monotonic() + timeout
        while not self._answers():
            if process.exit_code() is not None:
                tail = process.log_tail()
                process.stop()
                raise ProcessStartError(f"azurite exited with code {process.exit_code()}; log {self.log_file}:\n{tail}")
            if time.monotonic() > deadline:
                process.stop()
                raise ProcessStartError(f"azurite not listening after {timeout:.0f}s; log {self.log_file}")
            time.sleep(0.1)
        self._process = process
        return self

    def _answers(self) -> bool:
        assert self.port is not None
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self, timeout: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.stop(timeout)

    def __enter__(self) -> AzuriteProcess:
        return self.start() if self._process is None else self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- storage helpers (the account key stays in tests and tools; the HSM only ever sees SAS tokens)

    def service_client(self) -> BlobServiceClient:
        return BlobServiceClient(
            self.account_url, credential={"account_name": ACCOUNT_NAME, "account_key": ACCOUNT_KEY}
        )

    def create_container(self, name: str) -> str:
        """Create the container (if absent); returns its URL."""
        with self.service_client() as client:
            container = client.get_container_client(name)
            if not container.exists():
                container.create_container()
        return self.container_url(name)

    def container_sas(
        self, container: str, permissions: str = "racwdl", *, expires_in: dt.timedelta = dt.timedelta(days=1)
    ) -> str:
        """A service SAS for `container` (query string without '?'); a negative `expires_in` gives an expired one."""
        now = dt.datetime.now(dt.UTC)
        return generate_container_sas(
            ACCOUNT_NAME,
            container,
            account_key=ACCOUNT_KEY,
            permission=ContainerSasPermissions.from_string(permissions),
            expiry=now + expires_in,
            start=now - dt.timedelta(minutes=5),
        )

    def blob_names(self, container: str, prefix: str = "") -> list[str]:
        with self.service_client() as client:
            return [blob.name for blob in client.get_container_client(container).list_blobs(name_starts_with=prefix)]

    def read_blob(self, container: str, name: str) -> bytes:
        with self.service_client() as client:
            return client.get_blob_client(container, name).download_blob().readall()

    def write_blob(self, container: str, name: str, data: bytes) -> None:
        with self.service_client() as client:
            client.get_blob_client(container, name).upload_blob(data, overwrite=True)
