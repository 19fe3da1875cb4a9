"""Jobs are records in SQLite: their status survives a restart, and a job cut short by a crash is marked Failed.

The emulator is SIGKILLed while a backup is held mid-flight (its storage connection waits at a gate proxy), then
started again on the same ports and data directory.
"""

from __future__ import annotations

import pytest

from tests.integration.emulator.backup.conftest import CONTAINER, POLL, ActiveHsm, BackupEnv, job_status
from tests.integration.emulator.backup.gate_proxy import GateProxy

pytestmark = pytest.mark.integration


def test_job_status_survives_a_crash_and_the_interrupted_job_is_failed(
    backup_env: BackupEnv, source_hsm: ActiveHsm
) -> None:
    backups = backup_env.backups(source_hsm.uri)
    finished = backups.begin_backup(backup_env.container_url, sas_token=backup_env.sas, **POLL)
    folder_url = finished.result().folder_url
    assert backup_env.azurite.port is not None
    proxy = GateProxy(backup_env.azurite.port)
    try:
        held = backups.begin_backup(proxy.url(f"devstoreaccount1/{CONTAINER}"), sas_token=backup_env.sas, **POLL)
        assert proxy.wait_for_connection()
        assert job_status(backups, held)["status"] == "InProgress"

        backup_env.process.kill()
        backup_env.process.restart()

        interrupted = job_status(backups, held)
        assert interrupted["status"] == "Failed"
        assert interrupted["error"]["code"] == "JobInterrupted"
        assert "restarted" in interrupted["error"]["message"]
        done = job_status(backups, finished)
        assert done["status"] == "Succeeded"
        assert done["azureStorageBlobContainerUri"] == folder_url
    finally:
        proxy.close()
    # The interrupted job holds no lock: the next backup runs.
    assert backups.begin_backup(backup_env.container_url, sas_token=backup_env.sas, **POLL).result().folder_url
