"""The access-control proof: every built-in local RBAC role x every data action x assignment scope, decided by the
running emulator and asked through the official SDKs; written as docs/access-control-matrix.md.

    python -m hsm_devtools.access_matrix [--output docs/access-control-matrix.md] [--check]

One emulator process (its own temporary state), one activated HSM with a key `target`. The built-in roles are
read from the HSM (`list_role_definitions`, type AKVBuiltInRole); each role is assigned to its own service
principal at each of the scopes `/`, `/keys`, `/keys/target` and `/keys/other`, and every principal then makes one
call per data action, all concurrently. Key-level calls name the key `target`; HSM-level calls name no key. A call
answered 403 is **denied**; any other answer (success, or a 4xx about the request itself such as 404/409/400,
which the service gives only after the caller passed authorization) is **allowed**; a 401 or 5xx aborts the run.
Calls that would change shared state on success are built to fail after authorization (a missing role definition,
a storage URL that is not one) or, for deletes, run one at a time and are undone.
tests/integration/emulator/test_access_matrix.py checks the decisions against an expected table written from
AZURE-API.md section 4 and that the committed document is current (`--check` does the latter from the shell).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest
from azure.identity import ClientSecretCredential
from azure.identity.aio import ClientSecretCredential as AsyncClientSecretCredential
from azure.keyvault.administration import KeyVaultAccessControlClient, KeyVaultDataAction, KeyVaultPermission
from azure.keyvault.administration.aio import KeyVaultAccessControlClient as AsyncAccessControlClient
from azure.keyvault.keys import JsonWebKey, KeyClient
from azure.keyvault.keys.aio import KeyClient as AsyncKeyClient
from azure.keyvault.securitydomain import SecurityDomainClient
from azure.keyvault.securitydomain.aio import SecurityDomainClient as AsyncSecurityDomainClient
from azure.mgmt.keyvault import KeyVaultManagementClient
from cryptography.hazmat.primitives.asymmetric import rsa

from hsm_devtools import security_officers
from hsm_devtools.emulator_process import EmulatorProcess, StandardDirectory, stable_id, standard_directory

SCOPES = ("/", "/keys", "/keys/target", "/keys/other")
TARGET = "target"
PREFIX = "Microsoft.KeyVault/managedHsm/"
MAX_ROLES = 12
CRYPTO_USER = "21dbd100-6940-42c2-9190-5d6cb909625b"
CRYPTO_OFFICER = "515eb02d-2335-4d2d-92f2-b1cbdf9c3778"
AUDITOR = "2c18b078-7c48-4d3a-af88-5a3a1b3f82b3"
PROBE_ASSIGNMENT = stable_id("matrix:probe-assignment")
DEFAULT_OUTPUT = Path("docs/access-control-matrix.md")
API = "7.6"
# Data actions with no stable REST operation to call (AZURE-API.md section 1): listed in the document, not probed.
UNCALLABLE = ("keys/export/action", "keys/derive/action")

Decision = bool  # True: allowed


@dataclass(frozen=True)
class Role:
    guid: str
    name: str


@dataclass(frozen=True)
class Matrix:
    roles: tuple[Role, ...]
    actions: tuple[str, ...]
    decisions: dict[tuple[str, str, str], Decision]  # (role guid, scope, short action) -> allowed


def principal_name(slot: int) -> str:
    return f"matrix-{slot:02d}"


def _principal(directory: StandardDirectory, slot: int) -> dict[str, str]:
    name = principal_name(slot)
    return {
        "objectId": stable_id(f"sp:{name}:object"),
        "appId": stable_id(f"sp:{name}:app"),
        "displayName": name,
        "clientSecret": f"{name}-secret",
    }


def matrix_config(directory: StandardDirectory) -> dict[str, Any]:
    """The standard directory plus one service principal per (role, scope) slot."""
    config = directory.config()
    config["tenants"][0]["servicePrincipals"].extend(
        _principal(directory, slot) for slot in range(MAX_ROLES * len(SCOPES))
    )
    return config


# ---- setup (sync SDK) --------------------------------------------------------------------------------------------


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _certificate_jwk(index: int) -> dict[str, Any]:
    return security_officers.certificate_jwk(f"matrix-sd-{index}")


class Session:
    """The running emulator and its activated HSM, with SDK clients for any principal of the directory (also used
    by bench/bench_load.py)."""

    def __init__(self, process: EmulatorProcess, directory: StandardDirectory) -> None:
        self.process = process
        self.directory = directory
        self.ca = str(process.ca_file)
        self.hsm_uri = ""

    def _secret(self, name: str) -> tuple[str, str, str]:
        if name.startswith("matrix-"):
            return self.directory.tenant_id, stable_id(f"sp:{name}:app"), f"{name}-secret"
        sp = self.directory.sp(name)
        return sp.tenant_id, sp.app_id, sp.secret

    def credential(self, name: str) -> ClientSecretCredential:
        tenant, app, secret = self._secret(name)
        return ClientSecretCredential(
            tenant, app, secret, authority=self.process.url, disable_instance_discovery=True, connection_verify=self.ca
        )

    def async_credential(self, name: str) -> AsyncClientSecretCredential:
        tenant, app, secret = self._secret(name)
        return AsyncClientSecretCredential(
            tenant, app, secret, authority=self.process.url, disable_instance_discovery=True, connection_verify=self.ca
        )

    def options(self) -> dict[str, Any]:
        return {"verify_challenge_resource": False, "connection_verify": self.ca}

    def create_hsm(self, name: str = "matrix-hsm") -> None:
        """Create the HSM in rg-one (administrator hsm-admin) and activate it with a security-domain download."""
        management = KeyVaultManagementClient(
            self.credential("sub-owner"),
            self.directory.subscription_id,
            base_url=self.process.url,
            credential_scopes=["https://management.azure.com/.default"],
            connection_verify=self.ca,
            polling_interval=0.05,
        )
        body: Any = {
            "location": self.directory.location,
            "sku": {"family": "B", "name": "Standard_B1"},
            "properties": {
                "tenantId": self.directory.tenant_id,
                "initialAdminObjectIds": [self.directory.sp("hsm-admin").object_id],
                "softDeleteRetentionInDays": 7,
            },
        }
        hsm = management.managed_hsms.begin_create_or_update("rg-one", name, body).result()
        if hsm.properties is None or not hsm.properties.hsm_uri:
            raise RuntimeError(f"the created HSM has no hsmUri: {hsm}")
        self.hsm_uri = hsm.properties.hsm_uri.rstrip("/")
        domain = SecurityDomainClient(self.hsm_uri, self.credential("hsm-admin"), **self.options())
        certificates = [_certificate_jwk(index) for index in range(3)]
        domain.begin_download({"certificates": certificates, "required": 2}, polling_interval=0.05).result()

    def access(self, name: str = "hsm-admin") -> KeyVaultAccessControlClient:
        return KeyVaultAccessControlClient(self.hsm_uri, self.credential(name), **self.options())


def _oid(slot: int) -> str:
    return stable_id(f"sp:{principal_name(slot)}:object")


# ---- probes (async SDK) ------------------------------------------------------------------------------------------


@dataclass
class Clients:
    keys: AsyncKeyClient
    access: AsyncAccessControlClient
    domain: AsyncSecurityDomainClient


Probe = Callable[[Clients], Awaitable[object]]


async def _send(clients: Clients, method: str, path: str, body: dict[str, Any] | None = None) -> None:
    """A request through the KeyClient's pipeline (challenge, token); raises HttpResponseError for any 4xx/5xx."""
    request = HttpRequest(method, f"{path}?api-version={API}", json=body)
    response = await clients.keys.send_request(request)
    response.raise_for_status()


_IMPORT_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _import_jwk() -> JsonWebKey:
    numbers = _IMPORT_KEY.private_numbers()

    def raw(value: int) -> bytes:
        return value.to_bytes((value.bit_length() + 7) // 8, "big")

    public = numbers.public_numbers
    return JsonWebKey(
        kty="RSA",
        n=raw(public.n),
        e=raw(public.e),
        d=raw(numbers.d),
        p=raw(numbers.p),
        q=raw(numbers.q),
        dp=raw(numbers.dmp1),
        dq=raw(numbers.dmq1),
        qi=raw(numbers.iqmp),
    )


_NOT_A_ROLE = f"Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/{stable_id('matrix:no-role')}"
_BAD_STORAGE = {"storageResourceUri": "not a storage url", "token": "sv=x"}
_DIGEST = _b64u(os.urandom(32))
_OAEP = {"alg": "RSA-OAEP-256", "value": _DIGEST}


def _probes(backup_blob: bytes) -> dict[str, Probe]:
    """One call per data action (short name, without the Microsoft.KeyVault/managedHsm/ prefix)."""
    return {
        "keys/read/action": lambda c: c.keys.get_key(TARGET),
        "keys/write/action": lambda c: c.keys.update_key_properties(TARGET, tags={"probe": "matrix"}),
        "keys/create": lambda c: c.keys.create_rsa_key(TARGET, size=2048),
        "keys/import/action": lambda c: c.keys.import_key(TARGET, _import_jwk()),
        "keys/backup/action": lambda c: c.keys.backup_key(TARGET),
        "keys/restore/action": lambda c: c.keys.restore_key_backup(backup_blob),
        "keys/rotate/action": lambda c: c.keys.rotate_key(TARGET),
        "keys/deletedKeys/read/action": lambda c: c.keys.get_deleted_key(TARGET),
        "keys/deletedKeys/recover/action": lambda c: c.keys.recover_deleted_key(TARGET),
        "keys/deletedKeys/delete": lambda c: c.keys.purge_deleted_key(TARGET),
        "keys/encrypt/action": lambda c: _send(
            c, "POST", f"/keys/{TARGET}/encrypt", {"alg": "RSA-OAEP-256", "value": _DIGEST}
        ),
        "keys/decrypt/action": lambda c: _send(
            c, "POST", f"/keys/{TARGET}/decrypt", {"alg": "RSA-OAEP-256", "value": _DIGEST}
        ),
        "keys/wrap/action": lambda c: _send(
            c, "POST", f"/keys/{TARGET}/wrapkey", {"alg": "RSA-OAEP-256", "value": _DIGEST}
        ),
        "keys/unwrap/action": lambda c: _send(
            c, "POST", f"/keys/{TARGET}/unwrapkey", {"alg": "RSA-OAEP-256", "value": _DIGEST}
        ),
        "keys/sign/action": lambda c: _send(c, "POST", f"/keys/{TARGET}/sign", {"alg": "RS256", "value": _DIGEST}),
        "keys/verify/action": lambda c: _send(
            c, "POST", f"/keys/{TARGET}/verify", {"alg": "RS256", "digest": _DIGEST, "value": _DIGEST}
        ),
        # The target key is not exportable: an allowed caller gets 400 (after the RBAC check), a denied one 403.
        "keys/release/action": lambda c: _send(c, "POST", f"/keys/{TARGET}/release", {"target": "not-a-jwt"}),
        "rng/action": lambda c: c.keys.get_random_bytes(16),
        "roleAssignments/read/action": lambda c: _list(c.access.list_role_assignments("/")),
        "roleAssignments/write/action": lambda c: c.access.create_role_assignment("/", _NOT_A_ROLE, _oid(0)),
        "roleDefinitions/read/action": lambda c: _list(c.access.list_role_definitions("/")),
        "roleDefinitions/write/action": lambda c: c.access.set_role_definition(
            "/",
            permissions=[KeyVaultPermission(data_actions=[KeyVaultDataAction.READ_HSM_KEY])],
            assignable_scopes=["/subscriptions/not-an-hsm-scope"],
        ),
        "roleDefinitions/delete/action": lambda c: c.access.delete_role_definition("/", stable_id("matrix:no-role")),
        "securitydomain/download/action": lambda c: _send(c, "POST", "/securitydomain/download", {"certificates": []}),
        "securitydomain/download/read": lambda c: c.domain.get_download_status(),
        "securitydomain/upload/action": lambda c: _send(c, "POST", "/securitydomain/upload", {"value": 1}),
        "securitydomain/upload/read": lambda c: c.domain.get_upload_status(),
        "securitydomain/transferkey/read": lambda c: c.domain.get_transfer_key(),
        "backup/start/action": lambda c: _send(c, "POST", "/backup", _BAD_STORAGE),
        "backup/status/action": lambda c: _send(c, "GET", "/backup/no-such-job/pending"),
        "restore/start/action": lambda c: _send(
            c, "PUT", "/restore", {"sasTokenParameters": _BAD_STORAGE, "folderToRestore": "x"}
        ),
        "restore/status/action": lambda c: _send(c, "GET", "/restore/no-such-job/pending"),
    }


async def _list(pager: Any) -> list[object]:
    return [item async for item in pager]


# Deletes succeed when allowed: run one principal at a time and undo each success before the next call.
SEQUENTIAL = ("keys/delete", "roleAssignments/delete/action")


async def _decide(probe: Probe, clients: Clients, label: str) -> Decision:
    try:
        await probe(clients)
    except HttpResponseError as error:
        if error.status_code == 403:
            return False
        if error.status_code is None or error.status_code == 401 or error.status_code >= 500:
            raise RuntimeError(f"{label}: unexpected {error.status_code}: {error.message}") from error
    return True


async def collect(session: Session) -> Matrix:
    """Assign every built-in role at every scope, then ask the emulator for every decision."""
    admin = session.access()
    roles = tuple(
        sorted(
            (
                Role(str(d.name), str(d.role_name))
                for d in admin.list_role_definitions("/")
                if getattr(d.role_type, "value", d.role_type) == "AKVBuiltInRole"  # an str enum: compare by value
            ),
            key=lambda role: role.name,
        )
    )
    if len(roles) > MAX_ROLES:
        raise RuntimeError(f"{len(roles)} built-in roles but only {MAX_ROLES} principal slots per scope")
    admin_oid = session.directory.sp("hsm-admin").object_id
    for key_role in (CRYPTO_USER, CRYPTO_OFFICER):
        admin.create_role_assignment("/", key_role, admin_oid)
    slots: dict[tuple[str, str], int] = {}
    for role_index, role in enumerate(roles):
        for scope_index, scope in enumerate(SCOPES):
            slot = role_index * len(SCOPES) + scope_index
            slots[(role.guid, scope)] = slot
            admin.create_role_assignment(scope, role.guid, _oid(slot))
    keys = KeyClient(session.hsm_uri, session.credential("hsm-admin"), **session.options())
    keys.create_rsa_key(TARGET, size=2048)
    backup_blob = keys.backup_key(TARGET)
    probes = _probes(backup_blob)
    actions = tuple(sorted([*probes, *SEQUENTIAL]))
    decisions: dict[tuple[str, str, str], Decision] = {}

    async def principal_run(role: Role, scope: str, slot: int) -> None:
        credential = session.async_credential(principal_name(slot))
        options = session.options()
        async with (
            credential,
            AsyncKeyClient(session.hsm_uri, credential, **options) as key_client,
            AsyncAccessControlClient(session.hsm_uri, credential, **options) as access_client,
            AsyncSecurityDomainClient(session.hsm_uri, credential, **options) as domain_client,
        ):
            clients = Clients(key_client, access_client, domain_client)
            for action, probe in probes.items():
                decisions[(role.guid, scope, action)] = await _decide(probe, clients, f"{role.name}@{scope} {action}")

    await asyncio.gather(*(principal_run(role, scope, slots[(role.guid, scope)]) for role in roles for scope in SCOPES))
    await _sequential(session, roles, slots, decisions)
    return Matrix(roles, actions, decisions)


async def _sequential(
    session: Session,
    roles: tuple[Role, ...],
    slots: dict[tuple[str, str], int],
    decisions: dict[tuple[str, str, str], Decision],
) -> None:
    options = session.options()
    admin_keys = KeyClient(session.hsm_uri, session.credential("hsm-admin"), **options)
    admin_access = session.access()
    admin_access.create_role_assignment("/", AUDITOR, _oid(0), name=PROBE_ASSIGNMENT)
    for role in roles:
        for scope in SCOPES:
            credential = session.async_credential(principal_name(slots[(role.guid, scope)]))
            async with (
                credential,
                AsyncKeyClient(session.hsm_uri, credential, **options) as key_client,
                AsyncAccessControlClient(session.hsm_uri, credential, **options) as access_client,
                AsyncSecurityDomainClient(session.hsm_uri, credential, **options) as domain_client,
            ):
                clients = Clients(key_client, access_client, domain_client)
                label = f"{role.name}@{scope}"
                deleted = await _decide(lambda c: c.keys.delete_key(TARGET), clients, label)
                decisions[(role.guid, scope, "keys/delete")] = deleted
                if deleted:
                    admin_keys.begin_recover_deleted_key(TARGET).result()
                removed = await _decide(
                    lambda c: c.access.delete_role_assignment("/", PROBE_ASSIGNMENT), clients, label
                )
                decisions[(role.guid, scope, "roleAssignments/delete/action")] = removed
                if removed:
                    admin_access.create_role_assignment("/", AUDITOR, _oid(0), name=PROBE_ASSIGNMENT)


# ---- the document ------------------------------------------------------------------------------------------------


def render(matrix: Matrix) -> str:
    """The markdown document: one table per assignment scope, rows = data actions, columns = roles."""
    lines = [
        "# Managed HSM local RBAC: who may do what (generated)",
        "",
        "Generated by `python -m hsm_devtools.access_matrix` from the decisions of a running emulator, asked through",
        "the official Azure SDKs (see the module docstring for the method). Do not edit by hand:",
        "`tests/integration/emulator/test_access_matrix.py` regenerates the decisions, checks them against an",
        "expected table written from `AZURE-API.md` section 4, and fails when this file is stale.",
        "",
        "Each built-in role is assigned to its own principal at one scope; every principal then calls one operation",
        "per data action. Key operations name the key `target`; `/keys/other` is an assignment on a different key.",
        "**Y** = allowed (the call passed authorization), **-** = denied (403).",
        "",
        f"Not probed (no stable REST operation): {', '.join(f'`{action}`' for action in UNCALLABLE)}.",
        "",
        "Roles:",
        "",
    ]
    for index, role in enumerate(matrix.roles, start=1):
        lines.append(f"{index}. {role.name} (`{role.guid}`)")
    header = "| data action | " + " | ".join(str(i) for i in range(1, len(matrix.roles) + 1)) + " |"
    rule = "|---|" + "|".join(":-:" for _ in matrix.roles) + "|"
    for scope in SCOPES:
        lines += ["", f"## Assigned at `{scope}`", "", header, rule]
        for action in matrix.actions:
            cells = ["Y" if matrix.decisions[(role.guid, scope, action)] else "-" for role in matrix.roles]
            lines.append(f"| `{action}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def generate(state_dir: Path | None = None) -> Matrix:
    """Start an emulator, create and activate the HSM, collect the matrix, stop the emulator."""
    directory = standard_directory()
    with tempfile.TemporaryDirectory(prefix="access-matrix-") as scratch:
        state = state_dir or Path(scratch)
        previous = os.environ.get("HSM_EMULATOR_ARM_RETRY_AFTER")
        os.environ["HSM_EMULATOR_ARM_RETRY_AFTER"] = "0"
        try:
            with EmulatorProcess(state, matrix_config(directory), hsm_port_count=2) as process:
                session = Session(process, directory)
                session.create_hsm()
                return asyncio.run(collect(session))
        finally:
            if previous is None:
                os.environ.pop("HSM_EMULATOR_ARM_RETRY_AFTER", None)
            else:
                os.environ["HSM_EMULATOR_ARM_RETRY_AFTER"] = previous


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate docs/access-control-matrix.md from the emulator.")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--check", action="store_true", help="do not write; exit 1 if the file is not current")
    arguments = parser.parse_args(argv)
    text = render(generate())
    if arguments.check:
        current = arguments.output.read_text() if arguments.output.exists() else ""
        if current != text:
            print(f"{arguments.output} is stale: run python -m hsm_devtools.access_matrix", file=sys.stderr)
            return 1
        print(f"{arguments.output} is current")
        return 0
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(text)
    print(f"written {arguments.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
