"""The crypto routes' work: decode the request, run ``hsm_emulator.crypto.operations``, encode the response.

Access to the key (ops, enabled, nbf/exp) is decided by ``keys_service.key_for_operation`` before this runs.
"""

from __future__ import annotations

from typing import Any

from hsm_emulator.crypto import operations
from hsm_emulator.crypto.errors import CryptoError
from hsm_emulator.crypto.material import KeyMaterial
from hsm_emulator.dataplane import b64, errors, models
from hsm_emulator.errors import AzureError

MAX_PAYLOAD_BYTES = 64 * 1024

# URL segment -> the key_ops name the key must carry.
OPERATION_BY_SEGMENT = {
    "encrypt": "encrypt",
    "decrypt": "decrypt",
    "wrapkey": "wrapKey",
    "unwrapkey": "unwrapKey",
    "sign": "sign",
    "verify": "verify",
}


def _decode(value: str | None, field: str) -> bytes | None:
    if value is None:
        return None
    try:
        data = b64.decode(value, field)
    except b64.InvalidBase64 as exc:
        raise errors.bad_parameter(str(exc)) from None
    if len(data) > MAX_PAYLOAD_BYTES:
        raise errors.bad_parameter(f"The value of '{field}' is too large ({len(data)} bytes).")
    return data


def _required(value: str, field: str) -> bytes:
    data = _decode(value, field)
    assert data is not None
    return data


def run(
    operation: str,
    kid: str,
    key: KeyMaterial,
    body: models.KeyOperationParameters | models.KeySignParameters | models.KeyVerifyParameters,
) -> dict[str, Any]:
    try:
        return _run(operation, kid, key, body)
    except CryptoError as exc:
        raise AzureError(exc.message, code=exc.code, inner_code=exc.inner_code, status=400) from None


def _run(operation: str, kid: str, key: KeyMaterial, body: Any) -> dict[str, Any]:
    if operation == "sign":
        return {"kid": kid, "value": b64.encode(operations.sign(key, body.alg, _required(body.value, "value")))}
    if operation == "verify":
        valid = operations.verify(key, body.alg, _required(body.digest, "digest"), _required(body.value, "value"))
        return {"value": valid}
    value = _required(body.value, "value")
    if operation == "encrypt":
        result = operations.encrypt(key, body.alg, value, iv=_decode(body.iv, "iv"), aad=_decode(body.aad, "aad"))
        response: dict[str, Any] = {"kid": kid, "value": b64.encode(result.ciphertext)}
        for field, data in (("iv", result.iv), ("tag", result.tag), ("aad", result.aad)):
            if data is not None:
                response[field] = b64.encode(data)
        return response
    if operation == "decrypt":
        plaintext = operations.decrypt(
            key, body.alg, value, iv=_decode(body.iv, "iv"), aad=_decode(body.aad, "aad"), tag=_decode(body.tag, "tag")
        )
        return {"kid": kid, "value": b64.encode(plaintext)}
    if operation == "wrapKey":
        return {"kid": kid, "value": b64.encode(operations.wrap_key(key, body.alg, value))}
    return {"kid": kid, "value": b64.encode(operations.unwrap_key(key, body.alg, value))}
