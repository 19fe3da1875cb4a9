"""Identity throughput: token issue and token validation through the running emulator (HTTPS, one keep-alive
connection) versus the bare cryptographic work in-process (PyJWT RS256 sign / verify with a 2048-bit key).

The ratio shows how much the HTTP stack, form parsing, directory lookups and durable reads cost on top of the
signature itself. Run alone: `.venv/bin/python bench/bench_identity.py [--quick] [--requests 300]`.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import tempfile
import urllib.parse
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

if __package__ in (None, ""):  # run as `python bench/bench_identity.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.framework import Row, rate, standalone
from hsm_devtools.emulator_process import EmulatorProcess, standard_directory

GROUP = "identity (emulated Entra ID over HTTPS)"
REFERENCE = "in-process PyJWT RS256"


def collect(arguments: argparse.Namespace) -> list[Row]:
    count = arguments.requests or (100 if arguments.quick else 300)
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
            if response.status != 200:
                raise RuntimeError(f"token request failed: {response.status} {body}")
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
            if response.status != 200:
                raise RuntimeError(f"protected call failed: {response.status}")

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
    return [
        Row(GROUP, "token issue (client credentials)", http_issue, "ops/s", local_sign, f"{REFERENCE} sign"),
        Row(GROUP, "token validation (protected GET)", http_validate, "ops/s", local_verify, f"{REFERENCE} verify"),
    ]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--requests", type=int, default=None, help="operations per measurement (default 300)")


if __name__ == "__main__":
    sys.exit(standalone(__doc__.splitlines()[0], collect, configure, stem="identity"))
