"""The emulator's hardware root key: 32 random bytes in `DIR/hardware-root.key`, created once with mode 0600.

It stands in for the key a real HSM keeps in hardware. HSM master keys and the identity signing keys are sealed
under keys derived from it, so copying `emulator.db` without this file reveals no key material.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

HARDWARE_ROOT_KEY_FILE = "hardware-root.key"
HARDWARE_ROOT_KEY_BYTES = 32


class RootKeyError(RuntimeError):
    """The root key file exists but is unusable (wrong size or permissions): refuse to start rather than guess."""


def load_or_create_hardware_root_key(data_dir: Path) -> bytes:
    """Return the root key, creating the file atomically (O_EXCL, 0600, fsync) on first use."""
    path = data_dir / HARDWARE_ROOT_KEY_FILE
    if not path.exists():
        _create(path)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise RootKeyError(f"{path} must not be readable by group or others (mode {mode:o}); chmod 600 it")
    key = path.read_bytes()
    if len(key) != HARDWARE_ROOT_KEY_BYTES:
        raise RootKeyError(f"{path} must hold exactly {HARDWARE_ROOT_KEY_BYTES} bytes, found {len(key)}")
    return key


def _create(path: Path) -> None:
    # Write to a temporary name then link: a crash never leaves a short key file behind.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(descriptor, secrets.token_bytes(HARDWARE_ROOT_KEY_BYTES))
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    try:
        os.link(temporary, path)  # fails if another process won the race: keep its key
    except FileExistsError:
        pass
    finally:
        temporary.unlink()
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
