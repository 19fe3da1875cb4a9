"""A full disk is a clean, retryable 503 in each surface's shape, never a 500 or a wedged connection.

SQLite reports SQLITE_FULL ("database or disk is full") both when the disk is full and when the database reaches
`PRAGMA max_page_count`; the second makes the condition without a small filesystem (the real full disk is
exercised by tests/reliability/test_disk_full.py). Regression: a full disk used to answer 500 InternalError.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, Request

from hsm_emulator.app import create_app
from hsm_emulator.config import parse_config
from hsm_emulator.plane import Plane
from hsm_emulator.runtime import Emulator
from hsm_emulator.settings import Settings
from hsm_emulator.storage import Database, Migration, StorageFull

BLOBS = Migration("storage-full-test", 1, ("CREATE TABLE blobs (name TEXT PRIMARY KEY, data BLOB NOT NULL)",))
BIG = b"x" * 64 * 1024  # many pages: more than a capped database can take


def _cap(db: Database, extra_pages: int) -> None:
    """Let the database grow by at most `extra_pages` pages from now on."""
    with db.read() as tx:
        pages = int(tx.one("PRAGMA page_count")[0])
        tx.execute(f"PRAGMA max_page_count = {pages + extra_pages}")


def test_full_database_rolls_back_and_recovers(tmp_path: Path) -> None:
    db = Database.open(tmp_path)
    db.migrate([BLOBS])
    with db.transaction() as tx:
        tx.execute("INSERT INTO blobs VALUES ('kept', x'00')")
    _cap(db, 2)

    def write_small_then_big() -> None:
        with db.transaction() as tx:
            tx.execute("INSERT INTO blobs VALUES ('small', x'01')")
            tx.execute("INSERT INTO blobs VALUES ('big', ?)", (BIG,))

    with pytest.raises(StorageFull, match="database or disk is full"):
        write_small_then_big()
    with db.read() as tx:  # the whole transaction is gone, earlier data is intact
        assert [row["name"] for row in tx.all("SELECT name FROM blobs")] == ["kept"]
    with db.transaction() as tx:  # the connection is not left inside a transaction
        tx.execute("INSERT INTO blobs VALUES ('tiny', x'02')")
    _cap(db, 10_000)  # space returns
    with db.transaction() as tx:
        tx.execute("INSERT INTO blobs VALUES ('big', ?)", (BIG,))
    with db.read() as tx:
        assert sorted(row["name"] for row in tx.all("SELECT name FROM blobs")) == ["big", "kept", "tiny"]
        assert tx.one("PRAGMA integrity_check")[0] == "ok"
    db.close()


def test_other_database_errors_are_not_reported_as_full(tmp_path: Path) -> None:
    db = Database.open(tmp_path)
    db.migrate([BLOBS])

    def insert_twice() -> None:
        with db.transaction() as tx:
            tx.execute("INSERT INTO blobs VALUES ('a', x'00')")
            tx.execute("INSERT INTO blobs VALUES ('a', x'00')")

    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE constraint"):
        insert_twice()
    db.close()


router = APIRouter()
hsm_router = APIRouter()


def _write_big(request: Request) -> dict[str, str]:
    emulator: Emulator = request.app.state.emulator
    with emulator.db.transaction() as tx:
        tx.execute("INSERT OR REPLACE INTO blobs VALUES ('big', ?)", (BIG,))
    return {"stored": "big"}


@router.put("/subscriptions/s/blob")
def arm_write(request: Request) -> dict[str, str]:
    return _write_big(request)


@router.post("/v1.0/users")
def graph_write(request: Request) -> dict[str, str]:
    return _write_big(request)


@router.post("/tenant/oauth2/v2.0/token")
def token_write(request: Request) -> dict[str, str]:
    return _write_big(request)


@hsm_router.post("/keys/k/create")
def hsm_write(request: Request) -> dict[str, str]:
    return _write_big(request)


@pytest.fixture
async def full(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Emulator]]:
    config = parse_config({})
    settings = Settings.resolve(data_dir=tmp_path / "data", config=config, port=8443)
    plane = Plane("storage-full-test", migrations=(BLOBS,), main_routers=(router,), hsm_routers=(hsm_router,))
    emulator = Emulator.open(settings, config, planes=[plane])
    _cap(emulator.db, 2)
    transport = httpx.ASGITransport(app=create_app(emulator), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="https://127.0.0.1:8443") as http:
        yield http, emulator
    emulator.close()


@pytest.mark.parametrize(
    ("method", "url", "code"),
    [
        ("POST", "https://127.0.0.1:8444/keys/k/create", "ServiceUnavailable"),
        ("PUT", "/subscriptions/s/blob", "ServiceUnavailable"),
        ("POST", "/v1.0/users", "serviceNotAvailable"),
        ("POST", "/tenant/oauth2/v2.0/token", "temporarily_unavailable"),
    ],
    ids=["data-plane", "arm", "graph", "token-endpoint"],
)
async def test_full_disk_is_503_in_the_surface_shape(
    full: tuple[httpx.AsyncClient, Emulator], method: str, url: str, code: str
) -> None:
    client, emulator = full
    response = await client.request(method, url)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "storage is full" in response.text
    body = response.json()
    if code == "temporarily_unavailable":  # Entra's token endpoint shape
        assert body["error"] == code
        assert body["error_codes"] == [90033]
    elif code == "serviceNotAvailable":  # Microsoft Graph's shape
        assert body["error"]["code"] == code
    else:  # the Azure envelope of ARM and the HSM data plane
        assert body["error"]["code"] == code
        assert body["error"]["innererror"] == {"code": "StorageFull"}
    _cap(emulator.db, 10_000)  # space returns: the same request succeeds
    assert (await client.request(method, url)).status_code == 200
