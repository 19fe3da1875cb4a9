"""Key material at rest: private keys are sealed under the HSM's master key, bound to where they belong.

The associated data names the HSM, the key and the version, so a sealed blob copied to another row or another HSM
fails to open instead of silently becoming another key. Nothing outside this module sees material in serialized form.
"""

from __future__ import annotations

from functools import lru_cache

from hsm_emulator.crypto import jwk, sealing
from hsm_emulator.crypto.material import KeyMaterial


def _binding(hsm_id: str, name: str, version: str) -> bytes:
    return f"mhsm-key:{hsm_id}:{name.lower()}:{version}".encode()


def seal(master_key: bytes, hsm_id: str, name: str, version: str, material: KeyMaterial) -> bytes:
    return sealing.seal(master_key, jwk.serialize_private(material), _binding(hsm_id, name, version))


# A version's sealed bytes never change, so the opened key can be cached: loading an RSA private key validates it
# (tens of milliseconds), which would otherwise dominate every sign/decrypt. The cache lives in process memory only,
# as keys do inside a real HSM; it is keyed by the sealed bytes, so a purged or replaced version is never served.
@lru_cache(maxsize=2048)
def unseal(master_key: bytes, hsm_id: str, name: str, version: str, sealed: bytes) -> KeyMaterial:
    return jwk.deserialize_private(sealing.unseal(master_key, sealed, _binding(hsm_id, name, version)))
