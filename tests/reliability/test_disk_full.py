"""The emulator's data directory runs out of space: writes get a clean 503, nothing is corrupted, and once space
returns everything works again with every acknowledged write intact.

The full disk is real: the data directory is a size-limited tmpfs mounted for this test (`mount -t tmpfs -o size=`,
which needs root; elsewhere the test is skipped saying so), filled with a file until the kernel answers ENOSPC.
SQLite can keep committing for a while into WAL space it already owns, so the test writes until the first refusal
(within a bound) and counts every 2xx before it as acknowledged. 503 `ServiceUnavailable` with `Retry-After` is what
Azure answers when its own storage cannot take a write: a retryable server-side condition, not the caller's fault.
"""

from __future__ import annotations

import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from hsm_devtools.emulator_process import EmulatorProcess, standard_directory
from tests.reliability.conftest import RESOURCE_GROUP, Azure, database_integrity
from tests.support.emulator_fixtures import EmulatorHandle

pytestmark = [pytest.mark.reliability, pytest.mark.integration]

FILESYSTEM_SIZE = "16m"
MAX_WRITES_UNTIL_FULL = 300  # the WAL's reusable space holds far fewer key creations than this


@pytest.fixture
def small_disk_emulator(tmp_path: Path) -> Iterator[EmulatorHandle]:
    """An emulator whose data directory is a FILESYSTEM_SIZE tmpfs; stopped before the filesystem is unmounted."""
    state_dir = tmp_path / "emulator"
    data_dir = state_dir / "data"
    data_dir.mkdir(parents=True)
    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={FILESYSTEM_SIZE},mode=0700", "tmpfs", str(data_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a size-limited tmpfs (needs root): {mount.stderr.strip()}")
    try:
        directory = standard_directory()
        with EmulatorProcess(state_dir, directory.config(), hsm_port_count=2) as process:
            yield EmulatorHandle(process, directory)
    finally:
        subprocess.run(["umount", str(data_dir)], check=True)


def fill(directory: Path) -> Path:
    """Write zeros into `directory/filler` until the filesystem refuses (ENOSPC); returns the file."""
    filler = directory / "filler"
    chunk = b"\0" * (64 * 1024)

    def write_until_refused() -> None:
        with filler.open("wb") as output:
            while True:
                output.write(chunk)
                output.flush()

    with pytest.raises(OSError, match="No space left on device"):  # ENOSPC, not some other failure
        write_until_refused()
    return filler


def healthy(handle: EmulatorHandle) -> bool:
    with urllib.request.urlopen(f"{handle.url}/healthz", context=handle.process.ssl_context(), timeout=5) as answer:
        return bool(answer.status == 200)


def assert_storage_full(error: HttpResponseError) -> None:
    assert error.status_code == 503, error
    assert error.error is not None
    assert error.error.code == "ServiceUnavailable"
    assert "storage is full" in str(error)
    assert error.response is not None
    assert error.response.headers["Retry-After"] == "5"


def test_full_disk_refuses_writes_cleanly_and_recovers(small_disk_emulator: EmulatorHandle) -> None:
    handle = small_disk_emulator
    azure = Azure(handle)
    uri = azure.active_hsm("full")
    keys = azure.keys(uri, retries=0)  # a 503 must surface at once, not after azure-core's retries
    arm = azure.arm(retries=0)
    acknowledged = {f"before-{index}": keys.create_ec_key(f"before-{index}", curve="P-256").properties.version
                    for index in range(3)}  # fmt: skip

    filler = fill(handle.process.data_dir)
    refused: HttpResponseError | None = None
    for index in range(MAX_WRITES_UNTIL_FULL):
        name = f"during-{index}"
        try:
            acknowledged[name] = keys.create_ec_key(name, curve="P-256").properties.version
        except HttpResponseError as error:
            refused = error
            break
    assert refused is not None, f"{MAX_WRITES_UNTIL_FULL} key creations fitted on a full disk"
    assert_storage_full(refused)
    with pytest.raises(ResourceNotFoundError):  # nothing of the refused write exists
        keys.get_key(name)

    # The server is not wedged: the same write is refused again (no hang), other writes too, reads still work.
    with pytest.raises(HttpResponseError) as again:
        keys.create_ec_key(name, curve="P-256")
    assert_storage_full(again.value)
    with pytest.raises(HttpResponseError) as arm_write:
        arm.managed_hsms.begin_update(RESOURCE_GROUP, "full", {"tags": {"disk": "full"}}).result()
    assert_storage_full(arm_write.value)
    assert arm_write.value.error is not None
    assert arm_write.value.error.code == "ServiceUnavailable"
    assert healthy(handle)
    assert {key.name for key in keys.list_properties_of_keys()} == set(acknowledged)
    assert database_integrity(handle.process.data_dir) == ("ok", [])

    # Space returns: writes work again at once, and every acknowledged key is intact and usable.
    filler.unlink()
    keys.create_ec_key(name, curve="P-256")
    acknowledged[name] = keys.get_key(name).properties.version
    arm.managed_hsms.begin_update(RESOURCE_GROUP, "full", {"tags": {"disk": "ok"}}).result()
    assert arm.managed_hsms.get(RESOURCE_GROUP, "full").tags == {"disk": "ok"}
    handle.process.kill()  # and it all survives a crash and a restart from the (once full) disk
    handle.process.restart()
    assert database_integrity(handle.process.data_dir) == ("ok", [])
    assert {key.name for key in keys.list_properties_of_keys()} == set(acknowledged)
    for key_name, version in acknowledged.items():
        assert [v.version for v in keys.list_properties_of_key_versions(key_name)] == [version]
        azure.sign_and_verify(uri, key_name)
