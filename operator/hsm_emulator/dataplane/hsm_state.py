"""The data plane's own state of each HSM: its sealed master key, the initial-admin seeding, activation progress.

The master key is created on the HSM's first data-plane request (in the same transaction that seeds the
``initialAdminObjectIds`` as Managed HSM Administrators at ``/``), sealed under the emulator's hardware root key
and bound to the HSM id. Doing it on first use rather than inside ARM create keeps the planes independent, and is
exact: nobody can reach the data plane before this runs, and it runs exactly once per HSM.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from hsm_emulator.crypto import sealing
from hsm_emulator.dataplane import rbac_service
from hsm_emulator.storage import Migration, Transaction

MASTER_KEY_BYTES = 32

MIGRATIONS = (
    Migration(
        "dataplane.hsm_state",
        1,
        (
            """CREATE TABLE IF NOT EXISTS dp_hsm_state (
                hsm_id TEXT PRIMARY KEY,
                sealed_master_key BLOB NOT NULL,
                sd_downloaded_at INTEGER,
                sd_required INTEGER,
                sd_certificate_count INTEGER
            )""",
        ),
    ),
)


@dataclass(frozen=True)
class HsmState:
    master_key: bytes
    sd_downloaded_at: int | None


def _binding(hsm_id: str) -> bytes:
    return f"mhsm-master-key:{hsm_id}".encode()


def ensure(tx: Transaction, root_key: bytes, hsm_id: str, initial_admins: tuple[str, ...]) -> HsmState:
    """Load the HSM's state, creating it (master key + administrator assignments) on first use."""
    row = tx.one("SELECT sealed_master_key, sd_downloaded_at FROM dp_hsm_state WHERE hsm_id = ?", (hsm_id,))
    if row is not None:
        master_key = sealing.unseal(root_key, bytes(row["sealed_master_key"]), _binding(hsm_id))
        return HsmState(master_key, row["sd_downloaded_at"])
    master_key = secrets.token_bytes(MASTER_KEY_BYTES)
    tx.execute(
        "INSERT INTO dp_hsm_state (hsm_id, sealed_master_key) VALUES (?, ?)",
        (hsm_id, sealing.seal(root_key, master_key, _binding(hsm_id))),
    )
    rbac_service.seed_administrators(tx, hsm_id, initial_admins)
    return HsmState(master_key, None)


def record_download(tx: Transaction, hsm_id: str, now: int, required: int, certificate_count: int) -> None:
    tx.execute(
        "UPDATE dp_hsm_state SET sd_downloaded_at = ?, sd_required = ?, sd_certificate_count = ? WHERE hsm_id = ?",
        (now, required, certificate_count, hsm_id),
    )


def replace_master_key(tx: Transaction, root_key: bytes, hsm_id: str, master_key: bytes) -> None:
    """Security-domain recovery (dataplane/recovery.py): the HSM takes over the uploaded domain's master key."""
    tx.execute(
        "UPDATE dp_hsm_state SET sealed_master_key = ? WHERE hsm_id = ?",
        (sealing.seal(root_key, master_key, _binding(hsm_id)), hsm_id),
    )
