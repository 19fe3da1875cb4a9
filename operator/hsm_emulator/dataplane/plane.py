"""The data plane as a part of the emulator process: its tables and the router of every HSM port."""

from __future__ import annotations

from hsm_emulator.dataplane import hsm_state, keys_store, rbac_store, routes, settings_service
from hsm_emulator.plane import Plane

PLANE = Plane(
    name="dataplane",
    migrations=(
        *keys_store.MIGRATIONS,
        *rbac_store.MIGRATIONS,
        *hsm_state.MIGRATIONS,
        *settings_service.MIGRATIONS,
    ),
    hsm_routers=(routes.router,),
)
