"""Emulator core in-process: storage transactions and migrations, the root key, error rendering, port routing."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, Request
from pydantic import BaseModel

from hsm_emulator.app import create_app, local_port
from hsm_emulator.config import parse_config
from hsm_emulator.errors import Conflict, read_json_body
from hsm_emulator.plane import Plane
from hsm_emulator.runtime import Emulator
from hsm_emulator.settings import Settings
from hsm_emulator.storage import Database, Migration, load_or_create_hardware_root_key
from hsm_emulator.storage.root_key import RootKeyError

MIGRATION_1 = Migration("test", 1, ("CREATE TABLE things (name TEXT PRIMARY KEY, size INTEGER NOT NULL)",))
MIGRATION_2 = Migration("test", 2, ("ALTER TABLE things ADD COLUMN colour TEXT",))


def test_transactions_commit_or_roll_back_as_a_whole(tmp_path: Path) -> None:
    db = Database.open(tmp_path)
    db.migrate([MIGRATION_1])
    with db.transaction() as tx:
        tx.execute("INSERT INTO things VALUES ('a', 1)")

    def write_then_fail() -> None:
        with db.transaction() as tx:
            tx.execute("INSERT INTO things VALUES ('b', 2)")
            with db.transaction() as inner:  # nested: joins the outer transaction
                inner.execute("INSERT INTO things VALUES ('c', 3)")
            raise RuntimeError("abort")

    with pytest.raises(RuntimeError):
        write_then_fail()
    with db.read() as tx:
        assert [r["name"] for r in tx.all("SELECT name FROM things ORDER BY name")] == ["a"]
    assert db.path.name == "emulator.db"
    with db.read() as tx:
        assert tx.one("PRAGMA journal_mode")[0] == "wal"
        assert tx.one("PRAGMA synchronous")[0] == 2  # FULL
        assert tx.one("PRAGMA foreign_keys")[0] == 1
    db.close()


def test_migrations_apply_once_and_upgrade_in_place(tmp_path: Path) -> None:
    db = Database.open(tmp_path)
    assert db.migrate([MIGRATION_1]) == [MIGRATION_1]
    db.close()
    db = Database.open(tmp_path)
    assert db.migrate([MIGRATION_1, MIGRATION_2]) == [MIGRATION_2]
    assert db.migrate([MIGRATION_1, MIGRATION_2]) == []
    assert db.schema_versions() == {"test": 2}
    with pytest.raises(ValueError, match="duplicate migration"):
        db.migrate([MIGRATION_1, MIGRATION_1])
    db.close()


def test_concurrent_writers_from_threads_are_serialised(tmp_path: Path) -> None:
    db = Database.open(tmp_path)
    db.migrate([MIGRATION_1])
    with db.transaction() as tx:
        tx.execute("INSERT INTO things VALUES ('counter', 0)")

    def bump() -> None:
        for _ in range(50):
            with db.transaction() as tx:
                value = tx.one("SELECT size FROM things WHERE name = 'counter'")["size"]  # type: ignore[index]
                tx.execute("UPDATE things SET size = ? WHERE name = 'counter'", (value + 1,))

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with db.read() as tx:
        assert tx.one("SELECT size FROM things")["size"] == 200  # type: ignore[index]
    db.close()


def test_hardware_root_key_is_created_once_private_and_checked(tmp_path: Path) -> None:
    key = load_or_create_hardware_root_key(tmp_path)
    path = tmp_path / "hardware-root.key"
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_hardware_root_key(tmp_path) == key
    os.chmod(path, 0o644)
    with pytest.raises(RootKeyError, match="chmod 600"):
        load_or_create_hardware_root_key(tmp_path)
    os.chmod(path, 0o600)
    path.write_bytes(b"short")
    with pytest.raises(RootKeyError, match="exactly 32 bytes"):
        load_or_create_hardware_root_key(tmp_path)


class Widget(BaseModel):
    name: str
    size: int


router = APIRouter()
hsm_router = APIRouter()


@router.post("/subscriptions/{sub}/widgets")
async def create_widget(request: Request) -> dict[str, object]:
    widget = await read_json_body(request, Widget)
    return {"name": widget.name, "port": local_port(request)}


@router.get("/subscriptions/{sub}/typed")
def typed_query(count: int) -> dict[str, int]:
    return {"count": count}


@router.get("/boom")
def boom() -> None:
    raise ZeroDivisionError("bug")


@hsm_router.post("/keys/{name}/create")
async def hsm_create(request: Request) -> dict[str, object]:
    await read_json_body(request, Widget)
    raise Conflict("Key k is currently in a deleted but recoverable state.", inner_code="ObjectIsDeletedButRecoverable")


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    config = parse_config({})
    settings = Settings.resolve(data_dir=tmp_path / "data", config=config, port=8443)
    emulator = Emulator.open(
        settings, config, planes=[Plane("test", main_routers=(router,), hsm_routers=(hsm_router,))]
    )
    transport = httpx.ASGITransport(app=create_app(emulator), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="https://127.0.0.1:8443") as http:
        yield http
    emulator.close()


async def test_requests_are_routed_by_local_port(client: httpx.AsyncClient) -> None:
    response = await client.post("/subscriptions/s/widgets", json={"name": "w", "size": 1})
    assert response.json() == {"name": "w", "port": 8443}
    assert (await client.get("https://127.0.0.1:8444/healthz")).status_code == 404  # HSM port: data plane only
    response = await client.post("https://127.0.0.1:8444/keys/k/create", json={"name": "w", "size": 1})
    assert response.status_code == 409
    assert response.json() == {
        "error": {
            "code": "Conflict",
            "message": "Key k is currently in a deleted but recoverable state.",
            "innererror": {"code": "ObjectIsDeletedButRecoverable"},
        }
    }


@pytest.mark.parametrize(
    ("url", "body", "status", "code", "fragment"),
    [
        ("/subscriptions/s/widgets", b'{"name": "w"}', 400, "InvalidRequestContent", "size: field required"),
        ("/subscriptions/s/widgets", b"{oops", 400, "InvalidRequestContent", "not valid JSON"),
        ("/subscriptions/s/widgets", b"", 400, "InvalidRequestContent", "missing"),
        ("https://127.0.0.1:8444/keys/k/create", b'{"name": 1, "size": 1}', 400, "BadParameter", "name:"),
        ("/nowhere", b"{}", 404, "NotFound", "/nowhere"),
        ("/healthz", b"{}", 405, "MethodNotAllowed", "POST"),
    ],
)
async def test_errors_render_in_azure_shape(
    client: httpx.AsyncClient, url: str, body: bytes, status: int, code: str, fragment: str
) -> None:
    response = await client.post(url, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    assert fragment in error["message"]


async def test_fastapi_validation_errors_are_400_not_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/subscriptions/s/typed", params={"count": "many"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "InvalidRequestContent"
    assert "count" in response.json()["error"]["message"]


async def test_unexpected_exceptions_are_500_internal_error(client: httpx.AsyncClient) -> None:
    response = await client.get("/boom")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "InternalError"
    assert "ZeroDivisionError" not in response.text
