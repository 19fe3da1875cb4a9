"""The official azure-identity credentials against the emulator process (sync and aio)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import jwt
import pytest
import yaml
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ClientAssertionCredential, ClientSecretCredential, UsernamePasswordCredential

from tests.support.emulator_fixtures import EmulatorHandle

pytestmark = pytest.mark.integration


def test_client_secret_credential_gets_tokens_for_both_planes(emulator: EmulatorHandle) -> None:
    credential = emulator.credential("mgmt-operator")
    sp = emulator.sp("mgmt-operator")
    for scope, audience in (
        ("https://management.azure.com/.default", "https://management.azure.com/"),
        ("https://managedhsm.azure.net/.default", "https://managedhsm.azure.net"),
    ):
        claims = jwt.decode(credential.get_token(scope).token, options={"verify_signature": False})
        assert (claims["aud"], claims["oid"], claims["tid"]) == (audience, sp.object_id, sp.tenant_id)


async def test_async_client_secret_credential(emulator: EmulatorHandle) -> None:
    async with emulator.async_credential("crypto-user") as credential:
        token = await credential.get_token("https://managedhsm.azure.net/.default")
    assert jwt.decode(token.token, options={"verify_signature": False})["oid"] == emulator.sp("crypto-user").object_id


def test_wrong_secret_raises_client_authentication_error_with_the_reason(emulator: EmulatorHandle) -> None:
    sp = emulator.sp("crypto-user")
    credential = ClientSecretCredential(sp.tenant_id, sp.app_id, "wrong", **emulator.credential_kwargs())
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215: Invalid client secret provided"):
        credential.get_token("https://managedhsm.azure.net/.default")


def test_federated_assertion_through_client_assertion_credential(fresh_emulator: Callable[..., EmulatorHandle]) -> None:
    handle = fresh_emulator()
    directory = handle.directory
    config = directory.config()
    workload = directory.sp("no-role")
    target = next(s for s in config["tenants"][0]["servicePrincipals"] if s["displayName"] == "crypto-officer")
    target["federatedCredentials"] = [
        {
            "issuer": f"{handle.url}/{directory.tenant_id}/v2.0",
            "subject": workload.object_id,
            "audiences": ["api://AzureADTokenExchange"],
        }
    ]
    handle.process.config = config
    handle.process.config_file.write_text(yaml.safe_dump(config))
    handle.process.restart()  # config is applied at every start

    def assertion() -> str:
        return handle.token("no-role", "api://AzureADTokenExchange")

    officer = directory.sp("crypto-officer")
    credential = ClientAssertionCredential(directory.tenant_id, officer.app_id, assertion, **handle.credential_kwargs())
    token = credential.get_token("https://managedhsm.azure.net/.default")
    assert jwt.decode(token.token, options={"verify_signature": False})["oid"] == officer.object_id
    other = ClientAssertionCredential(
        directory.tenant_id, directory.sp("auditor").app_id, assertion, **handle.credential_kwargs()
    )
    with pytest.raises(ClientAuthenticationError, match="AADSTS700211"):
        other.get_token("https://managedhsm.azure.net/.default")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_username_password_credential(emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    # MSAL's user-realm discovery calls https://{hostname}/common/userrealm/... and drops the authority's port
    # (msal/authority.py, user_realm_discovery), so against any non-443 authority it hits port 443. Marking the
    # host as having no realm discovery is MSAL's own mechanism for skipping it (it does so after a 404).
    import msal.authority

    monkeypatch.setattr(msal.authority.Authority, "_domains_without_user_realm_discovery", {"127.0.0.1"})
    credential = UsernamePasswordCredential(
        "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
        emulator.directory.admin_user,
        emulator.directory.admin_password,
        tenant_id=emulator.tenant_id,
        **emulator.credential_kwargs(),
    )
    token = credential.get_token("https://graph.microsoft.com/.default")
    assert jwt.decode(token.token, options={"verify_signature": False})["oid"] == emulator.directory.admin_object_id


def test_federated_assertion_from_an_external_issuer_is_checked_against_its_jwks(
    emulator: EmulatorHandle, fresh_emulator: Callable[..., EmulatorHandle]
) -> None:
    # The session emulator plays an external OIDC issuer (like a Kubernetes service-account issuer); a second
    # emulator trusts it, fetches its discovery document and JWKS over HTTPS and verifies the assertion.
    issuer = f"{emulator.url}/{emulator.tenant_id}/v2.0"
    workload = emulator.sp("no-role")
    config = emulator.directory.config()
    config["server"] = {"trustedIssuerCaFiles": [str(emulator.ca_file)]}
    target = next(s for s in config["tenants"][0]["servicePrincipals"] if s["displayName"] == "crypto-officer")
    target["federatedCredentials"] = [{"issuer": issuer, "subject": workload.object_id}]
    relying = fresh_emulator(config)
    officer = relying.sp("crypto-officer")
    credential = ClientAssertionCredential(
        officer.tenant_id,
        officer.app_id,
        lambda: emulator.token("no-role", "api://AzureADTokenExchange"),
        **relying.credential_kwargs(),
    )
    token = credential.get_token("https://managedhsm.azure.net/.default")
    claims = jwt.decode(token.token, options={"verify_signature": False})
    assert (claims["oid"], claims["iss"]) == (officer.object_id, f"{relying.url}/{officer.tenant_id}/v2.0")
    # an assertion signed by the relying emulator's own key but claiming the external issuer is refused
    forged_status, forged = relying.process.request_token(
        officer.tenant_id,
        {
            "grant_type": "client_credentials",
            "client_id": officer.app_id,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": _reissued_with_issuer(relying, workload.object_id, issuer),
            "scope": "https://managedhsm.azure.net/.default",
        },
    )
    assert (forged_status, forged["error_codes"]) == (401, [700027])


def _reissued_with_issuer(handle: EmulatorHandle, subject: str, issuer: str) -> str:
    """A token from `handle` (its key) whose claims are rewritten to name `issuer`: the signature cannot match."""
    original = handle.token("no-role", "api://AzureADTokenExchange")
    header, _, signature = original.split(".")
    claims = jwt.decode(original, options={"verify_signature": False})
    claims.update(iss=issuer, sub=subject)
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{payload}.{signature}"
