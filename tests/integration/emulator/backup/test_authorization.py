"""Backup, restore and security-domain upload are allowed exactly by the data actions of their roles.

AZURE-API.md section 4: Administrator holds backup/start+status, restore/start+status and the security-domain
upload, upload status and transfer-key actions; Backup holds backup/start+status only; Restore holds
restore/start+status only; Crypto User and no role hold none of them. Each call is made with a body the HSM rejects
for another reason (so an allowed call never starts a job): an allowed caller gets that other answer (400, 404,
409, 200), a denied one 403 AccessDenied naming the data action.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError

from tests.integration.emulator.backup.conftest import POLL, ActiveHsm, BackupEnv

pytestmark = pytest.mark.integration

CALLERS = ("hsm-admin", "rg-contributor", "sub-contributor", "crypto-user", "no-role")
ALLOWED = {
    "backup/start": {"hsm-admin", "rg-contributor"},
    "backup/status": {"hsm-admin", "rg-contributor"},
    "restore/start": {"hsm-admin", "sub-contributor"},
    "restore/status": {"hsm-admin", "sub-contributor"},
    "securitydomain/transferkey/read": {"hsm-admin"},
    "securitydomain/upload/action": {"hsm-admin"},
    "securitydomain/upload/read": {"hsm-admin"},
}


def _operations(env: BackupEnv, hsm: ActiveHsm, who: str) -> dict[str, Callable[[], Any]]:
    backups = env.backups(hsm.uri, who)
    domain = env.security_domain(hsm.uri, who)
    bad_url = "ftp://not-a-container"  # allowed callers get 400 InvalidStorageLocation
    return {
        "backup/start": lambda: backups.begin_backup(bad_url, sas_token="sv=x", **POLL),
        "backup/status": lambda: backups._client.full_backup_status("no-such-job"),
        "restore/start": lambda: backups.begin_restore(f"{bad_url}/folder", sas_token="sv=x", **POLL),
        "restore/status": lambda: backups._client.restore_status("no-such-job"),
        "securitydomain/transferkey/read": domain.get_transfer_key,
        # the HSM holds keys: an allowed upload is refused with 409
        "securitydomain/upload/action": lambda: domain.begin_upload({"value": "{}"}, polling_interval=0),
        "securitydomain/upload/read": domain.get_upload_status,
    }


@pytest.fixture(scope="module")
def hsm_with_a_key(backup_env: BackupEnv, source_hsm: ActiveHsm) -> ActiveHsm:
    backup_env.keys(source_hsm.uri).create_oct_key("authz-key", size=256, hardware_protected=True)
    return source_hsm


@pytest.mark.parametrize("who", CALLERS)
def test_roles_grant_exactly_their_data_actions(backup_env: BackupEnv, hsm_with_a_key: ActiveHsm, who: str) -> None:
    outcomes: dict[str, int] = {}
    denials: dict[str, str] = {}
    for action, call in _operations(backup_env, hsm_with_a_key, who).items():
        try:
            call()
            outcomes[action] = 200
        except HttpResponseError as error:
            outcomes[action] = int(error.status_code or 0)
            if error.status_code == 403:
                denials[action] = str(error)
    for action, message in denials.items():
        assert f"Not authorized to access Microsoft.KeyVault/managedHsm/{action}" in message
    allowed = {action for action, status in outcomes.items() if status != 403}
    assert allowed == {action for action, holders in ALLOWED.items() if who in holders}, outcomes
    if who == "hsm-admin":
        assert outcomes == {
            "backup/start": 400,
            "backup/status": 404,
            "restore/start": 400,
            "restore/status": 404,
            "securitydomain/transferkey/read": 200,
            "securitydomain/upload/action": 409,
            "securitydomain/upload/read": 200,
        }
