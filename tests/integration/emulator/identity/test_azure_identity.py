"""The official azure-identity credentials against the emulator process (sync and aio)."""

from __future__ import annotations

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
