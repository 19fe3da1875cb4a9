"""Emulator fixtures: one `hsm-emulator` process per test session, and fresh ones for kill/restart tests.

`emulator` (session): started on free ports with `standard_directory()` (see hsm_devtools.emulator_process), e.g.
    emulator.sp("hsm-admin")            -> ServicePrincipal(object_id, app_id, secret, tenant_id)
    emulator.credential("hsm-admin")    -> azure.identity.ClientSecretCredential against the emulator
    emulator.async_credential("crypto-user") -> azure.identity.aio.ClientSecretCredential
    emulator.token("sub-reader", "https://management.azure.com/") -> raw access token (cached)
    emulator.url, emulator.ca_file, emulator.hsm_ports, emulator.directory.subscription_id
`fresh_emulator` (function): a factory `fresh_emulator(config=None)` for tests that kill, restart or change the
directory; every process it started is stopped at the end of the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.identity import ClientSecretCredential
from azure.identity.aio import ClientSecretCredential as AsyncClientSecretCredential

from hsm_devtools.emulator_process import EmulatorProcess, ServicePrincipal, StandardDirectory, standard_directory


class EmulatorHandle:
    """A running emulator plus the standard directory and credential helpers."""

    def __init__(self, process: EmulatorProcess, directory: StandardDirectory) -> None:
        self.process = process
        self.directory = directory
        self._tokens: dict[tuple[str, str], str] = {}

    @property
    def url(self) -> str:
        return self.process.url

    @property
    def ca_file(self) -> Path:
        return self.process.ca_file

    @property
    def hsm_ports(self) -> tuple[int, ...]:
        return self.process.hsm_ports

    @property
    def tenant_id(self) -> str:
        return self.directory.tenant_id

    def sp(self, name: str) -> ServicePrincipal:
        return self.directory.sp(name)

    def credential_kwargs(self) -> dict[str, Any]:
        return {"authority": self.url, "disable_instance_discovery": True, "connection_verify": str(self.ca_file)}

    def credential(self, name: str) -> ClientSecretCredential:
        sp = self.sp(name)
        return ClientSecretCredential(sp.tenant_id, sp.app_id, sp.secret, **self.credential_kwargs())

    def async_credential(self, name: str) -> AsyncClientSecretCredential:
        sp = self.sp(name)
        return AsyncClientSecretCredential(sp.tenant_id, sp.app_id, sp.secret, **self.credential_kwargs())

    def token(self, name: str, audience: str) -> str:
        """A raw access token for a standard service principal (cached per name and audience: 1 h lifetime)."""
        key = (name, audience)
        if key not in self._tokens:
            self._tokens[key] = self.process.client_credentials_token(self.sp(name), audience)
        return self._tokens[key]

    def admin_token(self, audience: str = "https://graph.microsoft.com") -> str:
        """A token of the Global Administrator user (password grant)."""
        status, body = self.process.request_token(
            self.tenant_id,
            {
                "grant_type": "password",
                "client_id": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
                "username": self.directory.admin_user,
                "password": self.directory.admin_password,
                "scope": f"{audience.rstrip('/')}/.default",
            },
        )
        if status != 200:
            raise RuntimeError(f"admin token request failed: {status} {body}")
        return str(body["access_token"])


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorHandle]:
    directory = standard_directory()
    process = EmulatorProcess(tmp_path_factory.mktemp("emulator"), directory.config())
    with process:
        yield EmulatorHandle(process, directory)


@pytest.fixture
def fresh_emulator(tmp_path: Path) -> Iterator[Callable[..., EmulatorHandle]]:
    started: list[EmulatorProcess] = []

    def start(config: dict[str, Any] | None = None, **options: Any) -> EmulatorHandle:
        directory = standard_directory()
        process = EmulatorProcess(tmp_path / f"emulator-{len(started)}", config or directory.config(), **options)
        started.append(process)
        process.start()
        return EmulatorHandle(process, directory)

    yield start
    for process in started:
        process.stop()
