"""Every example in `examples/` applied as its README says, checked against what its README promises.

One stack for the module (ControlPlane + CRDs + the emulator on `config/emulator-dev.yaml` + both controllers as
`hsm_devtools.operator_process` starts them for `make run`, HSM_SYNC_INTERVAL=30). The tests run in file order and
build on each other exactly as the READMEs do: the quickstart first (its HSM is every other example's
prerequisite), then each example in its own README's steps. Each promise is checked twice: in Kubernetes
(conditions, status fields, ConfigMaps/Secrets) and in the emulator through the official Azure SDK, with the
development identities of `config/emulator-dev.yaml`.

The GitOps check applies the quickstart again as Argo CD does (server-side apply, field manager `argocd`) right after
it is Ready, lets the other examples' minutes of reconciling pass, and at the end asserts `kubectl diff` shows
nothing and the operator's field managers own only status and the finalizer.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity import ClientSecretCredential
from azure.keyvault.administration import KeyVaultAccessControlClient
from azure.keyvault.keys import KeyClient, KeyRotationPolicyAction
from azure.mgmt.keyvault import KeyVaultManagementClient
from cryptography.hazmat.primitives import serialization

from hsm_devtools import binaries, controlplane, emulator_process, operator_process, processes, run
from hsm_devtools import kubectl as kubectl_tools

pytestmark = pytest.mark.e2e

EXAMPLES = binaries.REPO_ROOT / "examples"
NS = "hsm-quickstart"
CRYPTO_USER_ROLE = "21dbd100-6940-42c2-9190-5d6cb909625b"
TIMEOUT = 150.0
SYNC_INTERVAL = 30


# -- the stack -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    tenant_id: str
    client_id: str
    secret: str
    object_id: str


@dataclass
class Stack:
    plane: controlplane.ControlPlane
    kubectl: kubectl_tools.Kubectl
    emulator: emulator_process.EmulatorProcess
    controllers: list[processes.ManagedProcess]
    identities: dict[str, Identity]  # by display name in config/emulator-dev.yaml
    subscription_id: str

    def logs(self) -> str:
        tails = [f"--- {c.name}:\n{c.log_path.read_text(errors='replace')[-4000:]}" for c in self.controllers]
        return "\n".join(tails)

    def credential(self, who: str) -> ClientSecretCredential:
        identity = self.identities[who]
        return ClientSecretCredential(
            identity.tenant_id,
            identity.client_id,
            identity.secret,
            authority=self.emulator.url,
            disable_instance_discovery=True,
            connection_verify=str(self.emulator.ca_file),
        )

    def sdk_options(self) -> dict[str, Any]:
        return {"verify_challenge_resource": False, "connection_verify": str(self.emulator.ca_file)}

    def keys(self, uri: str, who: str = "hsm-admin") -> KeyClient:
        return KeyClient(uri, self.credential(who), **self.sdk_options())

    def access(self, uri: str, who: str = "hsm-admin") -> KeyVaultAccessControlClient:
        return KeyVaultAccessControlClient(uri, self.credential(who), **self.sdk_options())

    def arm(self) -> KeyVaultManagementClient:
        return KeyVaultManagementClient(
            self.credential("managed-hsm-operator-management"),
            self.subscription_id,
            base_url=self.emulator.url,
            credential_scopes=["https://management.azure.com/.default"],
            connection_verify=str(self.emulator.ca_file),
        )

    # -- Kubernetes
    def get(self, kind: str, name: str, namespace: str = NS) -> dict[str, Any] | None:
        result = self.kubectl("get", kind, name, "-n", namespace, "-o", "json", check=False)
        if result.returncode != 0:
            if "NotFound" in result.stderr:
                return None
            raise AssertionError(result.stderr)
        return dict(json.loads(result.stdout))

    def must_get(self, kind: str, name: str, namespace: str = NS) -> dict[str, Any]:
        body = self.get(kind, name, namespace)
        assert body is not None, f"{kind} {namespace}/{name} does not exist"
        return body

    def eventually(self, check: Callable[[], Any], what: str, timeout: float = TIMEOUT) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{self.logs()}")
            time.sleep(1.0)

    def wait_condition(
        self,
        kind: str,
        name: str,
        namespace: str = NS,
        *,
        type_: str = "Ready",
        status: str = "True",
        reason: str | None = None,
        timeout: float = TIMEOUT,
    ) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            body = self.get(kind, name, namespace)
            found = condition(body, type_)
            if found.get("status") == status and (reason is None or found.get("reason") == reason):
                return body
            return None

        found: dict[str, Any] = self.eventually(check, f"{kind} {namespace}/{name} {type_}={status} {reason or ''}")
        return found

    def apply(self, *paths: Path, extra: tuple[str, ...] = ()) -> str:
        args = [arg for path in paths for arg in ("-f", str(path))]
        return self.kubectl("apply", *extra, *args).stdout


def condition(body: dict[str, Any] | None, type_: str) -> dict[str, Any]:
    for entry in ((body or {}).get("status") or {}).get("conditions") or []:
        if entry.get("type") == type_:
            return dict(entry)
    return {}


def dev_identities(config: dict[str, Any]) -> dict[str, Identity]:
    tenant = config["tenants"][0]
    return {
        sp["displayName"]: Identity(tenant["id"], sp["appId"], sp["clientSecret"], sp["objectId"])
        for sp in tenant["servicePrincipals"]
    }


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The whole product as `make run` starts it, on free ports, in a temporary directory."""
    processes.install_termination_handlers()
    state = tmp_path_factory.mktemp("examples")
    config = yaml.safe_load(run.DEV_CONFIG.read_text())
    plane = controlplane.ControlPlane(state / "cluster")
    plane.start()
    started: list[processes.ManagedProcess] = []
    emulator = emulator_process.EmulatorProcess(state / "emulator", config, log_level="info")
    try:
        controlplane.install_crds(plane, binaries.REPO_ROOT / "crds")
        emulator.start()
        endpoints = operator_process.AzureEndpoints(emulator.url, emulator.url, emulator.ca_file)
        identity = run.management_identity(config)
        for which in ("management", "data"):
            env = operator_process.controller_env(
                which, plane.kubeconfig_path, endpoints, identity if which == "management" else None, SYNC_INTERVAL
            )
            started.append(operator_process.start_controller(which, state / "operator", env))
        yield Stack(
            plane=plane,
            kubectl=plane.kubectl(),
            emulator=emulator,
            controllers=started,
            identities=dev_identities(config),
            subscription_id=config["subscriptions"][0]["id"],
        )
    finally:
        for controller in reversed(started):
            controller.stop(timeout=15)
        emulator.stop()
        plane.stop()


@pytest.fixture(scope="module")
def hsm_uri(stack: Stack) -> str:
    """The quickstart HSM's data-plane URL (set by test_quickstart)."""
    body = stack.must_get("managedhsm", "quickstart-hsm")
    uri = (body.get("status") or {}).get("hsmUri")
    assert uri, "the quickstart has not run: its HSM has no status.hsmUri"
    return str(uri)


# -- quickstart ----------------------------------------------------------------------------------------------------

QUICKSTART_OBJECTS = [
    ("managedhsm", "quickstart-hsm"),
    ("hsmsecuritydomain", "quickstart-hsm"),
    ("hsmroleassignment", "hsm-admin-keys"),
    ("hsmkey", "payments-signing"),
    ("hsmkey", "storage-wrapping"),
    ("hsmroleassignment", "payments-app-signs"),
]


def test_quickstart(stack: Stack) -> None:
    stack.apply(EXAMPLES / "quickstart")
    for kind, name in QUICKSTART_OBJECTS:
        stack.wait_condition(kind, name)

    hsm = stack.must_get("managedhsm", "quickstart-hsm")["status"]
    assert hsm["hsmUri"].startswith("https://127.0.0.1:")
    assert hsm["provisioningState"] == "Succeeded"
    with stack.arm() as arm:
        observed = arm.managed_hsms.get("hsm-rg", "quickstart-hsm")
        assert observed.properties.hsm_uri == hsm["hsmUri"]
        assert observed.tags == {"environment": "quickstart"}
        assert observed.properties.security_domain_properties.activation_status == "Active"

    domain = stack.must_get("hsmsecuritydomain", "quickstart-hsm")
    assert condition(domain, "Activated")["status"] == "True"
    secret = stack.must_get("secret", "quickstart-hsm-security-domain")
    downloaded = json.loads(base64.b64decode(secret["data"]["security-domain.json"]))
    assert downloaded["value"], "the security domain download is empty"

    uri = hsm["hsmUri"]
    with stack.keys(uri) as keys:
        signing = keys.get_key("payments-signing")
        assert (signing.key_type, signing.key.n is not None) == ("RSA-HSM", True)
        assert len(signing.key.n) * 8 == 2048
        assert sorted(signing.key_operations) == ["sign", "verify"]
        assert signing.properties.tags == {"team": "payments"}
        wrapping = keys.get_key("storage-wrapping")
        assert wrapping.key_type == "oct-HSM"
        assert sorted(wrapping.key_operations) == ["unwrapKey", "wrapKey"]
    status = stack.must_get("hsmkey", "payments-signing")["status"]
    assert status["keyId"] == signing.id
    assert status["currentVersion"] == signing.properties.version

    published = stack.must_get("configmap", "payments-signing-public")["data"]
    jwk = json.loads(published["jwk.json"])
    assert base64.urlsafe_b64decode(jwk["n"] + "==") == signing.key.n
    assert "PRIVATE" not in published["public.pem"]
    assert "d" not in jwk
    public = serialization.load_pem_public_key(published["public.pem"].encode())
    assert public.public_numbers().n == int.from_bytes(signing.key.n, "big")  # type: ignore[union-attr]

    admin = stack.identities["hsm-admin"].object_id
    app = stack.identities["payments-app"].object_id
    with stack.access(uri) as access:
        grants = {
            (a.properties.scope, a.properties.principal_id, a.properties.role_definition_id.rsplit("/", 1)[-1])
            for scope in ("/keys", "/keys/payments-signing")
            for a in access.list_role_assignments(scope)
        }
    assert ("/keys", admin, CRYPTO_USER_ROLE) in grants
    assert ("/keys/payments-signing", app, CRYPTO_USER_ROLE) in grants
    # The app may use the signing key and nothing else.
    with stack.keys(uri, "payments-app") as app_keys:
        assert app_keys.get_key("payments-signing").id == signing.id
        with pytest.raises(HttpResponseError) as refused:
            app_keys.get_key("storage-wrapping")
        assert refused.value.status_code == 403


# -- GitOps: Argo CD's server-side apply, reconciled for the rest of the module, then diffed -------------------------

GITOPS = {"applied_at": ""}


def quickstart_for_argocd(tmp_path: Path) -> Path:
    """What application.yaml syncs: examples/quickstart without security-domain-officers/ (a flat directory)."""
    target = tmp_path / "quickstart"
    target.mkdir()
    for manifest in sorted((EXAMPLES / "quickstart").glob("*.yaml")):
        (target / manifest.name).write_text(manifest.read_text())
    return target


def test_gitops_server_side_apply_by_argocd(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> None:
    source = quickstart_for_argocd(tmp_path_factory.mktemp("gitops"))
    GITOPS["source"] = str(source)
    GITOPS["applied_at"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    stack.apply(source, extra=("--server-side", "--field-manager=argocd", "--force-conflicts"))
    for kind, name in QUICKSTART_OBJECTS:
        stack.wait_condition(kind, name)


# -- least privilege -----------------------------------------------------------------------------------------------


def test_least_privilege(stack: Stack, hsm_uri: str) -> None:
    stack.apply(EXAMPLES / "least-privilege")
    stack.wait_condition("hsmroleassignment", "payments-ledger-crypto-user")
    shared = stack.wait_condition("managedhsm", "shared-hsm", "payments")
    assert shared["status"]["hsmUri"] == hsm_uri
    ledger = stack.wait_condition("hsmkey", "payments-ledger", "payments")
    refused = stack.wait_condition(
        "hsmkey", "not-mine", "payments", type_="Synced", status="False", reason="AuthorizationFailed"
    )
    assert condition(refused, "Ready")["status"] == "False"

    with stack.keys(hsm_uri, "payments-app") as app_keys:
        key = app_keys.get_key("payments-ledger")
        assert (key.key_type, key.key.crv) == ("EC-HSM", "P-256")
        assert ledger["status"]["keyId"] == key.id
        # Its grants are on payments-ledger (and the quickstart's payments-signing) only: nothing else.
        with pytest.raises(HttpResponseError) as other:
            app_keys.get_key("storage-wrapping")
        assert other.value.status_code == 403
    with stack.keys(hsm_uri) as admin_keys, pytest.raises(ResourceNotFoundError):
        admin_keys.get_key("not-mine")
    # Observe-only: the namespace's view never wrote the HSM (the quickstart's tags are untouched).
    with stack.arm() as arm:
        assert arm.managed_hsms.get("hsm-rg", "quickstart-hsm").tags == {"environment": "quickstart"}


# -- drift report --------------------------------------------------------------------------------------------------


def test_drift_report(stack: Stack, hsm_uri: str) -> None:
    stack.apply(EXAMPLES / "drift-report")
    stack.wait_condition("hsmkey", "audit-signing")
    with stack.keys(hsm_uri) as keys:
        key = keys.get_key("audit-signing")
        assert (key.key_type, key.key.crv, sorted(key.key_operations)) == ("EC-HSM", "P-384", ["sign", "verify"])
        assert key.properties.tags == {"purpose": "audit"}
        keys.update_key_properties("audit-signing", enabled=False)  # out of band
    stack.kubectl(
        "annotate", "hsmkey", "audit-signing", "-n", NS, f"mhsm.dev/reconcile-requested={time.time()}", "--overwrite"
    )
    body = stack.wait_condition("hsmkey", "audit-signing", type_="Drifted", status="True", reason="DriftDetected")
    status = body["status"]
    assert {"path": "attributes.enabled", "desired": "true", "observed": "false"} in status["drift"]
    assert any(entry.get("path") == "attributes.enabled" for entry in status["plan"]), status["plan"]
    assert condition(body, "Synced")["status"] == "True"
    with stack.keys(hsm_uri) as keys:
        assert keys.get_key("audit-signing").properties.enabled is False, "Report must not correct the key"


# -- adopting an existing key --------------------------------------------------------------------------------------


def test_adopt_existing_key(stack: Stack, hsm_uri: str) -> None:
    with stack.keys(hsm_uri) as keys:
        original = keys.create_rsa_key("legacy-signing", size=2048, hardware_protected=True)
    stack.apply(EXAMPLES / "adopt-existing-key" / "observe.yaml")
    observed = stack.wait_condition("hsmkey", "legacy-signing")
    stack.wait_condition("hsmkey", "legacy-signing", type_="Drifted", status="True")
    observed = stack.must_get("hsmkey", "legacy-signing")
    assert observed["status"]["currentVersion"] == original.properties.version
    assert observed["status"]["keyId"] == original.id
    assert [d["path"] for d in observed["status"]["drift"]] == ["tags.owner"]
    with stack.keys(hsm_uri) as keys:
        assert not keys.get_key("legacy-signing").properties.tags, "observe-only wrote to the key"

    stack.apply(EXAMPLES / "adopt-existing-key" / "manage.yaml")

    def tags_corrected() -> bool:
        with stack.keys(hsm_uri) as keys:
            return keys.get_key("legacy-signing").properties.tags == {"owner": "platform"}

    stack.eventually(tags_corrected, "the adopted key's tags to be corrected")
    body = stack.wait_condition("hsmkey", "legacy-signing", type_="Drifted", status="False")
    assert condition(body, "Ready")["status"] == "True"
    with stack.keys(hsm_uri) as keys:
        versions = list(keys.list_properties_of_key_versions("legacy-signing"))
        assert [v.version for v in versions] == [original.properties.version], "adoption created a new version"
    assert body["status"]["currentVersion"] == original.properties.version


# -- key rotation --------------------------------------------------------------------------------------------------


def test_key_rotation(stack: Stack, hsm_uri: str) -> None:
    stack.apply(EXAMPLES / "key-rotation")
    before = stack.wait_condition("hsmkey", "token-signing")["status"]
    assert before["versionCount"] == 1
    published = stack.must_get("configmap", "token-signing-public")["data"]["jwk.json"]
    with stack.keys(hsm_uri) as keys:
        policy = keys.get_key_rotation_policy("token-signing")
        assert policy.expires_in == "P1Y"
        actions = [(a.action, a.time_before_expiry) for a in policy.lifetime_actions]
        assert actions == [(KeyRotationPolicyAction.rotate, "P30D")]

    stack.kubectl("annotate", "hsmkey", "token-signing", "-n", NS, "mhsm.dev/rotate=first", "--overwrite")

    def rotated() -> dict[str, Any] | None:
        status = stack.must_get("hsmkey", "token-signing").get("status") or {}
        return status if status.get("versionCount") == 2 else None

    after: dict[str, Any] = stack.eventually(rotated, "token-signing to be rotated")
    assert after["currentVersion"] != before["currentVersion"]
    assert after.get("lastRotationTime")
    assert after.get("lastRotationTime") != before.get("lastRotationTime")
    with stack.keys(hsm_uri) as keys:
        current = keys.get_key("token-signing")
        assert current.properties.version == after["currentVersion"]
        assert len(list(keys.list_properties_of_key_versions("token-signing"))) == 2

    def published_now() -> dict[str, Any] | None:
        jwk = json.loads(stack.must_get("configmap", "token-signing-public")["data"]["jwk.json"])
        return jwk if jwk != json.loads(published) else None

    jwk: dict[str, Any] = stack.eventually(published_now, "the ConfigMap to publish the new public key")
    assert base64.urlsafe_b64decode(jwk["x"] + "==") == current.key.x
    assert jwk.get("kid") in (None, current.id)

    # The same annotation value again (and a forced pass) does not rotate again.
    stack.kubectl("annotate", "hsmkey", "token-signing", "-n", NS, "mhsm.dev/rotate=first", "--overwrite")
    stack.kubectl(
        "annotate", "hsmkey", "token-signing", "-n", NS, f"mhsm.dev/reconcile-requested={time.time()}", "--overwrite"
    )
    previous_sync = after["lastSyncTime"]
    stack.eventually(
        lambda: stack.must_get("hsmkey", "token-signing")["status"].get("lastSyncTime") != previous_sync,
        "a pass after the repeated annotation",
    )
    assert stack.must_get("hsmkey", "token-signing")["status"]["versionCount"] == 2
    with stack.keys(hsm_uri) as keys:
        assert len(list(keys.list_properties_of_key_versions("token-signing"))) == 2


# -- deletion policies ---------------------------------------------------------------------------------------------


def test_deletion_policies(stack: Stack, hsm_uri: str) -> None:
    folder = EXAMPLES / "deletion-policies"
    stack.apply(folder)
    names = ("kept-key", "retired-key", "scratch-key")
    stack.wait_condition("hsmroleassignment", "hsm-admin-deleted-keys")
    for name in names:
        stack.wait_condition("hsmkey", name)
    stack.kubectl("delete", "-f", str(folder / "keys.yaml"), "--wait=false")
    for name in names:
        stack.eventually(lambda name=name: stack.get("hsmkey", name) is None, f"HSMKey {name} to be gone")

    with stack.keys(hsm_uri) as keys:
        assert keys.get_key("kept-key").properties.enabled is True  # Orphan: untouched
        with pytest.raises(ResourceNotFoundError):
            keys.get_key("retired-key")
        assert keys.get_deleted_key("retired-key").name == "retired-key"  # Delete: soft-deleted, recoverable
        with pytest.raises(ResourceNotFoundError):
            keys.get_key("scratch-key")
        with pytest.raises(ResourceNotFoundError):
            keys.get_deleted_key("scratch-key")  # Purge: gone entirely


# -- GitOps, continued: no perpetual diff --------------------------------------------------------------------------


def test_gitops_no_perpetual_diff(stack: Stack) -> None:
    assert GITOPS["applied_at"], "test_gitops_server_side_apply_by_argocd did not run"
    source = Path(GITOPS["source"])
    # Every object has been reconciled since Argo CD's apply (the examples above took longer than a sync interval).
    for kind, name in QUICKSTART_OBJECTS:
        stack.eventually(
            lambda kind=kind, name=name: (
                stack.must_get(kind, name)["status"].get("lastSyncTime", "") > GITOPS["applied_at"]
            ),
            f"{kind}/{name} to be reconciled after the server-side apply",
            timeout=2 * SYNC_INTERVAL + 30,
        )
    diff = stack.kubectl("diff", "--server-side", "--field-manager=argocd", "-f", str(source), check=False)
    assert diff.returncode == 0, f"perpetual diff (exit {diff.returncode}):\n{diff.stdout}\n{diff.stderr}"
    assert diff.stdout == ""

    for kind, name in QUICKSTART_OBJECTS:
        shown = stack.kubectl("get", kind, name, "-n", NS, "-o", "json", "--show-managed-fields")
        managers = json.loads(shown.stdout)["metadata"]["managedFields"]
        assert "argocd" in {entry["manager"] for entry in managers}
        for entry in managers:
            manager = entry["manager"]
            if manager in ("argocd", "kubectl-client-side-apply", "kubectl-annotate", "kubectl"):
                continue  # Git / the user, not the operator
            fields = entry.get("fieldsV1") or {}
            if entry.get("subresource") == "status":
                assert set(fields) <= {"f:status"}, (kind, name, entry)
                continue
            # The operator's writes to the main resource: the finalizer, nothing else.
            assert fields == {"f:metadata": {"f:finalizers": {".": {}, 'v:"mhsm.dev/finalizer"': {}}}}, (
                kind,
                name,
                manager,
                fields,
            )
