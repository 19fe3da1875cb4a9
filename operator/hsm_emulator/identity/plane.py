"""Plugs identity into the emulator: tables, signing keys, config bootstrap, token/discovery and Graph routes."""

from __future__ import annotations

from hsm_emulator.identity import federation, signing_keys
from hsm_emulator.identity.bootstrap import apply_directory_config
from hsm_emulator.identity.graph import router as graph_router
from hsm_emulator.identity.schema import MIGRATIONS
from hsm_emulator.identity.token_endpoint import router as token_router
from hsm_emulator.plane import Plane
from hsm_emulator.runtime import Emulator


def _start(emulator: Emulator) -> None:
    with emulator.db.transaction() as tx:
        keys = signing_keys.load_or_create(tx, emulator.hardware_root_key, emulator.now())
    emulator.provide(keys)
    emulator.provide(federation.JwksCache(emulator.settings))


PLANE = Plane(
    name="identity",
    migrations=MIGRATIONS,
    main_routers=(token_router, graph_router),
    start=_start,
    apply_config=apply_directory_config,
)
