"""Validation of the download request: counts, quorum, and each certificate's x5c, n/e, x5t#S256 and key size."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from hsm_emulator.crypto.jwk import b64url_encode
from hsm_emulator.securitydomain import SecurityDomainError, parse_certificate_info
from tests.unit.emulator.securitydomain.officers import Holder, certificate_info, make_holder


def test_valid_request_yields_holders_in_order(holders: list[Holder]) -> None:
    parsed = parse_certificate_info(certificate_info(holders[:3], 2))
    assert parsed.required == 2
    assert [holder.kid for holder in parsed.holders] == [h.certificate.subject.rfc4514_string() for h in holders[:3]]
    assert [holder.thumbprint for holder in parsed.holders] == [h.jwk()["x5t#S256"] for h in holders[:3]]


def test_required_defaults_to_two(holders: list[Holder]) -> None:
    assert parse_certificate_info({"certificates": [h.jwk() for h in holders[:3]]}).required == 2


@pytest.mark.parametrize(
    ("count", "required", "message"),
    [
        (2, 2, r"certificates: List should have at least 3 items"),
        (3, 1, r"required: Input should be greater than or equal to 2"),
        (3, 4, r"required: the quorum 4 exceeds the 3 certificates"),
        (5, 11, r"required: Input should be less than or equal to 10"),
    ],
)
def test_counts_and_quorum(holders: list[Holder], count: int, required: int, message: str) -> None:
    with pytest.raises(SecurityDomainError, match=message) as e:
        parse_certificate_info(certificate_info(holders[:count], required))
    assert e.value.code == "BadParameter"


def test_more_than_ten_certificates(holders: list[Holder]) -> None:
    body = {"certificates": [holders[index % 5].jwk() for index in range(11)], "required": 2}
    with pytest.raises(SecurityDomainError, match=r"certificates: List should have at most 10 items"):
        parse_certificate_info(body)


def _with(holders: list[Holder], index: int, **changes: Any) -> dict[str, Any]:
    body = certificate_info(holders[:3], 2)
    body["certificates"][index].update(changes)
    return body


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kty": "EC"}, r"certificates\[1\]\.kty: Input should be 'RSA'"),
        ({"alg": "RSA-OAEP"}, r"certificates\[1\]\.alg: Input should be 'RSA-OAEP-256'"),
        ({"x5c": []}, r"certificates\[1\]\.x5c: List should have at least 1 item"),
        ({"x5c": ["not base64!"]}, r"certificates\[1\]\.x5c\[0\]: not a base64 DER X.509 certificate"),
        ({"x5c": [base64.b64encode(b"not a certificate").decode()]}, r"certificates\[1\]\.x5c\[0\]: not a base64 DER"),
        ({"x5t#S256": b64url_encode(b"\x00" * 32)}, r"certificates\[1\]\.x5t#S256 is not the SHA-256 thumbprint"),
        ({"e": "AQAA"}, r"certificates\[1\]\.e does not match the public key of certificates\[1\]\.x5c\[0\]"),
        ({"n": "$$$"}, r"certificates\[1\]\.n is not a valid base64url string"),
        ({"kid": None}, r"certificates\[1\]\.kid: Input should be a valid string"),
    ],
)
def test_each_problem_names_the_field(holders: list[Holder], changes: dict[str, Any], message: str) -> None:
    with pytest.raises(SecurityDomainError, match=message):
        parse_certificate_info(_with(holders, 1, **changes))


def test_missing_thumbprint_is_named(holders: list[Holder]) -> None:
    body = certificate_info(holders[:3], 2)
    del body["certificates"][2]["x5t#S256"]
    with pytest.raises(SecurityDomainError, match=r"certificates\[2\]\.x5t#S256: Field required"):
        parse_certificate_info(body)


def test_modulus_of_another_certificate_is_rejected(holders: list[Holder]) -> None:
    with pytest.raises(SecurityDomainError, match=r"certificates\[0\]\.n does not match the public key"):
        parse_certificate_info(_with(holders, 0, n=holders[4].jwk()["n"]))


def test_same_certificate_twice_is_rejected(holders: list[Holder]) -> None:
    body = {"certificates": [holders[0].jwk(), holders[1].jwk(), holders[0].jwk()], "required": 2}
    with pytest.raises(SecurityDomainError, match=r"certificates\[2\] is the same certificate as certificates\[0\]"):
        parse_certificate_info(body)


def test_rsa_keys_under_2048_bits_are_rejected(holders: list[Holder]) -> None:
    small = make_holder("small-officer", key_bits=1024)
    body = {"certificates": [holders[0].jwk(), small.jwk(), holders[1].jwk()], "required": 2}
    with pytest.raises(SecurityDomainError, match=r"certificates\[1\]\.x5c\[0\]: RSA key of 1024 bits; at least 2048"):
        parse_certificate_info(body)


@pytest.mark.parametrize("body", [None, [], "certificates", {"required": 2}])
def test_not_an_object(body: object) -> None:
    with pytest.raises(SecurityDomainError, match="Invalid certificate set"):
        parse_certificate_info(body)  # type: ignore[arg-type]
