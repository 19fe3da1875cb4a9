"""Download -> restore-blob with quorum keys -> upload recovers the same master key; every failure is clear."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hsm_emulator.crypto.sealing import generate_sealing_key
from hsm_emulator.securitydomain import (
    NotEnoughSharesError,
    SecurityDomainError,
    TransferKey,
    create_security_domain,
    master_key_fingerprint,
    open_upload,
    parse_certificate_info,
    restore_blob,
)
from tests.unit.emulator.securitydomain.officers import Holder, certificate_info

MASTER_KEY = bytes(range(100, 132))


@pytest.fixture(scope="module")
def domain(holders: list[Holder]) -> str:
    """A 3-of-5 security domain of MASTER_KEY."""
    return create_security_domain(MASTER_KEY, certificate_info(holders, 3))


def test_document_has_the_real_shape(domain: str, holders: list[Holder]) -> None:
    document = json.loads(domain)
    assert set(document) == {"EncData", "SharedKeys", "Fingerprint", "version"}
    assert document["version"] == "1.0"
    assert document["EncData"]["kdf"] == "sp108_kdf"
    assert [entry["tag"] for entry in document["EncData"]["data"]] == ["hsm_backup"]
    assert document["SharedKeys"]["required"] == 3
    shares = document["SharedKeys"]["enc_shares"]
    assert [share["x5t_256"] for share in shares] == [holder.jwk()["x5t#S256"] for holder in holders]
    assert all(share["enc_key"].count(".") == 4 for share in shares)
    assert document["Fingerprint"] == master_key_fingerprint(MASTER_KEY)
    assert MASTER_KEY.hex() not in domain


@pytest.mark.parametrize("chosen", [[0, 1, 2], [4, 2, 0], [1, 2, 3, 4], [0, 1, 2, 3, 4]])
def test_any_quorum_recovers_the_master_key(
    domain: str, holders: list[Holder], transfer_key: TransferKey, chosen: list[int]
) -> None:
    upload = restore_blob(domain, transfer_key.response(), [holders[index].pair for index in chosen])
    assert open_upload(upload, transfer_key) == MASTER_KEY


def test_upload_has_the_real_shape(domain: str, holders: list[Holder], transfer_key: TransferKey) -> None:
    document = json.loads(restore_blob(domain, transfer_key.response(), [h.pair for h in holders[:3]]))
    assert set(document) == {"EncData", "WrappedKey", "Fingerprint", "version"}
    assert document["WrappedKey"]["x5t_256"] == transfer_key.thumbprint
    assert document["EncData"]["kdf"] == "sp108_kdf"


def test_envelopes_and_string_forms_are_accepted(domain: str, holders: list[Holder], transfer_key: TransferKey) -> None:
    download_body = json.dumps({"value": domain})
    transfer_body = json.dumps(transfer_key.response())
    upload = restore_blob(download_body, transfer_body, [h.pair for h in holders[2:5]])
    assert open_upload(json.dumps({"value": upload}), transfer_key) == MASTER_KEY
    as_string = {"key_format": "jwk", "transfer_key": json.dumps(transfer_key.jwk())}
    assert open_upload(restore_blob(domain, as_string, [h.pair for h in holders[:3]]), transfer_key) == MASTER_KEY


def test_quorum_minus_one_fails_with_counts(domain: str, holders: list[Holder], transfer_key: TransferKey) -> None:
    with pytest.raises(NotEnoughSharesError, match=r"2 usable share\(s\), 3 required \(quorum\), from 2 key\(s\)") as e:
        restore_blob(domain, transfer_key.response(), [h.pair for h in holders[:2]])
    assert e.value.code == "BadParameter"


def test_the_same_key_twice_counts_once(domain: str, holders: list[Holder], transfer_key: TransferKey) -> None:
    with pytest.raises(NotEnoughSharesError, match=r"2 usable share\(s\), 3 required"):
        restore_blob(domain, transfer_key.response(), [holders[0].pair, holders[0].pair, holders[1].pair])


def test_a_foreign_key_is_skipped_and_named(
    domain: str, holders: list[Holder], outsider: Holder, transfer_key: TransferKey
) -> None:
    pairs = [holders[0].pair, outsider.pair, holders[1].pair, holders[2].pair]
    assert open_upload(restore_blob(domain, transfer_key.response(), pairs), transfer_key) == MASTER_KEY
    with pytest.raises(NotEnoughSharesError, match=r"key 2 \(CN=not-an-officer\) holds no share of this security"):
        restore_blob(domain, transfer_key.response(), pairs[:3])


def test_key_and_certificate_must_belong_together(
    domain: str, holders: list[Holder], transfer_key: TransferKey
) -> None:
    mismatched = (holders[0].key_pem, holders[1].certificate_pem)
    with pytest.raises(SecurityDomainError, match="Key 2 does not belong to certificate 2"):
        restore_blob(domain, transfer_key.response(), [holders[2].pair, mismatched, holders[3].pair])


@pytest.mark.parametrize(
    ("pair", "message"),
    [
        ((b"garbage", b""), "Key 1 is not an unencrypted PEM private key"),
        (None, "Certificate 1 is not a PEM X.509 certificate"),
    ],
)
def test_unreadable_pem(
    domain: str, holders: list[Holder], transfer_key: TransferKey, pair: tuple[bytes, bytes] | None, message: str
) -> None:
    pair = pair or (holders[0].key_pem, b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(SecurityDomainError, match=message):
        restore_blob(domain, transfer_key.response(), [pair, holders[1].pair, holders[2].pair])


def test_shares_of_another_domain_do_not_recombine(holders: list[Holder], transfer_key: TransferKey) -> None:
    first = json.loads(create_security_domain(MASTER_KEY, certificate_info(holders[:3], 2)))
    second = json.loads(create_security_domain(MASTER_KEY, certificate_info(holders[:3], 2)))
    mixed = {
        **first,
        "SharedKeys": {
            **first["SharedKeys"],
            "enc_shares": [
                first["SharedKeys"]["enc_shares"][0],
                second["SharedKeys"]["enc_shares"][1],
                first["SharedKeys"]["enc_shares"][2],
            ],
        },
    }
    with pytest.raises(SecurityDomainError, match="do not recombine to this security domain's key"):
        restore_blob(json.dumps(mixed), transfer_key.response(), [holders[0].pair, holders[1].pair])


def test_fingerprint_must_match(domain: str, holders: list[Holder], transfer_key: TransferKey) -> None:
    forged = {**json.loads(domain), "Fingerprint": master_key_fingerprint(bytes(32))}
    with pytest.raises(SecurityDomainError, match="does not match the domain's Fingerprint"):
        restore_blob(json.dumps(forged), transfer_key.response(), [h.pair for h in holders[:3]])


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: "not json", r"The security domain is not valid JSON"),
        (
            lambda d: json.dumps({k: v for k, v in json.loads(d).items() if k != "SharedKeys"}),
            r"SharedKeys: Field required",
        ),
        (lambda d: json.dumps({**json.loads(d), "version": "2.0"}), r"version: Input should be '1.0'"),
        (lambda d: json.dumps({**json.loads(d), "EncData": {"data": [], "kdf": "sp108_kdf"}}), r"EncData\.data: List"),
    ],
)
def test_malformed_security_domain(
    domain: str, holders: list[Holder], transfer_key: TransferKey, mutate: Any, message: str
) -> None:
    with pytest.raises(SecurityDomainError, match=message):
        restore_blob(mutate(domain), transfer_key.response(), [h.pair for h in holders[:3]])


@pytest.mark.parametrize(
    ("transfer", "message"),
    [
        ("{", "Invalid transfer key: not valid JSON"),
        ({"key_format": "pem", "transfer_key": {}}, "key_format is 'pem', not 'jwk'"),
        ({"key_format": "jwk", "transfer_key": {"kty": "RSA"}}, r"Invalid transfer key: kid: Field required"),
    ],
)
def test_malformed_transfer_key(domain: str, holders: list[Holder], transfer: Any, message: str) -> None:
    with pytest.raises(SecurityDomainError, match=message):
        restore_blob(domain, transfer, [h.pair for h in holders[:3]])


def test_transfer_key_with_inconsistent_thumbprint(
    domain: str, holders: list[Holder], transfer_key: TransferKey
) -> None:
    jwk = {**transfer_key.jwk(), "x5t#S256": holders[0].jwk()["x5t#S256"]}
    with pytest.raises(SecurityDomainError, match=r"transfer_key\.x5t#S256 is not the SHA-256 thumbprint"):
        restore_blob(domain, {"key_format": "jwk", "transfer_key": jwk}, [h.pair for h in holders[:3]])


@pytest.fixture(scope="module")
def upload(domain: str, holders: list[Holder], transfer_key: TransferKey) -> str:
    return restore_blob(domain, transfer_key.response(), [h.pair for h in holders[:3]])


def test_upload_for_another_transfer_key_is_refused(upload: str, other_transfer_key: TransferKey) -> None:
    with pytest.raises(SecurityDomainError, match="wrapped to another transfer key") as e:
        open_upload(upload, other_transfer_key)
    assert e.value.code == "BadParameter"


def test_wrapped_key_that_does_not_open_with_the_transfer_key(
    upload: str, transfer_key: TransferKey, other_transfer_key: TransferKey, domain: str, holders: list[Holder]
) -> None:
    foreign = json.loads(restore_blob(domain, other_transfer_key.response(), [h.pair for h in holders[:3]]))
    forged = {**foreign, "WrappedKey": {**foreign["WrappedKey"], "x5t_256": transfer_key.thumbprint}}
    with pytest.raises(SecurityDomainError, match="WrappedKey does not open with this HSM's transfer key"):
        open_upload(json.dumps(forged), transfer_key)


def test_tampered_upload_is_refused(upload: str, transfer_key: TransferKey) -> None:
    document = json.loads(upload)
    entry = document["EncData"]["data"][0]
    pieces = entry["compact_jwe"].split(".")
    pieces[3] = ("B" if pieces[3][0] == "A" else "A") + pieces[3][1:]
    entry["compact_jwe"] = ".".join(pieces)
    with pytest.raises(SecurityDomainError, match="The uploaded security domain was modified"):
        open_upload(json.dumps(document), transfer_key)


@pytest.mark.parametrize("value", ["", "[]", '{"EncData": {}}', '{"value": 3}'])
def test_malformed_upload(value: str, transfer_key: TransferKey) -> None:
    with pytest.raises(SecurityDomainError, match="security domain upload"):
        open_upload(value, transfer_key)


def test_master_key_must_be_32_bytes(holders: list[Holder]) -> None:
    with pytest.raises(SecurityDomainError, match="An HSM master key is 32 bytes; got 16"):
        create_security_domain(b"k" * 16, certificate_info(holders[:3], 2))


def test_parsed_certificates_can_be_reused(holders: list[Holder], transfer_key: TransferKey) -> None:
    master_key = generate_sealing_key()
    parsed = parse_certificate_info(certificate_info(holders[:3], 2))
    domain = create_security_domain(master_key, parsed)
    assert (
        open_upload(restore_blob(domain, transfer_key.response(), [h.pair for h in holders[1:3]]), transfer_key)
        == master_key
    )


def test_transfer_key_survives_storage(transfer_key: TransferKey, upload: str) -> None:
    restored = TransferKey.from_pem(transfer_key.to_pem())
    assert restored.thumbprint == transfer_key.thumbprint
    assert open_upload(upload, restored) == MASTER_KEY
    response = transfer_key.response()
    assert response["key_format"] == "jwk"
    assert set(response["transfer_key"]) == {"kid", "kty", "key_ops", "n", "e", "x5c", "x5t#S256", "alg"}


def test_stored_transfer_key_garbage_and_mismatch(transfer_key: TransferKey, other_transfer_key: TransferKey) -> None:
    with pytest.raises(SecurityDomainError, match="not a PEM private key followed by its certificate"):
        TransferKey.from_pem(b"garbage")
    key_pem = transfer_key.to_pem().split(b"-----BEGIN CERTIFICATE-----")[0]
    certificate_pem = (
        b"-----BEGIN CERTIFICATE-----" + other_transfer_key.to_pem().split(b"-----BEGIN CERTIFICATE-----")[1]
    )
    with pytest.raises(SecurityDomainError, match="does not match its certificate"):
        TransferKey.from_pem(key_pem + certificate_pem)
