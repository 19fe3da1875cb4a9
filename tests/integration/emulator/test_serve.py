"""`hsm-emulator serve` as a real process: readiness, routing by port, HTTPS material, config errors, clean stop,
and durability of acknowledged writes across SIGKILL."""

from __future__ import annotations

import json
import signal
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509

from tests.support.emulator_fixtures import EmulatorHandle

pytestmark = pytest.mark.integration


def _get(url: str, ca_file: Path, token: str | None = None, method: str = "GET", body: Any = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    context = ssl.create_default_context(cafile=str(ca_file))
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, json.loads(raw) if raw else None


def test_healthz_answers_without_authentication(emulator: EmulatorHandle) -> None:
    assert _get(f"{emulator.url}/healthz", emulator.ca_file) == (200, {"status": "ok"})


def test_unknown_path_is_a_404_in_azure_shape_on_main_and_hsm_ports(emulator: EmulatorHandle) -> None:
    status, body = _get(f"{emulator.url}/no/such/path", emulator.ca_file)
    assert status == 404
    assert body["error"]["code"] == "NotFound"
    assert "/no/such/path" in body["error"]["message"]
    hsm_url = emulator.url.rsplit(":", 1)[0] + f":{emulator.hsm_ports[-1]}"
    status, body = _get(f"{hsm_url}/healthz", emulator.ca_file)
    assert status in (401, 404)  # the data plane owns HSM ports: no /healthz there
    assert set(body["error"]) >= {"code", "message"}


def test_server_certificate_names_loopback_and_chains_to_the_ca(emulator: EmulatorHandle) -> None:
    cert = x509.load_pem_x509_certificate((emulator.ca_file.parent / "tls.crt").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert "127.0.0.1" in [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    # and the CA verifies it when connecting by name
    assert _get(f"https://localhost:{emulator.process.port}/healthz", emulator.ca_file)[0] == 200


def test_sigterm_stops_cleanly_with_exit_code_zero(fresh_emulator: Callable[..., EmulatorHandle]) -> None:
    handle = fresh_emulator()
    assert handle.process.stop() == 0


def test_acknowledged_writes_survive_sigkill_and_restart(fresh_emulator: Callable[..., EmulatorHandle]) -> None:
    handle = fresh_emulator()
    admin = handle.admin_token()
    created = []
    for index in range(5):
        status, body = _get(
            f"{handle.url}/v1.0/users",
            handle.ca_file,
            admin,
            "POST",
            {
                "accountEnabled": True,
                "displayName": f"User {index}",
                "userPrincipalName": f"user{index}@contoso.test",
                "passwordProfile": {"password": f"pw-{index}"},
            },
        )
        assert status == 201, body
        created.append(body["id"])
    ca_before = handle.ca_file.read_bytes()
    handle.process.kill()  # no shutdown code runs: only what was committed before each 201 survives
    handle.process.restart()
    assert handle.ca_file.read_bytes() == ca_before  # CA reused: clients keep trusting the restarted server
    # the old token still verifies: the signing key survived too
    status, body = _get(f"{handle.url}/v1.0/users", handle.ca_file, admin)
    assert status == 200
    assert set(created) <= {user["id"] for user in body["value"]}


def _serve(tmp_path: Path, config: Any) -> subprocess.CompletedProcess[str]:
    config_file = tmp_path / "config.yaml"
    config_file.write_text(config if isinstance(config, str) else yaml.safe_dump(config))
    return subprocess.run(
        [sys.executable, "-m", "hsm_emulator", "serve", "--config", str(config_file), "--data-dir",
         str(tmp_path / "data"), "--port", "1"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"tenants": [{"id": "not-a-uuid"}]}, "config error: tenants[0].id: not a UUID"),
        ({"server": {"hostnames": []}, "tennants": []}, "config error: tennants: unknown field"),
        ("tenants: [\n  {id: 1\n", "config error: line"),
    ],
)
def test_invalid_config_exits_2_with_one_line_naming_the_field(tmp_path: Path, config: Any, expected: str) -> None:
    result = _serve(tmp_path, config)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(expected)
    assert not (tmp_path / "data").exists()  # refused before anything was written


def test_port_in_use_is_reported_in_one_line(emulator: EmulatorHandle, tmp_path: Path) -> None:
    config_file = tmp_path / "config.yaml"
    config_file.write_text("{}")
    result = subprocess.run(
        [sys.executable, "-m", "hsm_emulator", "serve", "--config", str(config_file), "--data-dir",
         str(tmp_path / "data"), "--port", str(emulator.process.port), "--hsm-ports", "1-1"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{emulator.process.port}" in result.stderr


def test_sigint_also_stops_cleanly(fresh_emulator: Callable[..., EmulatorHandle]) -> None:
    handle = fresh_emulator()
    process = handle.process
    import os

    os.kill(process.pid, signal.SIGINT)
    assert process.stop() == 0


def test_user_supplied_certificate_is_served(tmp_path: Path) -> None:
    from hsm_devtools.emulator_process import free_port_block
    from hsm_emulator.tls import ensure_tls_files

    own = ensure_tls_files(tmp_path / "own-tls", ["localhost", "127.0.0.1"])
    config_file = tmp_path / "config.yaml"
    config_file.write_text("{}")
    port = free_port_block("127.0.0.1", 2)
    process = subprocess.Popen(
        [sys.executable, "-m", "hsm_emulator", "serve", "--config", str(config_file), "--data-dir",
         str(tmp_path / "data"), "--port", str(port), "--hsm-ports", str(port + 1),
         "--tls-cert", str(own.cert_file), "--tls-key", str(own.key_file)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        ready = process.stdout.readline()
        assert ready == f"hsm-emulator ready: https://127.0.0.1:{port}\n"
        assert _get(f"https://127.0.0.1:{port}/healthz", own.ca_file)[0] == 200  # type: ignore[arg-type]
        assert not (tmp_path / "data" / "tls").exists()  # no self-made CA when a certificate is given
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0
