"""Run `hsm-emulator serve` as a child process: for tests, benchmarks and `make run`.

`EmulatorProcess(state_dir, config)` writes the config, picks free ports (main port + an HSM port pool), starts the
server, waits for its ready line and `/healthz`, and offers `stop()` (SIGTERM, then SIGKILL), `kill()` (SIGKILL,
for durability tests) and `restart()` (same ports and data directory, so HSMs keep their URLs).

`standard_directory()` is the bootstrap every test session shares: one tenant with a Global Administrator, a service
principal per role the planes need, a second tenant, a management group, a subscription with two resource groups.
Ids are uuid5 of fixed names, so a test can name any of them without a lookup.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hsm_devtools.processes import ManagedProcess, ProcessStartError

READY_PREFIX = "hsm-emulator ready: "
DEFAULT_HSM_PORT_COUNT = 16
_PORT_SEARCH_RANGE = (20000, 60000)
_BIND_RETRIES = 8

# Fixed namespace: every id of the standard directory is uuid5(NAMESPACE, "<kind>:<name>").
NAMESPACE = uuid.UUID("5b0c1f0e-6d5e-4a3c-9a63-2f3c0d9e8a11")


def stable_id(name: str) -> str:
    return str(uuid.uuid5(NAMESPACE, name))


# ---- the standard bootstrap directory ----------------------------------------------------------------------------

# Service principals the planes' tests rely on, and what the config grants them on the management plane.
STANDARD_SERVICE_PRINCIPALS = (
    "hsm-admin",  # to be listed in initialAdminObjectIds (data-plane Administrator of new HSMs)
    "mgmt-operator",  # Managed HSM contributor at the subscription
    "sub-owner",
    "sub-contributor",
    "sub-reader",
    "rg-contributor",  # Contributor at resource group rg-one only
    "no-role",
    "crypto-user",
    "crypto-officer",
    "auditor",
    "group-member",  # rights only through the group hsm-crypto-users
)
OTHER_TENANT_SERVICE_PRINCIPAL = "other-tenant-sp"
ARM_ROLE_ASSIGNMENTS = {
    "mgmt-operator": ("subscription", "Managed HSM contributor"),
    "sub-owner": ("subscription", "Owner"),
    "sub-contributor": ("subscription", "Contributor"),
    "sub-reader": ("subscription", "Reader"),
    "rg-contributor": ("rg-one", "Contributor"),
}


@dataclass(frozen=True)
class ServicePrincipal:
    name: str
    tenant_id: str
    object_id: str
    app_id: str
    secret: str


@dataclass(frozen=True)
class StandardDirectory:
    tenant_id: str = field(default_factory=lambda: stable_id("tenant:primary"))
    other_tenant_id: str = field(default_factory=lambda: stable_id("tenant:other"))
    subscription_id: str = field(default_factory=lambda: stable_id("subscription:primary"))
    management_group: str = "mhsm-test-root"
    resource_groups: tuple[str, ...] = ("rg-one", "rg-two")
    location: str = "westeurope"
    admin_user: str = "admin@contoso.test"
    admin_password: str = "admin-Passw0rd!"
    crypto_group_name: str = "hsm-crypto-users"

    @property
    def admin_object_id(self) -> str:
        return stable_id("user:admin")

    @property
    def crypto_group_id(self) -> str:
        return stable_id("group:hsm-crypto-users")

    def sp(self, name: str) -> ServicePrincipal:
        if name == OTHER_TENANT_SERVICE_PRINCIPAL:
            tenant = self.other_tenant_id
        elif name in STANDARD_SERVICE_PRINCIPALS:
            tenant = self.tenant_id
        else:
            raise KeyError(f"no service principal {name!r} in the standard directory")
        return ServicePrincipal(
            name=name,
            tenant_id=tenant,
            object_id=stable_id(f"sp:{name}:object"),
            app_id=stable_id(f"sp:{name}:app"),
            secret=f"{name}-secret-{stable_id('secret:' + name)[:8]}",
        )

    def scope(self, where: str) -> str:
        subscription = f"/subscriptions/{self.subscription_id}"
        return subscription if where == "subscription" else f"{subscription}/resourceGroups/{where}"

    def config(self) -> dict[str, Any]:
        """The emulator config (CONTRACT.md section 2) that creates this directory."""

        def sp_entry(name: str) -> dict[str, Any]:
            sp = self.sp(name)
            return {"objectId": sp.object_id, "appId": sp.app_id, "displayName": name, "clientSecret": sp.secret}

        return {
            "tenants": [
                {
                    "id": self.tenant_id,
                    "globalAdministrators": [self.admin_object_id],
                    "users": [
                        {
                            "objectId": self.admin_object_id,
                            "userPrincipalName": self.admin_user,
                            "displayName": "Global Administrator",
                            "password": self.admin_password,
                        }
                    ],
                    "groups": [
                        {
                            "objectId": self.crypto_group_id,
                            "displayName": self.crypto_group_name,
                            "members": [self.sp("group-member").object_id],
                        }
                    ],
                    "servicePrincipals": [sp_entry(n) for n in STANDARD_SERVICE_PRINCIPALS],
                },
                {"id": self.other_tenant_id, "servicePrincipals": [sp_entry(OTHER_TENANT_SERVICE_PRINCIPAL)]},
            ],
            "managementGroups": [{"id": self.management_group, "tenantId": self.tenant_id, "parent": None}],
            "subscriptions": [
                {
                    "id": self.subscription_id,
                    "tenantId": self.tenant_id,
                    "managementGroup": self.management_group,
                    "resourceGroups": [{"name": rg, "location": self.location} for rg in self.resource_groups],
                }
            ],
            "roleAssignments": [
                {"scope": self.scope(where), "roleDefinitionName": role, "principalId": self.sp(name).object_id}
                for name, (where, role) in ARM_ROLE_ASSIGNMENTS.items()
            ],
        }


def standard_directory() -> StandardDirectory:
    return StandardDirectory()


# ---- the process -------------------------------------------------------------------------------------------------


class EmulatorProcess:
    """One `hsm-emulator serve` child. State lives in `state_dir` (config.yaml, data/, emulator.log)."""

    def __init__(
        self,
        state_dir: Path,
        config: dict[str, Any],
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        hsm_port_count: int = DEFAULT_HSM_PORT_COUNT,
        log_level: str = "warning",
    ) -> None:
        self.state_dir = state_dir
        self.config = config
        self.host = host
        self.port = port
        self.hsm_port_count = hsm_port_count
        self.log_level = log_level
        self.data_dir = state_dir / "data"
        self.config_file = state_dir / "config.yaml"
        self.log_file = state_dir / "emulator.log"
        self._process: ManagedProcess | None = None
        self._fixed_ports = port is not None

    # -- addresses
    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the emulator has not been started")
        return f"https://{self.host}:{self.port}"

    @property
    def ca_file(self) -> Path:
        return self.data_dir / "tls" / "ca.crt"

    @property
    def hsm_ports(self) -> tuple[int, ...]:
        if self.port is None:
            raise RuntimeError("the emulator has not been started")
        return tuple(range(self.port + 1, self.port + 1 + self.hsm_port_count))

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("the emulator is not running")
        return self._process.pid

    def check_running(self) -> None:
        """Raise `ProcessStartError` (with the log's tail) if the emulator was started and has exited since."""
        if self._process is None:
            raise RuntimeError("the emulator is not running")
        self._process.check_running()

    # -- lifecycle
    def start(self, timeout: float = 60.0) -> EmulatorProcess:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(yaml.safe_dump(self.config, sort_keys=False))
        attempts = 1 if self._fixed_ports else _BIND_RETRIES
        for attempt in range(attempts):
            if not self._fixed_ports:
                self.port = free_port_block(self.host, 1 + self.hsm_port_count)
            try:
                self._launch(timeout)
                return self
            except _PortTaken:
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, wait, SIGKILL; returns the exit code (0 on a clean stop)."""
        process, self._process = self._process, None
        if process is None:
            return None
        process.stop(timeout)
        return process.exit_code()

    def kill(self) -> None:
        """SIGKILL at once: simulates a crash (no shutdown code runs)."""
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        process.stop()

    def restart(self, timeout: float = 60.0) -> EmulatorProcess:
        """Stop (SIGTERM) and start again on the same ports with the same data directory."""
        self.stop()
        self._launch(timeout)
        return self

    def __enter__(self) -> EmulatorProcess:
        return self.start() if self._process is None else self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _launch(self, timeout: float) -> None:
        assert self.port is not None
        argv = [
            sys.executable, "-m", "hsm_emulator", "serve",
            "--config", str(self.config_file),
            "--data-dir", str(self.data_dir),
            "--host", self.host,
            "--port", str(self.port),
            "--hsm-ports", f"{self.port + 1}-{self.port + self.hsm_port_count}",
            "--log-level", self.log_level,
        ]  # fmt: skip
        process = ManagedProcess("hsm-emulator", argv, self.log_file)
        process.start()
        deadline = time.monotonic() + timeout
        while True:
            code = process.exit_code()
            if code is not None:
                tail = process.log_tail()
                process.stop()
                if code == 1 and "cannot listen on" in tail:
                    raise _PortTaken(tail)
                raise ProcessStartError(f"hsm-emulator exited with code {code}; log {self.log_file}:\n{tail}")
            if self._ready_line_seen() and self._healthy():
                self._process = process
                return
            if time.monotonic() > deadline:
                process.stop()
                raise ProcessStartError(f"hsm-emulator not ready after {timeout:.0f}s; log {self.log_file}")
            time.sleep(0.05)

    def _ready_line_seen(self) -> bool:
        try:
            return READY_PREFIX in self.log_file.read_text(errors="replace")
        except OSError:
            return False

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=2, context=self.ssl_context()) as response:  # noqa: S310
                return bool(response.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    # -- raw HTTP helpers (tests and benchmarks; products use the Azure SDKs)
    def request_token(
        self, tenant_id: str, form: dict[str, str], *, timeout: float = 10.0
    ) -> tuple[int, dict[str, Any]]:
        """POST the token endpoint with `form`; returns (status, JSON body) for success and errors alike."""
        data = urllib.parse.urlencode(form).encode()
        request = urllib.request.Request(  # noqa: S310 - https URL built from our own address
            f"{self.url}/{tenant_id}/oauth2/v2.0/token",
            data=data,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=self.ssl_context()) as response:  # noqa: S310
                return int(response.status), json.loads(response.read())
        except urllib.error.HTTPError as error:
            return int(error.code), json.loads(error.read() or b"{}")

    def client_credentials_token(self, sp: ServicePrincipal, audience: str) -> str:
        status, body = self.request_token(
            sp.tenant_id,
            {
                "grant_type": "client_credentials",
                "client_id": sp.app_id,
                "client_secret": sp.secret,
                "scope": f"{audience.rstrip('/')}/.default",
            },
        )
        if status != 200:
            raise RuntimeError(f"token request for {sp.name} failed: {status} {body}")
        return str(body["access_token"])


class _PortTaken(ProcessStartError):
    """The child could not bind one of its ports (someone took it after we probed): try another block."""


def free_port_block(host: str, count: int) -> int:
    """A base port such that base..base+count-1 are all bindable right now (best effort: races are retried)."""
    for _ in range(200):
        base = random.randrange(*_PORT_SEARCH_RANGE)
        probes: list[socket.socket] = []
        try:
            for port in range(base, base + count):
                sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
                probes.append(sock)
                sock.bind((host, port))
        except OSError:
            continue
        finally:
            for sock in probes:
                sock.close()
        return base
    raise ProcessStartError(f"no block of {count} free ports found on {host}")
