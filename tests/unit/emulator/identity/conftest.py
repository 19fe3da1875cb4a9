"""In-process emulator for identity unit tests: the real app over httpx's ASGI transport (no sockets).

The app is built with the identity plane plus a tiny probe plane whose endpoints only call `authenticate()` for
each audience, so token checks are tested exactly as the planes will use them.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from hsm_devtools.emulator_process import StandardDirectory, standard_directory
from hsm_emulator.app import create_app
from hsm_emulator.config import parse_config
from hsm_emulator.identity import ARM, DATA_PLANE, GRAPH, authenticate
from hsm_emulator.identity.plane import PLANE as IDENTITY
from hsm_emulator.identity.signing_keys import SigningKeys
from hsm_emulator.plane import Plane
from hsm_emulator.runtime import Emulator
from hsm_emulator.settings import Settings

MAIN = "https://127.0.0.1:8443"
HSM = "https://127.0.0.1:8444"

probe_router = APIRouter()
hsm_probe_router = APIRouter()


def _principal_json(request: Request, audience: Any, tenant_id: str | None = None) -> JSONResponse:
    principal = authenticate(request, audience, tenant_id=tenant_id)
    return JSONResponse(
        {
            "object_id": principal.object_id,
            "tenant_id": principal.tenant_id,
            "kind": principal.kind,
            "app_id": principal.app_id,
            "group_ids": sorted(principal.group_ids),
            "is_global_admin": principal.is_global_admin,
        }
    )


@probe_router.get("/probe/arm")
def arm_probe(request: Request, tenant: str | None = None) -> JSONResponse:
    return _principal_json(request, ARM, tenant)


@probe_router.get("/probe/graph")
def graph_probe(request: Request) -> JSONResponse:
    return _principal_json(request, GRAPH)


@hsm_probe_router.get("/probe/hsm")
def hsm_probe(request: Request, tenant: str) -> JSONResponse:
    return _principal_json(request, DATA_PLANE, tenant)


PROBE = Plane(name="probe", main_routers=(probe_router,), hsm_routers=(hsm_probe_router,))


class Clock:
    """A settable clock so expiry can be tested without sleeping."""

    def __init__(self, now: float = 1_800_000_000) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class InProcess:
    emulator: Emulator
    client: httpx.AsyncClient
    directory: StandardDirectory
    clock: Clock

    async def token(self, name: str, audience: str = "https://managedhsm.azure.net") -> str:
        sp = self.directory.sp(name)
        response = await self.client.post(
            f"/{sp.tenant_id}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": sp.app_id,
                "client_secret": sp.secret,
                "scope": f"{audience.rstrip('/')}/.default",
            },
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    async def admin_token(self, audience: str = "https://graph.microsoft.com") -> str:
        response = await self.client.post(
            f"/{self.directory.tenant_id}/oauth2/v2.0/token",
            data={
                "grant_type": "password",
                "client_id": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
                "username": self.directory.admin_user,
                "password": self.directory.admin_password,
                "scope": f"{audience}/.default",
            },
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def forge(self, claims: dict[str, Any], **header: Any) -> str:
        """Sign arbitrary claims with the emulator's real signing key (for claim-level negative tests)."""
        key = self.emulator.require(SigningKeys).active
        return jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.kid, **header})

    def claims_for(self, name: str, audience: str = "https://managedhsm.azure.net", **overrides: Any) -> dict[str, Any]:
        sp = self.directory.sp(name)
        now = int(self.clock.now)
        claims = {
            "aud": audience,
            "iss": f"{MAIN}/{sp.tenant_id}/v2.0",
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "tid": sp.tenant_id,
            "oid": sp.object_id,
            "sub": sp.object_id,
            "appid": sp.app_id,
            "groups": [],
            "ver": "2.0",
            "idtyp": "app",
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}


def open_emulator(data_dir: Path, config: dict[str, Any], clock: Clock) -> Emulator:
    parsed = parse_config(config)
    settings = Settings.resolve(data_dir=data_dir, config=parsed, port=8443)
    return Emulator.open(settings, parsed, planes=[IDENTITY, PROBE], clock=clock)


@pytest.fixture
def directory() -> StandardDirectory:
    return standard_directory()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="session")
def template_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory initialised once (schema, signing key, directory); each test gets a copy of it."""
    data_dir = tmp_path_factory.mktemp("identity-template") / "data"
    open_emulator(data_dir, standard_directory().config(), Clock()).close()
    return data_dir


@pytest.fixture
def emulator_state(
    tmp_path: Path, template_data_dir: Path, directory: StandardDirectory, clock: Clock
) -> Iterator[Emulator]:
    data_dir = tmp_path / "data"
    shutil.copytree(template_data_dir, data_dir)
    emulator = open_emulator(data_dir, directory.config(), clock)
    yield emulator
    emulator.close()


@pytest.fixture
async def inproc(emulator_state: Emulator, directory: StandardDirectory, clock: Clock) -> AsyncIterator[InProcess]:
    transport = httpx.ASGITransport(app=create_app(emulator_state))
    async with httpx.AsyncClient(transport=transport, base_url=MAIN) as client:
        yield InProcess(emulator_state, client, directory, clock)
