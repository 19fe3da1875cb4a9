"""One data-plane request after the common gate: the HSM, the authenticated caller, and helpers for handlers.

The gate runs in this order for every request on an HSM port: api-version -> HSM bound to the port (404) ->
authentication with the HSM's tenant (401 challenge, before any body is read) -> the HSM's data-plane state
(master key, initial administrators) -> activation (only security-domain download works before it). Handlers then
call :meth:`Call.authorize` first, and only then read their body.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from fastapi import Request
from pydantic import BaseModel

from hsm_emulator.dataplane import errors, hsm_state, protocol, rbac_service
from hsm_emulator.dataplane.hsm_context import HsmContext
from hsm_emulator.errors import AzureError, NotFound, read_json_body
from hsm_emulator.identity import DATA_PLANE, Principal, authenticate
from hsm_emulator.management import service as management
from hsm_emulator.runtime import Emulator
from hsm_emulator.storage import Database

ModelT = TypeVar("ModelT", bound=BaseModel)


@dataclass
class Call:
    request: Request
    emulator: Emulator
    hsm: HsmContext
    principal: Principal
    api_version: str
    path: str
    activated: bool

    @property
    def db(self) -> Database:
        return self.emulator.db

    def now(self) -> int:
        return self.emulator.now()

    def authorize(self, data_action: str, scope: str) -> None:
        with self.db.read() as tx:
            rbac_service.authorize(tx, self.hsm, self.principal, data_action, scope)

    async def body(self, model: type[ModelT]) -> ModelT:
        return await read_json_body(self.request, model)

    def query(self, name: str) -> str | None:
        return self.request.query_params.get(name)

    def maxresults(self) -> int | None:
        raw = self.query("maxresults")
        if raw is None:
            return None
        try:
            return int(raw)
        except ValueError:
            raise errors.bad_parameter(f"Invalid maxresults value: {raw}. The value must be an integer.") from None


def not_activated(name: str) -> AzureError:
    return errors.forbidden(
        f"The Managed HSM {name} is not activated: download its security domain (POST /securitydomain/download) "
        "to activate it.",
        "HsmNotActivated",
    )


def open_call(request: Request, emulator: Emulator, path: str) -> Call:
    api_version = protocol.check_api_version(request.query_params.get("api-version"))
    port = int(request.scope["server"][1])
    record = management.get_hsm_by_port(emulator.db, port, emulator.clock())
    if record is None:
        raise NotFound(f"No Managed HSM is served at port {port}.", code="NotFound")
    principal = authenticate(request, DATA_PLANE, tenant_id=record.tenant_id)
    with emulator.db.transaction() as tx:
        state = hsm_state.ensure(tx, emulator.hardware_root_key, record.id, record.initial_admin_object_ids)
    host = emulator.settings.advertised_host
    hsm = HsmContext(
        id=record.id,
        name=record.name,
        tenant_id=record.tenant_id,
        base_url=f"https://{host}:{port}",
        retention_days=record.soft_delete_retention_days,
        purge_protection=record.purge_protection,
        master_key=state.master_key,
    )
    activated = record.activation_status == management.ActivationStatus.ACTIVE
    return Call(request, emulator, hsm, principal, api_version, path, activated)
