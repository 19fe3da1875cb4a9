"""How a part of the emulator (identity, management plane, data plane, ...) plugs into the process.

Each part exposes one `PLANE = Plane(...)` in its `plane` module (e.g. `hsm_emulator.management.plane`) and is
listed in `hsm_emulator.runtime.PLANE_MODULES`. At start the runtime applies every plane's migrations, calls its
`start` hook, applies the config through every plane's `apply_config` in ONE transaction (so a config refused by
a later plane leaves nothing half-written), then mounts its routers: `main_routers` on the main port (identity,
ARM, Graph, /healthz), `hsm_routers` on every HSM port (the data plane; which HSM is `local_port(request)`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import APIRouter

from hsm_emulator.config import EmulatorConfig
from hsm_emulator.storage import Migration, Transaction

if TYPE_CHECKING:
    from hsm_emulator.runtime import Emulator


@dataclass(frozen=True)
class Plane:
    """A pluggable part of the emulator. Every hook is optional.

    - `migrations`: the part's tables (see `hsm_emulator.storage.schema`).
    - `start(emulator)`: synchronous set-up after migrations (load keys, register components with
      `emulator.provide(obj)`); runs before `apply_config` of any plane.
    - `apply_config(emulator, tx, config)`: upsert the config's objects; raise `ConfigError(field, message)` for a
      value only this plane can judge (e.g. an unknown role name): the process exits 2 and nothing is written.
    - `lifespan(emulator)`: an async context manager entered while the server runs (background workers).
    """

    name: str
    migrations: Sequence[Migration] = ()
    main_routers: Sequence[APIRouter] = ()
    hsm_routers: Sequence[APIRouter] = ()
    start: Callable[[Emulator], None] | None = None
    apply_config: Callable[[Emulator, Transaction, EmulatorConfig], None] | None = None
    lifespan: Callable[[Emulator], AbstractAsyncContextManager[None]] | None = None
