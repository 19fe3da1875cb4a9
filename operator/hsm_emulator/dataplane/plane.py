"""The data plane as a part of the emulator process: its tables and the router of every HSM port."""

from __future__ import annotations

from hsm_emulator.dataplane import (
    backup,
    hsm_state,
    jobs,
    key_release,
    keys_store,
    rbac_store,
    recovery,
    restore_jobs,
    routes,
    settings_service,
)
from hsm_emulator.plane import Plane

# Full backup/restore and security-domain recovery (issue 5) register their routes on routes.router when imported;
# their jobs need a runner (start) that is stopped with the server (lifespan).
_ISSUE5_ROUTE_MODULES = (backup, restore_jobs, recovery)

PLANE = Plane(
    name="dataplane",
    migrations=(
        *keys_store.MIGRATIONS,
        *rbac_store.MIGRATIONS,
        *hsm_state.MIGRATIONS,
        *settings_service.MIGRATIONS,
        *jobs.MIGRATIONS,
        *recovery.MIGRATIONS,
        *key_release.MIGRATIONS,
    ),
    hsm_routers=(routes.router,),
    start=jobs.start,
    lifespan=jobs.lifespan,
)
