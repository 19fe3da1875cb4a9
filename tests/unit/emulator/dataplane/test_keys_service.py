"""The keys service against a real SQLite database: versions, soft delete, limits, rotation, backup, crypto gate."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from hsm_emulator.crypto import jwk, keygen
from hsm_emulator.dataplane import b64, keys_service, keys_store, models, release_policy
from hsm_emulator.dataplane.hsm_context import HsmContext
from hsm_emulator.errors import AzureError
from hsm_emulator.storage import Database, Transaction

NOW = 1_700_000_000


@pytest.fixture
def tx(tmp_path: Path) -> Iterator[Transaction]:
    database = Database.open(tmp_path)
    database.migrate(keys_store.MIGRATIONS)
    with database.transaction() as transaction:
        yield transaction
    database.close()


def hsm(*, purge_protection: bool = False, master_key: bytes | None = None, hsm_id: str = "hsm-1") -> HsmContext:
    return HsmContext(
        id=hsm_id,
        name="h",
        tenant_id="t",
        base_url="https://127.0.0.1:8444",
        retention_days=7,
        purge_protection=purge_protection,
        master_key=master_key or secrets.token_bytes(32),
    )


def create(tx: Transaction, h: HsmContext, name: str, **body: object) -> dict[str, object]:
    return keys_service.create_key(tx, h, name, models.KeyCreateParameters.model_validate({"kty": "EC", **body}), NOW)


def error_of(call: object) -> AzureError:
    assert callable(call)
    with pytest.raises(AzureError) as caught:
        call()
    return caught.value


def test_create_returns_an_hsm_key_bundle_and_a_second_create_adds_a_version(tx: Transaction) -> None:
    h = hsm()
    first = create(tx, h, "Key-1", tags={"a": "b"})
    key = first["key"]
    assert isinstance(key, dict)
    assert key["kty"] == "EC-HSM"
    assert key["crv"] == "P-256"
    assert key["key_ops"] == ["sign", "verify"]
    assert str(key["kid"]).startswith("https://127.0.0.1:8444/keys/Key-1/")
    assert first["attributes"] == {
        "enabled": True,
        "created": NOW,
        "updated": NOW,
        "recoverableDays": 7,
        "recoveryLevel": "CustomizedRecoverable+Purgeable",
        "exportable": False,
    }
    create(tx, h, "key-1")  # names are case-insensitive: a new version of the same key
    page = keys_service.list_versions(tx, h, "KEY-1", maxresults=None, skip_token=None)
    assert len(page.items) == 2
    assert page.next_skip_token is None
    latest = keys_service.get_key(tx, h, "key-1", None)
    assert latest["key"]["kid"] == page.items[1]["kid"]  # type: ignore[index]


def test_oct_keys_show_no_material(tx: Transaction) -> None:
    bundle = create(tx, hsm(), "aes", kty="oct-HSM", key_size=256)
    assert set(bundle["key"]) == {"kid", "kty", "key_ops"}  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"kty": "RSA", "key_size": 1024}, "1024"),
        ({"kty": "EC", "crv": "P-192"}, "P-192"),
        ({"kty": "oct", "key_size": 512}, "512"),
        ({"kty": "nope"}, "Invalid kty"),
        ({"kty": "EC", "key_ops": ["fly"]}, "key_ops"),
        ({"kty": "EC", "tags": {str(i): "v" for i in range(16)}}, "15"),
        ({"kty": "EC", "attributes": {"exportable": True}}, "AKV.SKR.1004"),
        ({"kty": "EC", "attributes": {"nbf": 10, "exp": 5}}, "nbf"),
    ],
)
def test_bad_create_requests_are_400_and_write_nothing(tx: Transaction, body: dict[str, object], fragment: str) -> None:
    h = hsm()
    error = error_of(lambda: keys_service.create_key(tx, h, "k", models.KeyCreateParameters.model_validate(body), NOW))
    assert error.status == 400
    assert error.code == "BadParameter"
    assert fragment in error.message
    assert keys_store.find_key(tx, h.id, "k") is None


def test_invalid_names_are_refused(tx: Transaction) -> None:
    assert error_of(lambda: create(tx, hsm(), "bad_name")).status == 400
    assert error_of(lambda: create(tx, hsm(), "x" * 128)).status == 400


def test_paging_uses_skip_tokens_and_validates_maxresults(tx: Transaction) -> None:
    h = hsm()
    for index in range(5):
        create(tx, h, f"k{index}")
    first = keys_service.list_keys(tx, h, deleted=False, maxresults=2, skip_token=None, now=NOW)
    assert [item["kid"] for item in first.items] == [f"{h.base_url}/keys/k0", f"{h.base_url}/keys/k1"]
    third = keys_service.list_keys(tx, h, deleted=False, maxresults=2, skip_token="NA", now=NOW)
    assert [item["kid"] for item in third.items] == [f"{h.base_url}/keys/k4"]
    assert third.next_skip_token is None
    assert first.next_skip_token is not None
    for bad in (0, 26):
        error = error_of(
            lambda bad=bad: keys_service.list_keys(tx, h, deleted=False, maxresults=bad, skip_token=None, now=NOW)
        )
        assert error.status == 400


def test_soft_delete_recover_and_purge(tx: Transaction) -> None:
    h = hsm()
    create(tx, h, "k")
    deleted = keys_service.delete_key(tx, h, "k", NOW)
    assert deleted["recoveryId"] == f"{h.base_url}/deletedkeys/k"
    assert deleted["scheduledPurgeDate"] == NOW + 7 * 86400
    assert error_of(lambda: keys_service.get_key(tx, h, "k", None)).code == "KeyNotFound"
    clash = error_of(lambda: create(tx, h, "k"))
    assert clash.status == 409
    assert clash.inner_code == "ObjectIsDeletedButRecoverable"
    recovered = keys_service.recover_deleted_key(tx, h, "k", NOW)
    assert "recoveryId" not in recovered
    keys_service.delete_key(tx, h, "k", NOW)
    keys_service.purge_deleted_key(tx, h, "k", NOW)
    assert keys_store.find_key(tx, h.id, "k") is None


def test_purge_protection_refuses_purge_until_the_scheduled_date(tx: Transaction) -> None:
    h = hsm(purge_protection=True)
    create(tx, h, "k")
    keys_service.delete_key(tx, h, "k", NOW)
    error = error_of(lambda: keys_service.purge_deleted_key(tx, h, "k", NOW + 1))
    assert error.status == 403
    # After the scheduled purge date the service has purged it on its own.
    assert error_of(lambda: keys_service.get_deleted_key(tx, h, "k", NOW + 7 * 86400)).status == 404


def test_backup_restores_only_under_the_same_master_key(tx: Transaction) -> None:
    source = hsm()
    create(tx, source, "k")
    create(tx, source, "k")
    blob = keys_service.backup_key(tx, source, "k")
    same_domain = hsm(master_key=source.master_key, hsm_id="hsm-2")
    restored = keys_service.restore_key(tx, same_domain, models.KeyRestoreParameters(value=blob["value"]), NOW)
    assert restored["key"]["kid"] == keys_service.get_key(tx, source, "k", None)["key"]["kid"].replace(  # type: ignore[index]
        source.base_url, same_domain.base_url
    )
    assert len(keys_service.list_versions(tx, same_domain, "k", maxresults=None, skip_token=None).items) == 2
    clash = error_of(
        lambda: keys_service.restore_key(tx, same_domain, models.KeyRestoreParameters(value=blob["value"]), NOW)
    )
    assert clash.status == 409
    other = hsm(hsm_id="hsm-3")
    foreign = error_of(
        lambda: keys_service.restore_key(tx, other, models.KeyRestoreParameters(value=blob["value"]), NOW)
    )
    assert foreign.status == 400
    assert "security domain" in foreign.message


def test_rotation_works_without_a_policy_and_applies_a_policy_expiry(tx: Transaction) -> None:
    h = hsm()
    create(tx, h, "k")
    unpoliced = keys_service.rotate_key(tx, h, "k", NOW)
    assert unpoliced["attributes"].get("exp") is None  # type: ignore[union-attr]
    policy = models.RotationPolicyIn.model_validate(
        {
            "lifetimeActions": [{"trigger": {"timeAfterCreate": "P30D"}, "action": {"type": "Rotate"}}],
            "attributes": {"expiryTime": "P90D"},
        }
    )
    stored = keys_service.set_rotation_policy(tx, h, "k", policy, NOW)
    assert stored["attributes"] == {"created": NOW, "updated": NOW, "expiryTime": "P90D"}
    rotated = keys_service.rotate_key(tx, h, "k", NOW + 5)
    assert rotated["attributes"]["exp"] == NOW + 5 + 90 * 86400  # type: ignore[index]


@pytest.mark.parametrize(
    "policy",
    [
        {"attributes": {"expiryTime": "P27D"}},
        {"attributes": {"expiryTime": "soon"}},
        {"lifetimeActions": [{"trigger": {"timeAfterCreate": "P6D"}, "action": {"type": "Rotate"}}]},
        {"lifetimeActions": [{"trigger": {"timeBeforeExpiry": "P30D"}, "action": {"type": "Rotate"}}]},
        {
            "lifetimeActions": [{"trigger": {"timeBeforeExpiry": "P30D"}, "action": {"type": "Notify"}}],
            "attributes": {"expiryTime": "P90D"},
        },
        {"lifetimeActions": [{"trigger": {"timeAfterCreate": "P30D"}, "action": {"type": "Rotate"}}] * 2},
        {"lifetimeActions": [{"trigger": {}, "action": {"type": "Rotate"}}]},
    ],
)
def test_invalid_rotation_policies_are_refused(tx: Transaction, policy: dict[str, object]) -> None:
    h = hsm()
    create(tx, h, "k")
    error = error_of(
        lambda: keys_service.set_rotation_policy(tx, h, "k", models.RotationPolicyIn.model_validate(policy), NOW)
    )
    assert error.status == 400


def test_crypto_access_checks_ops_enabled_and_validity_window(tx: Transaction) -> None:
    h = hsm()
    create(tx, h, "k", attributes={"nbf": NOW + 100})
    with pytest.raises(AzureError, match="not yet valid"):
        keys_service.key_for_operation(tx, h, "k", None, "sign", NOW)
    keys_service.key_for_operation(tx, h, "k", None, "verify", NOW)  # verify works outside the window
    with pytest.raises(AzureError, match="not permitted"):
        keys_service.key_for_operation(tx, h, "k", None, "encrypt", NOW + 200)
    keys_service.update_key(
        tx, h, "k", None, models.KeyUpdateParameters.model_validate({"attributes": {"enabled": False}}), NOW
    )
    with pytest.raises(AzureError, match="disabled key"):
        keys_service.key_for_operation(tx, h, "k", None, "verify", NOW + 200)


# ------------------------------------------------------------------------------------------------ release policies

GOOD_POLICY = {"version": "1.0.0", "anyOf": [{"authority": "https://a.test", "allOf": [{"claim": "c", "equals": "v"}]}]}


def policy_in(document: object = GOOD_POLICY, **extra: object) -> dict[str, object]:
    data = document if isinstance(document, bytes) else json.dumps(document).encode()
    return {"data": base64.urlsafe_b64encode(data).rstrip(b"=").decode(), **extra}


def exportable(release_policy: dict[str, object]) -> dict[str, object]:
    return {"attributes": {"exportable": True}, "release_policy": release_policy}


BAD_POLICIES = [
    (policy_in(b"not json"), "release_policy.data: the release policy is not a JSON document"),
    (policy_in({"anyOf": [{"authority": "https://a.test"}]}), "anyOf[0]: an authority statement needs 'allOf'"),
    (policy_in({"version": "9", "anyOf": GOOD_POLICY["anyOf"]}), "unsupported release policy version '9'"),
    (
        policy_in({"anyOf": [{"authority": "a", "allOf": [{"claim": "c", "less": 1}]}]}),
        "unsupported condition on claim 'c' (less)",
    ),
    ({"data": "!!"}, "release_policy.data"),
    (policy_in(contentType="text/plain"), "release_policy.contentType: unsupported content type 'text/plain'"),
    (policy_in(contentType="application/json; charset=utf-16"), "charset must be utf-8"),
]


@pytest.mark.parametrize(("policy", "fragment"), BAD_POLICIES)
def test_create_and_import_validate_the_policy_grammar(
    tx: Transaction, policy: dict[str, object], fragment: str
) -> None:
    h = hsm()
    error = error_of(lambda: create(tx, h, "k", **exportable(policy)))
    assert (error.status, error.code) == (400, "BadParameter")
    assert fragment in error.message
    material = jwk.private_jwk(keygen.generate_ec())
    params = models.KeyImportParameters.model_validate({"key": material, **exportable(policy)})
    error = error_of(lambda: keys_service.import_key(tx, h, "k", params, NOW))
    assert (error.status, fragment in error.message) == (400, True)
    assert keys_store.find_key(tx, h.id, "k") is None


@pytest.mark.parametrize(("policy", "fragment"), BAD_POLICIES)
def test_update_validates_the_policy_grammar_and_keeps_the_old_one(
    tx: Transaction, policy: dict[str, object], fragment: str
) -> None:
    h = hsm()
    before = create(tx, h, "k", **exportable(policy_in()))
    update = models.KeyUpdateParameters.model_validate({"release_policy": policy})
    error = error_of(lambda: keys_service.update_key(tx, h, "k", None, update, NOW + 1))
    assert (error.status, error.code) == (400, "BadParameter")
    assert fragment in error.message
    assert keys_service.get_key(tx, h, "k", None) == before


def test_a_valid_policy_is_stored_and_parses_with_the_release_grammar(tx: Transaction) -> None:
    h = hsm()
    bundle = create(tx, h, "k", **exportable(policy_in(contentType="application/json; charset=utf-8; version=1.0")))
    stored = bundle["release_policy"]
    assert isinstance(stored, dict)
    assert stored["contentType"] == "application/json; charset=utf-8; version=1.0"
    assert stored["immutable"] is False
    parsed = release_policy.parse(b64.decode(str(stored["data"]), "data"))
    assert [a.authority for a in parsed.authorities] == ["https://a.test"]
    default = create(tx, h, "k2", **exportable(policy_in()))["release_policy"]
    assert isinstance(default, dict)
    assert default["contentType"] == "application/json; charset=utf-8"


def test_a_mutable_policy_can_be_replaced_and_made_immutable_then_never_changed(tx: Transaction) -> None:
    h = hsm()
    create(tx, h, "k", **exportable(policy_in()))
    replacement = {"anyOf": [{"authority": "https://b.test", "anyOf": [{"claim": "d", "exists": True}]}]}
    update = models.KeyUpdateParameters.model_validate({"release_policy": policy_in(replacement, immutable=True)})
    changed = keys_service.update_key(tx, h, "k", None, update, NOW + 1)
    stored = changed["release_policy"]
    assert isinstance(stored, dict)
    assert stored["immutable"] is True
    assert json.loads(b64.decode(str(stored["data"]), "data")) == replacement
    for attempt in (policy_in(), policy_in(replacement, immutable=False), policy_in(replacement, immutable=True)):
        refused = models.KeyUpdateParameters.model_validate({"release_policy": attempt})
        with pytest.raises(AzureError, match="release policy of key k is immutable") as caught:
            keys_service.update_key(tx, h, "k", None, refused, NOW + 2)
        assert (caught.value.status, caught.value.code) == (400, "BadParameter")
    assert keys_service.get_key(tx, h, "k", None) == changed
    other = models.KeyUpdateParameters.model_validate({"tags": {"still": "updatable"}})
    assert keys_service.update_key(tx, h, "k", None, other, NOW + 3)["tags"] == {"still": "updatable"}
