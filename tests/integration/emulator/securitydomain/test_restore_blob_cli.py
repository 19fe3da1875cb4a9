"""`hsm-emulator security-domain restore-blob` as a real process (CONTRACT.md §2): files in, upload body out,
exit 1 with a clear message when fewer than quorum keys can be used."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hsm_emulator.securitydomain import TransferKey, create_security_domain, create_transfer_key, open_upload
from tests.unit.emulator.securitydomain.officers import Holder, certificate_info, make_holder

pytestmark = pytest.mark.integration

MASTER_KEY = bytes(range(7, 39))


@pytest.fixture(scope="module")
def officers() -> list[Holder]:
    return [make_holder(f"cli-officer-{index}") for index in range(3)]


@pytest.fixture(scope="module")
def transfer_key() -> TransferKey:
    return create_transfer_key(key_bits=2048)


@pytest.fixture
def files(tmp_path: Path, officers: list[Holder], transfer_key: TransferKey) -> Path:
    """SD.json (download result), TK.json (transfer key response) and each officer's key/cert PEM in tmp_path."""
    domain = create_security_domain(MASTER_KEY, certificate_info(officers, 2))
    (tmp_path / "SD.json").write_text(json.dumps({"value": domain}))
    (tmp_path / "TK.json").write_text(json.dumps(transfer_key.response()))
    for index, officer in enumerate(officers):
        (tmp_path / f"k{index}.pem").write_bytes(officer.key_pem)
        (tmp_path / f"c{index}.pem").write_bytes(officer.certificate_pem)
    return tmp_path


def _restore_blob(directory: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "hsm_emulator", "security-domain", "restore-blob", *extra]
    return subprocess.run(command, cwd=directory, capture_output=True, text=True, timeout=60, check=False)


def _standard_arguments(*indexes: int) -> list[str]:
    arguments = ["--security-domain-file", "SD.json", "--transfer-key-file", "TK.json", "--output", "UPLOAD.json"]
    for index in indexes:
        arguments += ["--key", f"k{index}.pem", "--certificate", f"c{index}.pem"]
    return arguments


def test_quorum_keys_produce_an_upload_body(files: Path, transfer_key: TransferKey) -> None:
    result = _restore_blob(files, *_standard_arguments(2, 0))
    assert result.returncode == 0, result.stderr
    body = json.loads((files / "UPLOAD.json").read_text())
    assert set(body) == {"value"}
    assert open_upload(body["value"], transfer_key) == MASTER_KEY


def test_fewer_than_quorum_keys_exit_1_with_counts(files: Path) -> None:
    result = _restore_blob(files, *_standard_arguments(1))
    assert result.returncode == 1
    assert "1 usable share(s), 2 required (quorum)" in result.stderr
    assert not (files / "UPLOAD.json").exists()


def test_unpaired_keys_and_certificates_exit_1(files: Path) -> None:
    result = _restore_blob(files, *_standard_arguments(0, 1), "--key", "k2.pem")
    assert result.returncode == 1
    assert "--key and --certificate must come in pairs: got 3 key(s), 2 cert(s)" in result.stderr


def test_missing_file_exit_1(files: Path) -> None:
    (files / "k1.pem").unlink()
    result = _restore_blob(files, *_standard_arguments(0, 1))
    assert result.returncode == 1
    assert "cannot read k1.pem" in result.stderr


def test_missing_required_option_is_a_usage_error(files: Path) -> None:
    result = _restore_blob(files, "--security-domain-file", "SD.json")
    assert result.returncode == 2
    assert "--transfer-key-file" in result.stderr
