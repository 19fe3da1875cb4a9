"""Key material at rest: private keys are sealed under the HSM's master key, bound to where they belong.

The associated data names the HSM, the key and the version, so a sealed blob copied to another row or another HSM
fails to open instead of silently becoming another key. Nothing outside this module sees material in serialized form.
"""

from __future__ import annotations

from hsm_emulator.crypto import jwk, sealing
from hsm_emulator.crypto.material import KeyMaterial


def _binding(hsm_id: str, name: str, version: str) -> bytes:
    return f"mhsm-key:{hsm_id}:{name.lower()}:{version}".encode()


def seal(master_key: bytes, hsm_id: str, name: str, version: str, material: KeyMaterial) -> bytes:
    return sealing.seal(master_key, jwk.serialize_private(material), _binding(hsm_id, name, version))


def unseal(master_key: bytes, hsm_id: str, name: str, version: str, sealed: bytes) -> KeyMaterial:
    return jwk.deserialize_private(sealing.unseal(master_key, sealed, _binding(hsm_id, name, version)))
