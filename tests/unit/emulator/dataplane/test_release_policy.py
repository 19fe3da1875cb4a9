"""The Secure Key Release policy grammar: parsing (every malformed shape named) and evaluation against claims."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hsm_emulator.dataplane import release_policy
from hsm_emulator.dataplane.release_policy import PolicyError, branches_for_issuer, evaluate, parse, unmet_claims

AUTHORITY = "https://attest.example.net/"


def doc(*conditions: dict[str, Any], combinator: str = "allOf", **extra: Any) -> bytes:
    return json.dumps(
        {"version": "1.0.0", "anyOf": [{"authority": AUTHORITY, combinator: list(conditions)}], **extra}
    ).encode()


def holds(policy: bytes, claims: dict[str, Any]) -> bool:
    parsed = parse(policy)
    return any(evaluate(branch.condition, claims) for branch in parsed.authorities)


NESTED = doc(
    {"claim": "x-ms-attestation-type", "equals": "sevsnpvm"},
    {
        "anyOf": [
            {"claim": "x-ms-compliance-status", "equals": "azure-compliant-cvm"},
            {"allOf": [{"claim": "tee.svn", "equals": 7}, {"claim": "tee.debug", "equals": False}]},
        ]
    },
)


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"x-ms-attestation-type": "SevSnpVM", "x-ms-compliance-status": "azure-compliant-cvm"}, True),
        ({"x-ms-attestation-type": "sevsnpvm", "tee": {"svn": 7, "debug": False}}, True),
        ({"x-ms-attestation-type": "sevsnpvm", "tee": {"svn": 7, "debug": True}}, False),
        ({"x-ms-attestation-type": "sevsnpvm", "tee": {"svn": 7.0, "debug": "false"}}, True),
        ({"x-ms-attestation-type": "sevsnpvm", "tee": {"svn": "8", "debug": False}}, False),
        ({"x-ms-attestation-type": "tdxvm", "x-ms-compliance-status": "azure-compliant-cvm"}, False),
        ({"x-ms-compliance-status": "azure-compliant-cvm"}, False),  # an absent claim fails its condition
        ({"x-ms-attestation-type": "sevsnpvm", "tee": "not-an-object"}, False),
    ],
)
def test_nested_conditions(claims: dict[str, Any], expected: bool) -> None:
    assert holds(NESTED, claims) is expected


def test_exists_and_the_legacy_condition_spelling() -> None:
    assert holds(doc({"claim": "nonce", "exists": True}), {"nonce": "x"})
    assert not holds(doc({"claim": "nonce", "exists": True}), {})
    assert holds(doc({"claim": "debug", "exists": False}), {})
    assert not holds(doc({"claim": "debug", "exists": False}), {"debug": False})
    legacy = doc({"claim": "sdk-test", "condition": "equals", "value": "true"}, combinator="anyOf")
    assert holds(legacy, {"sdk-test": True})
    assert not holds(legacy, {"sdk-test": False})


def test_numbers_and_booleans_are_not_confused() -> None:
    assert not holds(doc({"claim": "n", "equals": 1}), {"n": True})
    assert not holds(doc({"claim": "flag", "equals": True}), {"flag": 1})
    assert holds(doc({"claim": "n", "equals": 1}), {"n": 1.0})


def test_dotted_claim_names_also_match_literal_keys() -> None:
    assert holds(doc({"claim": "a.b", "equals": "v"}), {"a.b": "v"})
    assert holds(doc({"claim": "a.b", "equals": "v"}), {"a": {"b": "v"}})


def test_unmet_claims_are_named() -> None:
    parsed = parse(NESTED)
    claims = {"x-ms-attestation-type": "tdxvm", "tee": {"svn": 7, "debug": True}}
    assert unmet_claims(parsed.authorities[0].condition, claims) == [
        "x-ms-attestation-type",
        "x-ms-compliance-status",
        "tee.debug",
    ]
    assert (
        unmet_claims(
            parsed.authorities[0].condition, {"x-ms-attestation-type": "sevsnpvm", "tee": {"svn": 7, "debug": False}}
        )
        == []
    )


@pytest.mark.parametrize(
    "issuer",
    ["https://attest.example.net", "https://ATTEST.example.net/", "HTTPS://attest.example.net", "attest.example.net"],
)
def test_authority_matching_ignores_trailing_slash_case_of_host_and_missing_scheme(issuer: str) -> None:
    assert branches_for_issuer(parse(NESTED), issuer)


@pytest.mark.parametrize(
    "issuer", ["https://attest.example.net/other", "http://attest.example.net", "https://attest.example.org"]
)
def test_other_issuers_match_no_branch(issuer: str) -> None:
    assert branches_for_issuer(parse(NESTED), issuer) == []


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"{", "not a JSON document"),
        (b"[]", "must be a JSON object"),
        (b'{"anyOf": []}', "non-empty 'anyOf'"),
        (b'{"version": "2.0.0", "anyOf": [{}]}', "unsupported release policy version '2.0.0'"),
        (b'{"anyOf": [{"allOf": [{"claim": "c", "equals": 1}]}]}', "anyOf[0]: an authority statement needs"),
        (b'{"anyOf": [{"authority": "a"}]}', "anyOf[0]: an authority statement needs 'allOf' or 'anyOf'"),
        (
            b'{"anyOf": [{"authority": "a", "allOf": [{"claim": "c", "equals": 1}], "anyOf": []}]}',
            "'allOf' and 'anyOf' cannot both be given",
        ),
        (b'{"anyOf": [{"authority": "a", "allOf": []}]}', "anyOf[0].allOf: expected a non-empty array"),
        (b'{"anyOf": [{"authority": "a", "allOf": ["x"]}]}', "anyOf[0].allOf[0]: a condition must be a JSON object"),
        (b'{"anyOf": [{"authority": "a", "allOf": [{"equals": 1}]}]}', "needs a non-empty string 'claim'"),
        (
            b'{"anyOf": [{"authority": "a", "allOf": [{"claim": "c", "greater": 1}]}]}',
            "unsupported condition on claim 'c' (greater); supported: equals, exists",
        ),
        (b'{"anyOf": [{"authority": "a", "allOf": [{"claim": "c", "equals": {"o": 1}}]}]}', "must be a string"),
        (b'{"anyOf": [{"authority": "a", "allOf": [{"claim": "c", "exists": "yes"}]}]}', "expected true or false"),
        (
            b'{"anyOf": [{"authority": "a", "allOf": [{"claim": "c", "condition": "less", "value": 1}]}]}',
            "only 'equals' is supported",
        ),
    ],
)
def test_malformed_policies_are_refused_with_where(document: bytes, message: str) -> None:
    with pytest.raises(PolicyError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        parse(document)


def test_nesting_is_bounded() -> None:
    condition: dict[str, Any] = {"claim": "c", "equals": 1}
    for _ in range(release_policy._MAX_DEPTH + 1):
        condition = {"allOf": [condition]}
    with pytest.raises(PolicyError, match="nested more than"):
        parse(doc(condition))


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json; charset=utf-8",
        "Application/JSON;charset=UTF-8",
        'application/json; charset="utf-8"',
        "application/json",
        "application/json; charset=utf-8; version=1.0",
    ],
)
def test_supported_content_types(content_type: str) -> None:
    release_policy.check_content_type(content_type)


@pytest.mark.parametrize(
    ("content_type", "message"),
    [
        ("text/plain", "unsupported content type 'text/plain'"),
        ("", "unsupported content type ''"),
        ("application/json; charset=latin-1", "charset must be utf-8, got 'latin-1'"),
        ("application/json; version=2.0", "version must be 1.0, got '2.0'"),
        ("application/json; foo=1", "unexpected parameter 'foo=1'"),
        ("application/json; charset=utf-8; charset=utf-8", "the parameter 'charset' is given twice"),
    ],
)
def test_unsupported_content_types_are_named(content_type: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        release_policy.check_content_type(content_type)


def test_non_json_constants_and_absurd_nesting_are_not_policies() -> None:
    with pytest.raises(PolicyError, match="NaN is not a JSON value"):
        parse(doc({"claim": "c", "equals": float("nan")}))
    with pytest.raises(PolicyError, match="nested too deeply"):
        parse(b"[" * 100_000)
