"""In-process throughput of the emulator's crypto recipes, next to the real service's published per-partition figures
(AZURE-API.md §9), so a slow path in ``hsm_emulator.crypto`` shows up before it shows up over HTTP.

Run: ``.venv/bin/python bench/bench_crypto_inprocess.py [seconds-per-case]`` (default 0.5 s per case).
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable

from hsm_emulator.crypto import keygen, operations, sealing

# name -> published ops/s for one partition (None: no published figure)
PUBLISHED: dict[str, int | None] = {
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


def measure(function: Callable[[], object], seconds: float) -> float:
    count, start = 0, time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        function()
        count += 1
    return count / (time.perf_counter() - start)


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 0.5
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
    print(f"{'operation':<32} {'emulator ops/s':>15} {'Azure ops/s':>12}")
    for name, function in cases.items():
        published = PUBLISHED[name]
        print(f"{name:<32} {measure(function, seconds):>15,.0f} {published if published else '-':>12}")


if __name__ == "__main__":
    main()
