"""SIGKILL of the emulator while 8 clients write concurrently through the official SDK; then a restart.

Writers (threads, each with its own SDK clients and no retries, so the kill ends them at once):
  - 5 key writers: create an EC P-256 key, then set a tag on it (`seq`), over and over;
  - 2 tag writers: bump the `seq` tag of one key of their own, over and over;
  - 1 role writer: create local role assignments (Crypto User at `/keys`) for fresh principal ids.
Each writer records what the server acknowledged (a 2xx received) and the one request in flight when the server
died (its outcome is unknown: either state is correct). After the restart:
  - every acknowledged key exists with exactly the acknowledged version and no other (no gaps, no extras), and is
    usable (sign in the HSM, verify);
  - every key that exists at all is complete and usable (an in-flight create either happened wholly or not at all);
  - every tag holds the last acknowledged value or the in-flight one;
  - every acknowledged role assignment exists, and no assignment exists that nobody asked for;
  - SQLite's integrity and foreign-key checks pass on the killed process's files.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from azure.core.exceptions import AzureError
from azure.keyvault.administration import KeyVaultRoleScope

from tests.reliability.conftest import CRYPTO_USER_ROLE, Azure, database_integrity, eventually
from tests.support.emulator_fixtures import EmulatorHandle

pytestmark = [pytest.mark.reliability, pytest.mark.integration]

KEY_WRITERS = 5
TAG_WRITERS = 2
ACKNOWLEDGED_BEFORE_KILL = 80  # writes acknowledged across all writers before the SIGKILL
WRITER_TIMEOUT = 60.0


@dataclass
class Ledger:
    """What one writer knows: acknowledged results, and the request in flight when the server went away."""

    keys: dict[str, str] = field(default_factory=dict)  # name -> acknowledged version
    tags: dict[str, int] = field(default_factory=dict)  # name -> last acknowledged `seq`
    assignments: set[str] = field(default_factory=set)  # acknowledged assignment names
    in_flight: tuple[str, str, int] | None = None  # (what, name, seq)
    writes: int = 0
    failure: BaseException | None = None


def run_writer(body: Callable[[Ledger, threading.Event], None], ledger: Ledger, stop: threading.Event) -> None:
    try:
        body(ledger, stop)
    except AzureError:  # the server went away mid-request: expected, the ledger says what was in flight
        pass
    except BaseException as error:  # anything else is a test bug or a wrong answer: report it
        ledger.failure = error


def test_sigkill_during_concurrent_writes_loses_no_acknowledged_write(
    fresh_emulator: Callable[..., EmulatorHandle],
) -> None:
    handle = fresh_emulator(hsm_port_count=2)
    azure = Azure(handle)
    uri = azure.active_hsm("crash")
    baseline = {a.name for a in azure.access(uri).list_role_assignments(KeyVaultRoleScope.GLOBAL)}
    stop = threading.Event()

    def key_writer(prefix: str) -> Callable[[Ledger, threading.Event], None]:
        def body(ledger: Ledger, stop: threading.Event) -> None:
            keys = azure.keys(uri, retries=0)
            index = 0
            while not stop.is_set():
                name = f"{prefix}-{index}"
                ledger.in_flight = ("create", name, 0)
                ledger.keys[name] = str(keys.create_ec_key(name, curve="P-256").properties.version)
                ledger.in_flight = ("tag", name, 1)
                keys.update_key_properties(name, tags={"seq": "1"})
                ledger.tags[name] = 1
                ledger.in_flight = None
                ledger.writes += 2
                index += 1

        return body

    def tag_writer(name: str) -> Callable[[Ledger, threading.Event], None]:
        def body(ledger: Ledger, stop: threading.Event) -> None:
            keys = azure.keys(uri, retries=0)
            ledger.keys[name] = str(keys.create_ec_key(name, curve="P-256").properties.version)
            seq = 0
            while not stop.is_set():
                seq += 1
                ledger.in_flight = ("tag", name, seq)
                keys.update_key_properties(name, tags={"seq": str(seq)})
                ledger.tags[name] = seq
                ledger.in_flight = None
                ledger.writes += 1

        return body

    def role_writer(ledger: Ledger, stop: threading.Event) -> None:
        access = azure.access(uri, retries=0)
        while not stop.is_set():
            name = str(uuid.uuid4())
            ledger.in_flight = ("assignment", name, 0)
            access.create_role_assignment(KeyVaultRoleScope.KEYS, CRYPTO_USER_ROLE, str(uuid.uuid4()), name=name)
            ledger.assignments.add(name)
            ledger.in_flight = None
            ledger.writes += 1

    bodies = [key_writer(f"k{index}") for index in range(KEY_WRITERS)]
    bodies += [tag_writer(f"tagged-{index}") for index in range(TAG_WRITERS)]
    bodies.append(role_writer)
    ledgers = [Ledger() for _ in bodies]
    threads = [
        threading.Thread(target=run_writer, args=(body, ledger, stop), name=f"writer-{index}", daemon=True)
        for index, (body, ledger) in enumerate(zip(bodies, ledgers, strict=True))
    ]
    for thread in threads:
        thread.start()
    try:
        eventually(
            lambda: (
                sum(ledger.writes for ledger in ledgers) >= ACKNOWLEDGED_BEFORE_KILL
                or any(not thread.is_alive() for thread in threads)
            ),
            what=f"{ACKNOWLEDGED_BEFORE_KILL} acknowledged writes",
            timeout=WRITER_TIMEOUT,
        )
        assert all(thread.is_alive() for thread in threads), [ledger.failure for ledger in ledgers]
        handle.process.kill()  # SIGKILL while all 8 writers have requests going
    finally:
        stop.set()
        for thread in threads:
            thread.join(WRITER_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a writer hung on the killed server"
    assert [ledger.failure for ledger in ledgers if ledger.failure] == []
    busy = sum(1 for ledger in ledgers if ledger.in_flight is not None)
    assert busy >= 1, "the kill hit no request in flight"

    assert database_integrity(handle.process.data_dir) == ("ok", [])
    started = time.monotonic()
    handle.process.restart()
    assert time.monotonic() - started < 30

    keys = azure.keys(uri)
    present = {key.name: key for key in keys.list_properties_of_keys()}
    acknowledged_keys = {name: version for ledger in ledgers for name, version in ledger.keys.items()}
    in_flight_creates = {
        ledger.in_flight[1] for ledger in ledgers if ledger.in_flight and ledger.in_flight[0] == "create"
    }
    assert set(acknowledged_keys) <= set(present), "an acknowledged key is missing"
    assert set(present) <= set(acknowledged_keys) | in_flight_creates, "a key nobody created exists"
    for name in present:
        versions = [v.version for v in keys.list_properties_of_key_versions(name)]
        if name in acknowledged_keys:
            assert versions == [acknowledged_keys[name]], name
        else:
            assert len(versions) == 1, name
        azure.sign_and_verify(uri, name)  # material present, matching the public key

    for ledger in ledgers:
        for name, seq in ledger.tags.items():
            stored = int((present[name].tags or {}).get("seq", "0"))
            in_flight_seq = ledger.in_flight[2] if ledger.in_flight and ledger.in_flight[1] == name else None
            assert stored in {seq, in_flight_seq}, (name, stored, seq, ledger.in_flight)

    role_ledger = ledgers[-1]
    existing = {a.name for a in azure.access(uri).list_role_assignments(KeyVaultRoleScope.KEYS)} - baseline
    in_flight_assignment = {role_ledger.in_flight[1]} if role_ledger.in_flight else set()
    assert role_ledger.assignments <= existing, "an acknowledged role assignment is missing"
    assert existing <= role_ledger.assignments | in_flight_assignment, "a role assignment nobody created exists"
    assert len(role_ledger.assignments) >= 1
