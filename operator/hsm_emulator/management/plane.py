"""Plugs the management plane into the emulator: its tables, its ARM routes, its config section, its settings.

`HSM_EMULATOR_PROVISIONING_SECONDS` (default 0.3) sets how long a create/update/delete stays in progress, and
`HSM_EMULATOR_ARM_RETRY_AFTER` (default 1) the `Retry-After` seconds the pollers are told; both exist so tests and
demos can choose between "pollers really poll" and speed.
"""

from __future__ import annotations

import os

from hsm_emulator.config import EmulatorConfig
from hsm_emulator.management import bootstrap, routes_authorization, routes_hsm, routes_resources, service, store
from hsm_emulator.management.dispatch import RouteTable, build_router
from hsm_emulator.plane import Plane
from hsm_emulator.runtime import Emulator
from hsm_emulator.storage import Transaction


def _start(emulator: Emulator) -> None:
    emulator.provide(
        service.ManagementSettings(
            advertised_host=emulator.settings.advertised_host,
            hsm_ports=tuple(emulator.settings.hsm_ports),
            provisioning_seconds=float(os.environ.get("HSM_EMULATOR_PROVISIONING_SECONDS", "0.3")),
            retry_after_seconds=int(os.environ.get("HSM_EMULATOR_ARM_RETRY_AFTER", "1")),
        )
    )


def _apply_config(emulator: Emulator, tx: Transaction, config: EmulatorConfig) -> None:
    bootstrap.apply_bootstrap(tx, config, emulator.clock())


def _routes() -> RouteTable:
    table = RouteTable()
    routes_hsm.register(table)
    routes_resources.register(table)
    routes_authorization.register(table)
    return table


PLANE = Plane(
    name="management",
    migrations=store.MIGRATIONS,
    main_routers=(build_router(_routes()),),
    start=_start,
    apply_config=_apply_config,
)
