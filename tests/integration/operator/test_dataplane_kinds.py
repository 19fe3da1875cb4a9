"""Data-plane kinds end to end: real kube-apiserver + emulator process + `hsm-operator run` process.

The operator only ever sees the CRs; every check of the HSM's state uses the official Azure SDK against the emulator
as an independent observer (and, for drift, as the out-of-band actor). Identities come from the emulator's standard
directory: `hsm-admin` is the HSM's initial administrator (security domain, roles), `crypto-user` is granted key
rights by the HSMRoleAssignments under test and then manages the keys, `no-role` gets Crypto User at one key only.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.keyvault.administration import KeyVaultAccessControlClient
from azure.keyvault.keys import KeyClient
from azure.keyvault.securitydomain import SecurityDomainClient
from azure.mgmt.keyvault import KeyVaultManagementClient
from cryptography.hazmat.primitives import serialization

from hsm_operator.kinds.security_domain_certificates import certificate_info, security_domain_key
from tests.support.emulator_fixtures import EmulatorHandle
from tests.support.operator_fixtures import OperatorHandle
from tests.unit.operator.kinds.certificates import rsa_certificate

pytestmark = pytest.mark.integration

RG = "rg-one"
CRYPTO_USER = "21dbd100-6940-42c2-9190-5d6cb909625b"
CRYPTO_OFFICER = "515eb02d-2335-4d2d-92f2-b1cbdf9c3778"
ROLE_PREFIX = "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/"
TIMEOUT = 120.0


# -- helpers -------------------------------------------------------------------------------------------------------


class Cluster:
    """kubectl on one namespace, with JSON in and out."""

    def __init__(self, kubectl: Any, namespace: str) -> None:
        self.kubectl = kubectl
        self.namespace = namespace

    def apply(self, *documents: dict[str, Any]) -> None:
        items = [{"metadata": {}, **doc} for doc in documents]
        for item in items:
            item["metadata"].setdefault("namespace", self.namespace)
        self.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        result = self.kubectl("get", kind, name, "-n", self.namespace, "-o", "json", check=False)
        if result.returncode != 0:
            if "NotFound" in result.stderr:
                return None
            raise AssertionError(result.stderr)
        return dict(json.loads(result.stdout))

    def annotate(self, kind: str, name: str, *pairs: str) -> None:
        self.kubectl("annotate", "--overwrite", kind, name, "-n", self.namespace, *pairs)

    def patch_spec(self, kind: str, name: str, spec: dict[str, Any]) -> None:
        self.kubectl("patch", kind, name, "-n", self.namespace, "--type=merge", "-p", json.dumps({"spec": spec}))

    def delete(self, kind: str, name: str) -> None:
        self.kubectl("delete", kind, name, "-n", self.namespace, "--wait=false")


def condition(body: dict[str, Any] | None, kind: str) -> dict[str, Any]:
    for entry in ((body or {}).get("status") or {}).get("conditions") or []:
        if entry.get("type") == kind:
            return dict(entry)
    return {}


def eventually(check: Callable[[], Any], *, what: str, operator: OperatorHandle, timeout: float = TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n--- operator log tail:\n{operator.log()[-6000:]}")
        time.sleep(0.5)


def wait_condition(
    cluster: Cluster,
    kind: str,
    name: str,
    operator: OperatorHandle,
    *,
    type_: str = "Ready",
    status: str = "True",
    reason: str | None = None,
    timeout: float = TIMEOUT,
) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        body = cluster.get(kind, name)
        found = condition(body, type_)
        if found.get("status") == status and (reason is None or found.get("reason") == reason):
            return body
        return None

    result: dict[str, Any] = eventually(
        check, what=f"{kind}/{name} {type_}={status} {reason or ''}", operator=operator, timeout=timeout
    )
    return result


def credential_secret(emulator: EmulatorHandle, name: str, who: str) -> dict[str, Any]:
    sp = emulator.sp(who)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "stringData": {"tenantId": sp.tenant_id, "clientId": sp.app_id, "clientSecret": sp.secret},
    }


def cr(kind: str, name: str, spec: dict[str, Any], annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "mhsm.dev/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "annotations": annotations or {}},
        "spec": spec,
    }


class Sdk:
    """The Azure SDK as an independent observer and out-of-band actor on one HSM."""

    def __init__(self, emulator: EmulatorHandle, uri: str) -> None:
        self.emulator = emulator
        self.uri = uri

    def _options(self) -> dict[str, Any]:
        return {"verify_challenge_resource": False, "connection_verify": str(self.emulator.ca_file)}

    def keys(self, who: str = "crypto-user") -> KeyClient:
        return KeyClient(self.uri, self.emulator.credential(who), **self._options())

    def access(self, who: str = "hsm-admin") -> KeyVaultAccessControlClient:
        return KeyVaultAccessControlClient(self.uri, self.emulator.credential(who), **self._options())

    def security_domain(self, who: str = "hsm-admin") -> SecurityDomainClient:
        return SecurityDomainClient(self.uri, self.emulator.credential(who), **self._options())


@pytest.fixture(scope="module")
def arm(emulator: EmulatorHandle) -> Iterator[KeyVaultManagementClient]:
    client = KeyVaultManagementClient(
        emulator.credential("sub-owner"),
        emulator.directory.subscription_id,
        base_url=emulator.url,
        credential_scopes=["https://management.azure.com/.default"],
        connection_verify=str(emulator.ca_file),
        polling_interval=0.2,
    )
    with client:
        yield client


@pytest.fixture(scope="module")
def sd_certificates() -> list[bytes]:
    return [rsa_certificate(f"sd-holder-{index}")[0] for index in range(3)]


def managed_hsm(emulator: EmulatorHandle, azure_name: str) -> dict[str, Any]:
    return cr(
        "ManagedHSM",
        "hsm",
        {
            "azureName": azure_name,
            "subscriptionId": emulator.directory.subscription_id,
            "resourceGroupName": RG,
            "location": emulator.directory.location,
            "sku": {"name": "Standard_B1"},
            "tenantId": emulator.tenant_id,
            "initialAdminObjectIds": [emulator.sp("hsm-admin").object_id],
            "softDeleteRetentionInDays": 7,
            "enablePurgeProtection": False,
            "deletionPolicy": "Delete",
        },
    )


def security_domain_objects(certificates: list[bytes]) -> list[dict[str, Any]]:
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "sd-certs"},
        "data": {f"cert{index}.pem": pem.decode() for index, pem in enumerate(certificates[:2])},
    }
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "sd-cert-third"},
        "stringData": {"cert.pem": certificates[2].decode()},
    }
    domain = cr(
        "HSMSecurityDomain",
        "activation",
        {
            "hsmRef": {"name": "hsm"},
            "credentialRef": {"name": "admin-cred"},
            "certificates": [
                {"configMapKeyRef": {"name": "sd-certs", "key": "cert0.pem"}},
                {"configMapKeyRef": {"name": "sd-certs", "key": "cert1.pem"}},
                {"secretKeyRef": {"name": "sd-cert-third", "key": "cert.pem"}},
            ],
            "quorum": 2,
            "outputSecretRef": {"name": "security-domain"},
        },
    )
    return [config_map, secret, domain]


def key_spec(kty: str, **fields: Any) -> dict[str, Any]:
    return {"hsmRef": {"name": "hsm"}, "credentialRef": {"name": "keys-cred"}, "kty": kty, **fields}


def grant(name: str, principal: str, **fields: Any) -> dict[str, Any]:
    return cr(
        "HSMRoleAssignment",
        name,
        {"hsmRef": {"name": "hsm"}, "credentialRef": {"name": "admin-cred"}, "principalId": principal, **fields},
    )


# -- the whole flow on one HSM ---------------------------------------------------------------------------------------


def test_declared_state_is_reconciled_updated_corrected_and_deleted(
    emulator: EmulatorHandle,
    arm: KeyVaultManagementClient,
    kubectl: Any,
    namespace: str,
    operator_process: Callable[..., OperatorHandle],
    sd_certificates: list[bytes],
) -> None:
    cluster = Cluster(kubectl, namespace)
    operator = operator_process(namespace, plane="all")
    azure_name = f"dp-{uuid.uuid4().hex[:10]}"
    crypto_user = emulator.sp("crypto-user").object_id

    # 1. ManagedHSM -> HSMSecurityDomain: activation, the download stored in the output Secret.
    cluster.apply(
        credential_secret(emulator, "admin-cred", "hsm-admin"),
        credential_secret(emulator, "keys-cred", "crypto-user"),
        managed_hsm(emulator, azure_name),
        *security_domain_objects(sd_certificates),
        cr("HSMKey", "early", key_spec("EC-HSM", curve="P-384", deletionPolicy="Delete")),
    )
    # A key declared before its HSM is usable waits (a condition, not an error storm) and sends nothing to the HSM.
    early = wait_condition(cluster, "hsmkey", "early", operator, type_="Synced", status="False", reason="WaitingForHSM")
    assert "ManagedHSM hsm" in condition(early, "Synced")["message"]
    hsm_body = wait_condition(cluster, "managedhsm", "hsm", operator)
    sdk = Sdk(emulator, hsm_body["status"]["hsmUri"].rstrip("/"))
    domain = wait_condition(cluster, "hsmsecuritydomain", "activation", operator, type_="Activated")
    assert domain["status"]["activationStatus"] == "Active"
    assert condition(domain, "Ready")["status"] == "True"
    stored = cluster.get("secret", "security-domain")
    assert stored is not None
    download = json.loads(base64.b64decode(stored["data"]["security-domain.json"]))
    assert "EncData" in json.loads(download["value"])  # the SD document the CLI's restore-blob reads
    assert sdk.security_domain().get_download_status().status == "Success"
    # The management controller sees the activation at its next pass; ask for it now rather than waiting.
    cluster.annotate("managedhsm", "hsm", f"mhsm.dev/reconcile-requested={uuid.uuid4().hex}")

    # 2. Grants for the key identity (role by name at "/", by id at "/keys"), a custom role and its assignment.
    cluster.apply(
        grant("keys-user", crypto_user, scope="/", roleName="Managed HSM Crypto User"),
        grant("keys-officer", crypto_user, scope="/keys", roleDefinitionId=CRYPTO_OFFICER),
        cr(
            "HSMRoleDefinition",
            "rotator",
            {
                "hsmRef": {"name": "hsm"},
                "credentialRef": {"name": "admin-cred"},
                "roleName": "Key Rotator",
                "description": "read and rotate keys",
                "permissions": [
                    {
                        "dataActions": [
                            "Microsoft.KeyVault/managedHsm/keys/read/action",
                            "Microsoft.KeyVault/managedHsm/keys/rotate/action",
                        ]
                    }
                ],
            },
        ),
        grant(
            "auditor-rotates",
            emulator.sp("auditor").object_id,
            keyRef={"name": "signing"},
            roleDefinitionRef={"name": "rotator"},
        ),
    )
    # 3. Keys of each type.
    cluster.apply(
        cr(
            "HSMKey",
            "signing",
            key_spec(
                "RSA-HSM",
                keySize=2048,
                keyName="app-signing",
                keyOps=["sign", "verify"],
                tags={"env": "dev"},
                publicKeyTo={"configMapName": "signing-public"},
                # Managed HSM rotates on demand only keys that have a rotation policy.
                rotationPolicy={
                    "expiryTime": "P1Y",
                    "lifetimeActions": [{"action": "Rotate", "timeBeforeExpiry": "P30D"}],
                },
            ),
        ),
        cr("HSMKey", "ec", key_spec("EC-HSM", curve="P-256", deletionPolicy="Delete")),
        cr(
            "HSMKey",
            "aes",
            key_spec(
                "oct-HSM",
                keySize=256,
                deletionPolicy="Purge",
                rotationPolicy={
                    "expiryTime": "P90D",
                    "lifetimeActions": [{"action": "Rotate", "timeAfterCreate": "P30D"}],
                },
            ),
        ),
        cr("HSMKey", "reported", key_spec("RSA-HSM", keySize=2048, driftPolicy="Report")),
    )
    for kind, name in [
        ("hsmroleassignment", "keys-user"),
        ("hsmroleassignment", "keys-officer"),
        ("hsmroledefinition", "rotator"),
        ("hsmkey", "signing"),
        ("hsmkey", "ec"),
        ("hsmkey", "aes"),
        ("hsmkey", "reported"),
        ("hsmkey", "early"),
        ("hsmroleassignment", "auditor-rotates"),
    ]:
        wait_condition(cluster, kind, name, operator)

    # The emulator holds exactly the declared state (checked with the SDK, not through the operator).
    keys = sdk.keys()
    signing = keys.get_key("app-signing")
    assert signing.key_type == "RSA-HSM"
    assert len(signing.key.n) * 8 == 2048
    assert sorted(signing.key_operations) == ["sign", "verify"]
    assert signing.properties.tags == {"env": "dev"}
    assert keys.get_key("ec").key.crv == "P-256"
    assert keys.get_key("aes").key_type == "oct-HSM"
    policy = keys.get_key_rotation_policy("aes")
    assert policy.expires_in == "P90D"
    assert [(a.action, a.time_after_create) for a in policy.lifetime_actions] == [("Rotate", "P30D")]
    assert {p.name for p in keys.list_properties_of_keys()} == {"app-signing", "ec", "aes", "reported", "early"}

    access = sdk.access()
    rotator = cluster.get("hsmroledefinition", "rotator")
    assert rotator is not None
    role_id = rotator["status"]["roleDefinitionId"]
    definition = access.get_role_definition("/", role_id.rsplit("/", 1)[-1])
    assert definition.role_name == "Key Rotator"
    assert definition.role_type == "CustomRole"
    scoped = {
        (
            getattr(a.properties.scope, "value", a.properties.scope),
            a.properties.role_definition_id.rsplit("/", 1)[-1],
            a.properties.principal_id,
        )
        for scope in ("/", "/keys", "/keys/app-signing")
        for a in access.list_role_assignments(scope)
    }
    assert ("/", CRYPTO_USER, crypto_user) in scoped
    assert ("/keys", CRYPTO_OFFICER, crypto_user) in scoped
    assert ("/keys/app-signing", role_id.rsplit("/", 1)[-1], emulator.sp("auditor").object_id) in scoped
    auditor_grant = cluster.get("hsmroleassignment", "auditor-rotates")
    assert auditor_grant is not None
    assert auditor_grant["status"]["resolvedScope"] == "/keys/app-signing"

    # The public key ConfigMap matches the HSM's key and is owned by the HSMKey.
    published = cluster.get("configmap", "signing-public")
    assert published is not None
    loaded = serialization.load_pem_public_key(published["data"]["public.pem"].encode())
    assert loaded.public_numbers().n == int.from_bytes(signing.key.n, "big")  # type: ignore[union-attr]
    assert published["metadata"]["ownerReferences"][0]["kind"] == "HSMKey"

    # 4. Mutable fields: a spec edit is applied; the rotate annotation makes exactly one new version.
    cluster.patch_spec("hsmkey", "signing", {"tags": {"env": "prod"}, "keyOps": ["sign", "verify", "encrypt"]})
    eventually(
        lambda: keys.get_key("app-signing").properties.tags == {"env": "prod"},
        what="tags updated",
        operator=operator,
    )
    assert sorted(keys.get_key("app-signing").key_operations) == ["encrypt", "sign", "verify"]
    cluster.annotate("hsmkey", "signing", "mhsm.dev/rotate=first")
    eventually(
        lambda: (cluster.get("hsmkey", "signing") or {}).get("status", {}).get("lastRotateRequest") == "first",
        what="rotation handled",
        operator=operator,
    )
    assert len(list(keys.list_properties_of_key_versions("app-signing"))) == 2
    rotated = keys.get_key("app-signing")
    eventually(
        lambda: (cluster.get("hsmkey", "signing") or {})["status"].get("currentVersion") == rotated.properties.version,
        what="status shows the new version",
        operator=operator,
    )

    # 5. Drift: disable keys and delete a role assignment out of band; nothing but the sync timer brings the
    #    Correct objects back within one sync interval (30 s), while the Report key is only reported.
    keys.update_key_properties("ec", enabled=False)
    keys.update_key_properties("reported", enabled=False)
    officer = cluster.get("hsmroleassignment", "keys-officer")
    assert officer is not None
    officer_name = officer["status"]["assignmentId"].rsplit("/", 1)[-1]
    access.delete_role_assignment("/keys", officer_name)
    eventually(
        lambda: keys.get_key("ec").properties.enabled is True, what="ec key re-enabled", operator=operator, timeout=75
    )
    eventually(
        lambda: _exists(lambda: access.get_role_assignment("/keys", officer_name)),
        what="deleted role assignment recreated",
        operator=operator,
        timeout=75,
    )
    reported = wait_condition(cluster, "hsmkey", "reported", operator, type_="Drifted", timeout=75)
    assert {"path": "attributes.enabled", "desired": "true", "observed": "false"} in reported["status"]["drift"]
    assert keys.get_key("reported").properties.enabled is False  # Report writes nothing

    # 6. Deletion policies.
    cluster.delete("hsmroledefinition", "rotator")  # still used by auditor-rotates: refused with a condition
    wait_condition(
        cluster, "hsmroledefinition", "rotator", operator, type_="Synced", status="False", reason="RoleDefinitionInUse"
    )
    assert access.get_role_definition("/", role_id.rsplit("/", 1)[-1]).role_name == "Key Rotator"
    cluster.delete("hsmroleassignment", "auditor-rotates")
    eventually(
        lambda: cluster.get("hsmroledefinition", "rotator") is None, what="role definition deleted", operator=operator
    )
    with pytest.raises(ResourceNotFoundError):
        access.get_role_definition("/", role_id.rsplit("/", 1)[-1])
    key_scoped = [
        a
        for a in access.list_role_assignments("/keys/app-signing")
        if getattr(a.properties.scope, "value", a.properties.scope) == "/keys/app-signing"
    ]
    assert key_scoped == []  # the listing also shows inherited grants from "/" and "/keys"

    for name in ("signing", "ec", "aes"):
        cluster.delete("hsmkey", name)
    for name in ("signing", "ec", "aes"):
        eventually(lambda n=name: cluster.get("hsmkey", n) is None, what=f"HSMKey {name} gone", operator=operator)
    assert keys.get_key("app-signing").properties.enabled is True  # Orphan (the default) keeps the key
    assert keys.get_deleted_key("ec").name == "ec"  # Delete soft-deletes
    with pytest.raises(ResourceNotFoundError):
        keys.get_key("aes")
    with pytest.raises(ResourceNotFoundError):
        keys.get_deleted_key("aes")  # Purge also purges


def _exists(get: Callable[[], Any]) -> bool:
    try:
        get()
    except ResourceNotFoundError:
        return False
    return True


# -- adoption, soft-delete clashes and isolation on an HSM the namespace does not manage ---------------------------


def create_active_hsm(emulator: EmulatorHandle, arm: KeyVaultManagementClient, certificates: list[bytes]) -> str:
    """An HSM made and activated outside the operator (ARM + security-domain download with the SDK)."""
    poller = arm.managed_hsms.begin_create_or_update(
        RG,
        f"ext-{uuid.uuid4().hex[:10]}",
        {
            "location": emulator.directory.location,
            "sku": {"family": "B", "name": "Standard_B1"},
            "properties": {
                "tenantId": emulator.tenant_id,
                "initialAdminObjectIds": [emulator.sp("hsm-admin").object_id],
                "softDeleteRetentionInDays": 7,
                "enablePurgeProtection": False,
            },
        },
    )
    uri = str(poller.result().properties.hsm_uri).rstrip("/")
    keys = [security_domain_key(pem, source=f"certificate {index}") for index, pem in enumerate(certificates)]
    Sdk(emulator, uri).security_domain().begin_download(certificate_info(keys, quorum=2), polling_interval=0.2).result()
    return uri


def test_adoption_soft_delete_clash_and_namespace_isolation(
    emulator: EmulatorHandle,
    arm: KeyVaultManagementClient,
    kubectl: Any,
    namespace: str,
    operator_process: Callable[..., OperatorHandle],
    sd_certificates: list[bytes],
) -> None:
    uri = create_active_hsm(emulator, arm, sd_certificates)
    sdk = Sdk(emulator, uri)
    access = sdk.access()
    access.create_role_assignment("/", ROLE_PREFIX + CRYPTO_USER, emulator.sp("crypto-user").object_id)
    access.create_role_assignment("/keys", ROLE_PREFIX + CRYPTO_OFFICER, emulator.sp("crypto-user").object_id)
    access.create_role_assignment("/keys/app-key", ROLE_PREFIX + CRYPTO_USER, emulator.sp("no-role").object_id)
    keys = sdk.keys()
    keys.create_rsa_key("legacy-rsa", size=2048, hardware_protected=True)
    keys.create_ec_key("legacy-ec", curve="P-256", hardware_protected=True)
    keys.create_rsa_key("app-key", size=2048, hardware_protected=True)
    keys.create_rsa_key("gone-key", size=2048, hardware_protected=True)
    keys.begin_delete_key("gone-key").result()

    cluster = Cluster(kubectl, namespace)
    operator = operator_process(namespace, plane="data")

    def key(name: str, credential: str, **fields: Any) -> dict[str, Any]:
        return cr("HSMKey", name, {"hsmUri": uri, "credentialRef": {"name": credential}, **fields})

    cluster.apply(
        credential_secret(emulator, "crypto-cred", "crypto-user"),
        credential_secret(emulator, "narrow-cred", "no-role"),
        key("adopt", "crypto-cred", keyName="legacy-rsa", kty="RSA-HSM", keySize=2048),
        key("blocked", "crypto-cred", keyName="legacy-ec", kty="RSA-HSM", keySize=2048),
        key("clash", "crypto-cred", keyName="gone-key", kty="RSA-HSM", keySize=2048),
        key("no-cred", "missing-cred", keyName="never-created", kty="RSA-HSM", keySize=2048),
        key("narrow-own", "narrow-cred", keyName="app-key", kty="RSA-HSM", keySize=2048),
        key("narrow-other", "narrow-cred", keyName="other-key", kty="RSA-HSM", keySize=2048),
        cr(
            "HSMRoleAssignment",
            "narrow-grant",
            {
                "hsmUri": uri,
                "credentialRef": {"name": "narrow-cred"},
                "scope": "/keys/app-key",
                "roleDefinitionId": CRYPTO_USER,
                "principalId": emulator.sp("auditor").object_id,
            },
        ),
    )

    # An HSM that is already active is only observed: Activated=True, no second download, no Secret written.
    cluster.apply(
        cr(
            "HSMSecurityDomain",
            "already-active",
            {
                "hsmUri": uri,
                "credentialRef": {"name": "admin-cred"},
                "certificates": [{"configMapKeyRef": {"name": "absent", "key": f"c{i}"}} for i in range(3)],
                "quorum": 2,
                "outputSecretRef": {"name": "never-written"},
            },
        ),
        credential_secret(emulator, "admin-cred", "hsm-admin"),
    )
    observed_domain = wait_condition(cluster, "hsmsecuritydomain", "already-active", operator, type_="Activated")
    assert "not downloaded by this object" in condition(observed_domain, "Activated")["message"]
    assert cluster.get("secret", "never-written") is None

    # Adoption of a matching key: Ready, and no new version was made to adopt it.
    adopted = wait_condition(cluster, "hsmkey", "adopt", operator)
    assert adopted["status"]["versionCount"] == 1
    assert len(list(keys.list_properties_of_key_versions("legacy-rsa"))) == 1
    # A key of another type under the name is never adopted.
    blocked = wait_condition(
        cluster, "hsmkey", "blocked", operator, type_="Synced", status="False", reason="AdoptionBlocked"
    )
    assert {entry["path"] for entry in blocked["status"]["drift"]} >= {"kty"}
    assert keys.get_key("legacy-ec").key_type == "EC-HSM"
    # A soft-deleted name clash is refused under createMode Default, and recovered when asked to.
    wait_condition(cluster, "hsmkey", "clash", operator, type_="Synced", status="False", reason="SoftDeletedConflict")
    cluster.patch_spec("hsmkey", "clash", {"createMode": "Recover"})
    wait_condition(cluster, "hsmkey", "clash", operator)
    assert keys.get_key("gone-key").properties.enabled is True

    # Isolation: no credential Secret -> nothing happens in the HSM.
    no_cred = wait_condition(
        cluster, "hsmkey", "no-cred", operator, type_="Synced", status="False", reason="CredentialsMissing"
    )
    assert "missing-cred" in condition(no_cred, "Synced")["message"]
    with pytest.raises(ResourceNotFoundError):
        keys.get_key("never-created")
    # An identity with Crypto User at /keys/app-key only: it can manage that key, nothing else.
    wait_condition(cluster, "hsmkey", "narrow-own", operator)
    wait_condition(
        cluster, "hsmkey", "narrow-other", operator, type_="Synced", status="False", reason="AuthorizationFailed"
    )
    wait_condition(
        cluster,
        "hsmroleassignment",
        "narrow-grant",
        operator,
        type_="Synced",
        status="False",
        reason="AuthorizationFailed",
    )
    with pytest.raises(ResourceNotFoundError):
        keys.get_key("other-key")
    auditor = emulator.sp("auditor").object_id
    assert not [a for a in access.list_role_assignments("/keys/app-key") if a.properties.principal_id == auditor]

    # A role assignment deleted out of band under driftPolicy Report is reported, not recreated.
    cluster.apply(
        cr(
            "HSMRoleAssignment",
            "reported-grant",
            {
                "hsmUri": uri,
                "credentialRef": {"name": "crypto-cred"},
                "scope": "/keys/legacy-rsa",
                "roleDefinitionId": CRYPTO_USER,
                "principalId": auditor,
                "driftPolicy": "Report",
            },
        )
    )
    granted = wait_condition(cluster, "hsmroleassignment", "reported-grant", operator)
    assignment_name = granted["status"]["assignmentId"].rsplit("/", 1)[-1]
    access.delete_role_assignment("/keys/legacy-rsa", assignment_name)
    cluster.annotate("hsmroleassignment", "reported-grant", f"mhsm.dev/reconcile-requested={uuid.uuid4().hex}")
    reported = wait_condition(cluster, "hsmroleassignment", "reported-grant", operator, type_="Drifted")
    assert {"path": "exists", "desired": "true", "observed": "false"} in reported["status"]["drift"]
    assert condition(reported, "Ready")["status"] == "False"
    with pytest.raises(ResourceNotFoundError):
        access.get_role_assignment("/keys/legacy-rsa", assignment_name)
