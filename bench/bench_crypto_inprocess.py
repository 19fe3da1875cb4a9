"""In-process throughput of the emulator's crypto recipes, next to the real service's published per-partition figures
(AZURE-API.md §9), so a slow path in ``hsm_emulator.crypto`` shows up before it shows up over HTTP.

Run alone: ``.venv/bin/python bench/bench_crypto_inprocess.py [--quick] [--seconds 0.5]`` (seconds per case).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/bench_crypto_inprocess.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.framework import Row, rate_for, standalone
from hsm_emulator.crypto import keygen, operations, sealing

GROUP = "crypto recipes in-process (hsm_emulator.crypto, no HTTP)"

# name -> published ops/s for one partition (None: no published figure)
PUBLISHED: dict[str, float | None] = {
    "RSA-2048 sign RS256": 1100,
    "RSA-2048 verify RS256": 10000,
    "RSA-2048 encrypt RSA-OAEP-256": 10000,
    "RSA-2048 decrypt RSA-OAEP-256": 1100,
    "EC P-256 sign ES256": 260,
    "EC P-256 verify ES256": 130,
    "AES-256 encrypt A256GCM 4 KiB": 8000,
    "AES-256 wrap A256KW": 9000,
    "seal + unseal 4 KiB": None,
}


def collect(arguments: argparse.Namespace) -> list[Row]:
    seconds = arguments.seconds or (0.2 if arguments.quick else 0.5)
    rsa_key, ec_key, aes_key = keygen.generate_rsa(2048), keygen.generate_ec("P-256"), keygen.generate_oct(256)
    digest = hashlib.sha256(b"benchmark").digest()
    rsa_signature = operations.sign(rsa_key, "RS256", digest)
    ec_signature = operations.sign(ec_key, "ES256", digest)
    ciphertext = operations.encrypt(rsa_key, "RSA-OAEP-256", b"k" * 32).ciphertext
    payload, master_key = b"p" * 4096, sealing.generate_sealing_key()
    cases: dict[str, Callable[[], object]] = {
        "RSA-2048 sign RS256": lambda: operations.sign(rsa_key, "RS256", digest),
        "RSA-2048 verify RS256": lambda: operations.verify(rsa_key, "RS256", digest, rsa_signature),
        "RSA-2048 encrypt RSA-OAEP-256": lambda: operations.encrypt(rsa_key, "RSA-OAEP-256", b"k" * 32),
        "RSA-2048 decrypt RSA-OAEP-256": lambda: operations.decrypt(rsa_key, "RSA-OAEP-256", ciphertext),
        "EC P-256 sign ES256": lambda: operations.sign(ec_key, "ES256", digest),
        "EC P-256 verify ES256": lambda: operations.verify(ec_key, "ES256", digest, ec_signature),
        "AES-256 encrypt A256GCM 4 KiB": lambda: operations.encrypt(aes_key, "A256GCM", payload),
        "AES-256 wrap A256KW": lambda: operations.wrap_key(aes_key, "A256KW", b"k" * 32),
        "seal + unseal 4 KiB": lambda: sealing.unseal(master_key, sealing.seal(master_key, payload, b"aad"), b"aad"),
    }
    return [
        Row(GROUP, name, rate_for(function, seconds), "ops/s", published=PUBLISHED[name])
        for name, function in cases.items()
    ]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=float, default=None, help="seconds per case (default 0.5)")


if __name__ == "__main__":
    sys.exit(standalone(__doc__.splitlines()[0], collect, configure, stem="crypto-inprocess"))
