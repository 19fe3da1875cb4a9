"""The running emulator's shared state (`Emulator`) and its start-up sequence.

`Emulator.open` is the one place that turns a data directory + config into a ready service: data dir, hardware
root key, database + migrations, plane start hooks, config applied in one transaction. The HTTP app
(`hsm_emulator.app.create_app`), the CLI and in-process tests all build on it.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from hsm_emulator.config import EmulatorConfig
from hsm_emulator.plane import Plane
from hsm_emulator.settings import Settings
from hsm_emulator.storage import Database, load_or_create_hardware_root_key

logger = logging.getLogger(__name__)

# Order matters: config is applied in this order (the directory before the ARM role assignments that name its
# principals). A module that does not exist yet is skipped, so the parts can be developed independently.
PLANE_MODULES = (
    "hsm_emulator.identity.plane",
    "hsm_emulator.management.plane",
    "hsm_emulator.dataplane.plane",
    "hsm_emulator.securitydomain.plane",
)

ComponentT = TypeVar("ComponentT")


def discover_planes(module_names: Sequence[str] = PLANE_MODULES) -> list[Plane]:
    """Import each plane module and take its `PLANE`; an absent module is skipped, a broken one is an error."""
    planes: list[Plane] = []
    for name in module_names:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and name.startswith(exc.name):
                logger.debug("plane module %s not present, skipped", name)
                continue
            raise
        plane = getattr(module, "PLANE", None)
        if not isinstance(plane, Plane):
            raise TypeError(f"{name}.PLANE must be a hsm_emulator.plane.Plane, got {type(plane).__name__}")
        planes.append(plane)
    return planes


class Emulator:
    """Everything a request handler may need: settings, config, database, root key, clock, components."""

    def __init__(
        self,
        *,
        settings: Settings,
        config: EmulatorConfig,
        database: Database,
        hardware_root_key: bytes,
        planes: Sequence[Plane],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.config = config
        self.db = database
        self.hardware_root_key = hardware_root_key
        self.planes = tuple(planes)
        self.clock = clock
        self._components: dict[type[Any], Any] = {}

    @classmethod
    def open(
        cls,
        settings: Settings,
        config: EmulatorConfig,
        *,
        planes: Sequence[Plane] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> Emulator:
        """Prepare the data directory and apply the config. Raises ConfigError (exit 2) for config a plane refuses."""
        settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if planes is None:
            planes = discover_planes()
        root_key = load_or_create_hardware_root_key(settings.data_dir)
        database = Database.open(settings.data_dir)
        try:
            database.migrate(m for plane in planes for m in plane.migrations)
            emulator = cls(
                settings=settings,
                config=config,
                database=database,
                hardware_root_key=root_key,
                planes=planes,
                clock=clock,
            )
            for plane in planes:
                if plane.start is not None:
                    plane.start(emulator)
            with database.transaction() as tx:
                for plane in planes:
                    if plane.apply_config is not None:
                        plane.apply_config(emulator, tx, config)
        except BaseException:
            database.close()
            raise
        return emulator

    def close(self) -> None:
        self.db.close()

    def now(self) -> int:
        """Current Unix time in whole seconds (token and key timestamps are integers on the wire)."""
        return int(self.clock())

    def provide(self, component: object) -> None:
        """Register a shared component (one per type), e.g. identity's signing keys."""
        self._components[type(component)] = component

    def require(self, kind: type[ComponentT]) -> ComponentT:
        component = self._components.get(kind)
        if component is None:
            raise LookupError(f"no {kind.__name__} registered; is its plane installed?")
        assert isinstance(component, kind)
        return component
