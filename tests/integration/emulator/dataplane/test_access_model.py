"""The access model end to end: activation, initial admins, plane isolation, roles, scopes, groups, custom roles,
global administrators, other tenants, audiences, disabled principals."""

from __future__ import annotations

import ssl
import uuid

import httpx
import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceExistsError
from azure.keyvault.administration import KeyVaultDataAction, KeyVaultPermission, KeyVaultRoleScope
from azure.keyvault.keys import KeyClient
from azure.keyvault.keys.crypto import CryptographyClient, EncryptionAlgorithm, SignatureAlgorithm
from azure.keyvault.securitydomain import SecurityDomainClient
from azure.mgmt.keyvault import KeyVaultManagementClient

from tests.integration.emulator.dataplane.conftest import (
    CRYPTO_USER,
    OTHER_TENANT,
    RESOURCE_GROUP,
    SUBSCRIPTION,
    ActiveHsm,
    Emulator,
    activate,
    certificate_jwk,
    create_hsm,
    object_id,
)

pytestmark = pytest.mark.integration


def forbidden(call: object) -> HttpResponseError:
    assert callable(call)
    with pytest.raises(HttpResponseError) as caught:
        call()
    assert caught.value.status_code == 403, caught.value.message
    return caught.value


def keys(hsm_uri: str, emulator: Emulator, who: str) -> KeyClient:
    return KeyClient(
        hsm_uri,
        emulator.credential(who),
        verify_challenge_resource=False,
        connection_verify=emulator.ca,
    )


def test_a_new_hsm_answers_only_security_domain_download_until_activated(
    dp_emulator: Emulator, sd_certificates: list
) -> None:
    uri = create_hsm(dp_emulator, "dp-fresh", [object_id("hsm-admin")])
    error = forbidden(lambda: keys(uri, dp_emulator, "hsm-admin").create_ec_key("k"))
    assert "not activated" in error.message
    stranger = SecurityDomainClient(
        uri, dp_emulator.credential("no-role"), verify_challenge_resource=False, connection_verify=dp_emulator.ca
    )
    body = {"certificates": [certificate_jwk(c) for _, c in sd_certificates], "required": 2}
    forbidden(lambda: stranger.begin_download(body, polling_interval=0.1).result())
    security_domain = activate(dp_emulator, uri, sd_certificates)
    assert "EncData" in security_domain
    admin = SecurityDomainClient(
        uri, dp_emulator.credential("hsm-admin"), verify_challenge_resource=False, connection_verify=dp_emulator.ca
    )
    with pytest.raises(ResourceExistsError):
        admin.begin_download(body, polling_interval=0.1).result()
    assert admin.get_download_status().status.lower() == "success"
    # Only the initial admin holds a role; it manages RBAC but has no key rights of its own.
    forbidden(lambda: keys(uri, dp_emulator, "hsm-admin").create_ec_key("k"))


def test_bad_download_requests_are_400(dp_emulator: Emulator, sd_certificates: list) -> None:
    uri = create_hsm(dp_emulator, "dp-badsd", [object_id("hsm-admin")])
    admin = SecurityDomainClient(
        uri, dp_emulator.credential("hsm-admin"), verify_challenge_resource=False, connection_verify=dp_emulator.ca
    )
    two = [certificate_jwk(c) for _, c in sd_certificates[:2]]
    with pytest.raises(HttpResponseError) as caught:
        admin.begin_download({"certificates": two, "required": 2}, polling_interval=0.1).result()
    assert caught.value.status_code == 400
    three = [certificate_jwk(c) for _, c in sd_certificates]
    with pytest.raises(HttpResponseError) as caught:
        admin.begin_download({"certificates": three, "required": 4}, polling_interval=0.1).result()
    assert caught.value.status_code == 400


def test_subscription_owner_deletes_the_hsm_but_has_no_data_plane_access(
    dp_emulator: Emulator, sd_certificates: list
) -> None:
    uri = create_hsm(dp_emulator, "dp-owned", [object_id("hsm-admin")])
    activate(dp_emulator, uri, sd_certificates)
    owner_keys = keys(uri, dp_emulator, "sub-owner")
    forbidden(lambda: owner_keys.create_ec_key("k"))
    forbidden(lambda: list(owner_keys.list_properties_of_keys()))
    forbidden(lambda: owner_keys.get_random_bytes(8))
    owner_access = ActiveHsm(uri, dp_emulator, "").access("sub-owner")
    forbidden(lambda: list(owner_access.list_role_assignments(KeyVaultRoleScope.GLOBAL)))
    forbidden(
        lambda: owner_access.create_role_assignment(KeyVaultRoleScope.GLOBAL, CRYPTO_USER, object_id("sub-owner"))
    )
    arm = KeyVaultManagementClient(
        dp_emulator.credential("sub-owner"),
        SUBSCRIPTION,
        base_url=dp_emulator.url,
        credential_scopes=["https://management.azure.com/.default"],
        connection_verify=dp_emulator.ca,
        polling_interval=0.1,
    )
    arm.managed_hsms.begin_delete(RESOURCE_GROUP, "dp-owned").result()
    with pytest.raises(HttpResponseError) as caught:
        owner_keys.create_ec_key("k2")
    assert caught.value.status_code == 404  # a deleted HSM's data plane no longer answers


def test_roles_decide_through_the_sdk(active_hsm: ActiveHsm) -> None:
    user = active_hsm.keys("crypto-user")
    user.create_ec_key("rm-key")
    auditor = active_hsm.keys("auditor")
    assert auditor.get_key("rm-key").name == "rm-key"
    forbidden(lambda: auditor.create_ec_key("rm-other"))
    forbidden(lambda: auditor.get_random_bytes(4))
    officer = active_hsm.keys("crypto-officer")
    forbidden(lambda: officer.get_key("rm-key"))
    forbidden(lambda: keys(active_hsm.uri, active_hsm.emulator, "no-role").get_key("rm-key"))
    forbidden(
        lambda: active_hsm.access("auditor").create_role_assignment(
            KeyVaultRoleScope.GLOBAL, CRYPTO_USER, object_id("auditor")
        )
    )
    assert list(active_hsm.access("auditor").list_role_assignments(KeyVaultRoleScope.GLOBAL))
    forbidden(
        lambda: active_hsm.access("crypto-user").create_role_assignment(
            KeyVaultRoleScope.GLOBAL, CRYPTO_USER, object_id("no-role")
        )
    )


def test_group_membership_grants_the_group_role(active_hsm: ActiveHsm) -> None:
    assert active_hsm.keys("group-member").create_ec_key("grp-key").name == "grp-key"


def test_key_scope_covers_that_key_only(active_hsm: ActiveHsm) -> None:
    active_hsm.keys().create_ec_key("scoped-a")
    active_hsm.keys().create_ec_key("scoped-b")
    active_hsm.access().create_role_assignment("/keys/scoped-a", CRYPTO_USER, object_id("scoped-user"))
    scoped = active_hsm.keys("scoped-user")
    key = scoped.get_key("scoped-a")
    crypto = CryptographyClient(
        key,
        active_hsm.emulator.credential("scoped-user"),
        verify_challenge_resource=False,
        connection_verify=active_hsm.emulator.ca,
    )
    assert crypto.sign(SignatureAlgorithm.es256, b"\x01" * 32).signature
    forbidden(lambda: scoped.get_key("scoped-b"))
    forbidden(lambda: list(scoped.list_properties_of_keys()))
    assignments = list(active_hsm.access().list_role_assignments("/keys/scoped-a"))
    assert any(a.properties.principal_id == object_id("scoped-user") for a in assignments)


def test_custom_role_with_not_data_actions(active_hsm: ActiveHsm) -> None:
    access = active_hsm.access()
    name = str(uuid.uuid4())
    definition = access.set_role_definition(
        KeyVaultRoleScope.GLOBAL,
        name=name,
        role_name="keys without signing",
        permissions=[
            KeyVaultPermission(
                data_actions=[
                    KeyVaultDataAction.READ_HSM_KEY,
                    KeyVaultDataAction.CREATE_HSM_KEY,
                    KeyVaultDataAction.ENCRYPT_HSM_KEY,
                    KeyVaultDataAction.SIGN_HSM_KEY,
                ],
                not_data_actions=[KeyVaultDataAction.SIGN_HSM_KEY],
            )
        ],
    )
    assert definition.role_name == "keys without signing"
    assignment = access.create_role_assignment(KeyVaultRoleScope.GLOBAL, definition.id, object_id("custom-user"))
    custom = active_hsm.keys("custom-user")
    key = custom.create_rsa_key("custom-key", size=2048)
    crypto = CryptographyClient(
        key,
        active_hsm.emulator.credential("custom-user"),
        verify_challenge_resource=False,
        connection_verify=active_hsm.emulator.ca,
    )
    assert crypto.encrypt(EncryptionAlgorithm.rsa_oaep_256, b"x").ciphertext
    forbidden(lambda: crypto.sign(SignatureAlgorithm.rs256, b"\x01" * 32))
    with pytest.raises(ResourceExistsError):
        access.delete_role_definition(KeyVaultRoleScope.GLOBAL, name)  # still assigned: 409
    access.delete_role_assignment(KeyVaultRoleScope.GLOBAL, assignment.name)
    access.delete_role_definition(KeyVaultRoleScope.GLOBAL, name)
    forbidden(lambda: custom.get_key("custom-key"))


def test_built_in_roles_are_listed_and_cannot_be_deleted(active_hsm: ActiveHsm) -> None:
    access = active_hsm.access()
    names = {d.role_name for d in access.list_role_definitions(KeyVaultRoleScope.GLOBAL)}
    assert {"Managed HSM Administrator", "Managed HSM Crypto User", "Managed HSM Crypto Auditor"} <= names
    with pytest.raises(HttpResponseError) as caught:
        access.delete_role_definition(KeyVaultRoleScope.GLOBAL, CRYPTO_USER)
    assert caught.value.status_code == 400


def test_global_administrators_are_implicit_hsm_administrators(active_hsm: ActiveHsm) -> None:
    access = active_hsm.access("global-admin")
    assert list(access.list_role_assignments(KeyVaultRoleScope.GLOBAL))
    assignment = access.create_role_assignment("/keys/ga-key", CRYPTO_USER, object_id("global-admin"))
    assert assignment.properties.scope == "/keys/ga-key"
    assert active_hsm.keys("global-admin").create_ec_key("ga-key").name == "ga-key"
    forbidden(lambda: active_hsm.keys("global-admin").create_ec_key("ga-other"))


def test_other_tenants_and_other_audiences_are_refused(active_hsm: ActiveHsm) -> None:
    stranger = KeyClient(
        active_hsm.uri,
        active_hsm.emulator.credential("stranger", OTHER_TENANT),
        verify_challenge_resource=False,
        connection_verify=active_hsm.emulator.ca,
    )
    with pytest.raises(ClientAuthenticationError):
        list(stranger.list_properties_of_keys())
    arm_token = active_hsm.emulator.credential("crypto-user").get_token("https://management.azure.com/.default")
    response = httpx.get(
        f"{active_hsm.uri}/keys?api-version=7.6",
        verify=ssl.create_default_context(cafile=active_hsm.emulator.ca),
        headers={"Authorization": f"Bearer {arm_token.token}"},
    )
    assert response.status_code == 401
    assert "WWW-Authenticate" in response.headers


def test_a_disabled_principal_loses_access_at_once(active_hsm: ActiveHsm) -> None:
    emulator = active_hsm.emulator
    active_hsm.access().create_role_assignment(KeyVaultRoleScope.GLOBAL, CRYPTO_USER, object_id("disabled-later"))
    client = active_hsm.keys("disabled-later")
    client.create_ec_key("before-disable")
    graph_token = emulator.credential("global-admin").get_token("https://graph.microsoft.com/.default").token
    response = httpx.patch(
        f"{emulator.url}/v1.0/servicePrincipals/{object_id('disabled-later')}",
        json={"accountEnabled": False},
        verify=ssl.create_default_context(cafile=emulator.ca),
        headers={"Authorization": f"Bearer {graph_token}"},
    )
    assert response.status_code in (200, 204), response.text
    with pytest.raises(ClientAuthenticationError):
        client.get_key("before-disable")
