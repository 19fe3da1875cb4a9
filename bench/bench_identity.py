"""Identity throughput: token issue and token validation through the running emulator (HTTPS, one keep-alive
connection) versus the bare cryptographic work in-process (PyJWT RS256 sign / verify with a 2048-bit key).

The ratio shows how much the HTTP stack, form parsing, directory lookups and durable reads cost on top of the
signature itself. Run: `.venv/bin/python bench/bench_identity.py [--requests 300]`. Prints a table and writes
`bench/results/bench_identity-<utc time>.json`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "operator"))

from hsm_devtools.emulator_process import EmulatorProcess, standard_directory

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def rate(operation: Callable[[], object], count: int) -> float:
    operation()  # warm-up (connection set-up, caches)
    started = time.perf_counter()
    for _ in range(count):
        operation()
    return count / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="operations per measurement")
    arguments = parser.parse_args()
    count = arguments.requests
    directory = standard_directory()
    sp = directory.sp("crypto-user")
    with (
        tempfile.TemporaryDirectory(prefix="bench-identity-") as state,
        EmulatorProcess(Path(state), directory.config()) as emulator,
    ):
        connection = http.client.HTTPSConnection("127.0.0.1", emulator.port, context=emulator.ssl_context())
        form = urllib.parse.urlencode(
            {
                "grant_type": "client_credentials",
                "client_id": sp.app_id,
                "client_secret": sp.secret,
                "scope": "https://graph.microsoft.com/.default",
            }
        )

        def issue() -> str:
            connection.request(
                "POST",
                f"/{sp.tenant_id}/oauth2/v2.0/token",
                body=form,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            response = connection.getresponse()
            body = json.loads(response.read())
            assert response.status == 200, body
            return str(body["access_token"])

        admin_token = emulator.request_token(
            directory.tenant_id,
            {
                "grant_type": "password",
                "client_id": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
                "username": directory.admin_user,
                "password": directory.admin_password,
                "scope": "https://graph.microsoft.com/.default",
            },
        )[1]["access_token"]

        def validate() -> None:
            # The cheapest protected call: authenticate() + one directory read.
            connection.request(
                "GET", f"/v1.0/users/{directory.admin_object_id}", headers={"Authorization": f"Bearer {admin_token}"}
            )
            response = connection.getresponse()
            response.read()
            assert response.status == 200

        http_issue = rate(issue, count)
        http_validate = rate(validate, count)
        connection.close()

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = {"aud": "https://managedhsm.azure.net", "iss": "https://bench/", "tid": sp.tenant_id, "oid": sp.object_id}
    token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k"})
    public_key = key.public_key()
    local_sign = rate(lambda: jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k"}), count)
    local_verify = rate(
        lambda: jwt.decode(token, public_key, algorithms=["RS256"], audience="https://managedhsm.azure.net"), count
    )

    rows = [
        ("token issue", http_issue, local_sign),
        ("token validation", http_validate, local_verify),
    ]
    print(f"{'operation':<18} {'emulator HTTPS/s':>17} {'in-process/s':>13} {'ratio':>7}")
    for name, over_http, local in rows:
        print(f"{name:<18} {over_http:>17.1f} {local:>13.1f} {local / over_http:>6.1f}x")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    result = {
        "benchmark": "identity",
        "requests": count,
        "results": [
            {
                "operation": name,
                "emulator_https_per_second": round(h, 1),
                "in_process_per_second": round(p, 1),
                "ratio": round(p / h, 2),
            }
            for name, h, p in rows
        ],
    }
    path = RESULTS_DIR / f"bench_identity-{stamp}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
