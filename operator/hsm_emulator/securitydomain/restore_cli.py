"""``hsm-emulator security-domain restore-blob``: the client-side recovery step as a command (CONTRACT.md §2).

Reads the downloaded security domain, the new HSM's transfer key and quorum-many key/certificate PEM pairs, and
writes the body for ``POST /securitydomain/upload``. Any failure (too few usable keys included) prints one clear
line on stderr and exits 1; argparse usage errors exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from hsm_emulator.securitydomain.errors import SecurityDomainError
from hsm_emulator.securitydomain.restore import restore_blob

EXIT_FAILURE = 1


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``security-domain restore-blob`` to the ``hsm-emulator`` command line."""
    group = commands.add_parser("security-domain", help="security-domain recovery tools (client side)")
    actions = group.add_subparsers(dest="security_domain_command", required=True, metavar="ACTION")
    command = actions.add_parser(
        "restore-blob",
        help="re-wrap a downloaded security domain to a new HSM's transfer key",
        description="Decrypt a security domain with at least quorum-many private keys and wrap it to the transfer "
        "key of the HSM to recover into; pass --key/--certificate once per key holder, in pairs.",
    )
    command.add_argument("--security-domain-file", required=True, type=Path, help="download result (SD.json)")
    command.add_argument("--transfer-key-file", required=True, type=Path, help="GET /securitydomain/upload result")
    command.add_argument("--key", action="append", required=True, type=Path, help="private key PEM (repeatable)")
    command.add_argument(
        "--certificate", action="append", required=True, type=Path, help="certificate PEM of the preceding --key"
    )
    command.add_argument("--output", required=True, type=Path, help="where to write the upload body (UPLOAD.json)")
    command.set_defaults(handler=run_restore_blob)


def run_restore_blob(arguments: argparse.Namespace) -> int:
    keys: list[Path] = arguments.key
    certificates: list[Path] = arguments.certificate
    if len(keys) != len(certificates):
        return _fail(f"--key and --certificate must come in pairs: got {len(keys)} key(s), {len(certificates)} cert(s)")
    try:
        security_domain = arguments.security_domain_file.read_text(encoding="utf-8")
        transfer_key = arguments.transfer_key_file.read_text(encoding="utf-8")
        pairs = [
            (key.read_bytes(), certificate.read_bytes()) for key, certificate in zip(keys, certificates, strict=True)
        ]
    except OSError as error:
        return _fail(f"cannot read {error.filename}: {error.strerror}")
    try:
        value = restore_blob(security_domain, transfer_key, pairs)
    except SecurityDomainError as error:
        return _fail(error.message)
    try:
        _write_atomically(arguments.output, json.dumps({"value": value}))
    except OSError as error:
        return _fail(f"cannot write {error.filename or arguments.output}: {error.strerror}")
    print(f"wrote {arguments.output}", flush=True)
    return 0


def _write_atomically(path: Path, text: str) -> None:
    """Write next to the target and rename, so a failed run never leaves half an upload file."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr, flush=True)
    return EXIT_FAILURE
