"""Secure Key Release policies: parsing the stored policy document and evaluating it against attestation claims.

The grammar (learn.microsoft.com, "Secure key release policy grammar"): a policy is
``{"version": "1.0.0", "anyOf": [authority, ...]}``; an authority is ``{"authority": <issuer>, "allOf" | "anyOf":
[condition, ...]}`` (one of the two, not both); a condition is a claim condition or a nested ``allOf``/``anyOf``.
A claim condition is ``{"claim": <name>, "equals": <value>}`` or ``{"claim": <name>, "exists": <bool>}``; the
earlier spelling ``{"claim", "condition": "equals", "value"}`` (the SDKs' first release tests) is read as ``equals``.
Claim names use dot notation to walk into JSON objects (``x-ms-isolation-tee.x-ms-attestation-type``); arrays are
not addressable. A claim that is absent fails its ``equals`` condition.

Comparison (the grammar is modelled on Azure Policy, whose ``equals`` ignores case): scalars are compared by their
JSON text, strings case-insensitively, so ``"SevSnpVM"`` equals ``"sevsnpvm"`` and ``true`` equals ``"true"``;
objects and arrays never equal a value. Authorities match a token's ``iss`` ignoring a trailing slash and the case
of scheme and host; an authority written without a scheme (``my.attestation.com``) means ``https://``.

The same ``parse`` checks a policy when it is set (key create, import, update: 400 BadParameter naming the fault)
and when it is evaluated at release. ``check_content_type`` checks the ``contentType`` beside it: the service default
``application/json; charset=utf-8`` (case and spaces are free; ``charset`` may be left out, JSON being UTF-8, and the
first SDK releases' ``; version=1.0`` suffix is accepted); any other media type, charset or parameter is refused.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

SUPPORTED_VERSIONS = ("1.0.0",)
DEFAULT_CONTENT_TYPE = "application/json; charset=utf-8"
_CONTENT_TYPE_PARAMETERS = {"charset": "utf-8", "version": "1.0"}
_MAX_DEPTH = 16


class PolicyError(ValueError):
    """The stored release policy does not follow the grammar; the message says where."""


@dataclass(frozen=True)
class ClaimCondition:
    claim: str
    operator: str  # "equals" or "exists"
    value: Any


@dataclass(frozen=True)
class Combination:
    operator: str  # "allOf" or "anyOf"
    conditions: tuple[Condition, ...]


Condition = ClaimCondition | Combination


@dataclass(frozen=True)
class Authority:
    authority: str
    condition: Combination


@dataclass(frozen=True)
class ReleasePolicy:
    version: str | None
    authorities: tuple[Authority, ...]


def normalize_authority(value: str) -> str:
    """The comparable form of an authority or issuer: https:// when no scheme, lower-case scheme/host, no trailing /."""
    text = value.strip()
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), parts.query, ""))


def check_content_type(value: str) -> None:
    """Raise ``PolicyError`` saying what is wrong unless ``value`` is a supported release policy content type."""
    media_type, *parameters = (part.strip() for part in value.split(";"))
    if media_type.lower() != "application/json":
        raise PolicyError(
            f"unsupported content type {value[:80]!r}: the release policy must be {DEFAULT_CONTENT_TYPE!r}."
        )
    seen: set[str] = set()
    for parameter in parameters:
        name, _, raw = parameter.partition("=")
        name, given = name.strip().lower(), raw.strip().strip('"')
        expected = _CONTENT_TYPE_PARAMETERS.get(name)
        if name in seen:
            raise PolicyError(f"content type {value[:80]!r}: the parameter {name!r} is given twice.")
        if expected is None:
            raise PolicyError(
                f"content type {value[:80]!r}: unexpected parameter {parameter[:40]!r}; "
                f"supported: {DEFAULT_CONTENT_TYPE!r} (optionally '; version=1.0')."
            )
        if given.lower() != expected:
            raise PolicyError(f"content type {value[:80]!r}: {name} must be {expected}, got {given[:40]!r}.")
        seen.add(name)


def _combination_key(node: Mapping[str, Any], where: str) -> str | None:
    keys = [k for k in node if k.lower() in ("allof", "anyof")]
    if len(keys) > 1:
        raise PolicyError(f"{where}: 'allOf' and 'anyOf' cannot both be given.")
    return keys[0] if keys else None


def _conditions(items: object, where: str, depth: int) -> tuple[Condition, ...]:
    if not isinstance(items, list) or not items:
        raise PolicyError(f"{where}: expected a non-empty array of conditions.")
    return tuple(_condition(item, f"{where}[{index}]", depth) for index, item in enumerate(items))


def _condition(node: object, where: str, depth: int) -> Condition:
    if depth > _MAX_DEPTH:
        raise PolicyError(f"{where}: conditions are nested more than {_MAX_DEPTH} levels deep.")
    if not isinstance(node, dict):
        raise PolicyError(f"{where}: a condition must be a JSON object.")
    combination = _combination_key(node, where)
    if combination is not None:
        if "claim" in node:
            raise PolicyError(f"{where}: a condition is either a claim condition or an allOf/anyOf, not both.")
        operator = "allOf" if combination.lower() == "allof" else "anyOf"
        return Combination(operator, _conditions(node[combination], f"{where}.{combination}", depth + 1))
    claim = node.get("claim")
    if not isinstance(claim, str) or not claim:
        raise PolicyError(f"{where}: a claim condition needs a non-empty string 'claim'.")
    if "equals" in node:
        return ClaimCondition(claim, "equals", _scalar(node["equals"], f"{where}.equals"))
    if "exists" in node:
        if not isinstance(node["exists"], bool):
            raise PolicyError(f"{where}.exists: expected true or false.")
        return ClaimCondition(claim, "exists", node["exists"])
    if "condition" in node:
        if node["condition"] != "equals":
            raise PolicyError(f"{where}.condition: only 'equals' is supported, got {node['condition']!r}.")
        return ClaimCondition(claim, "equals", _scalar(node.get("value"), f"{where}.value"))
    operators = sorted(set(node) - {"claim"})
    raise PolicyError(
        f"{where}: unsupported condition on claim '{claim}' ({', '.join(operators) or 'no operator'}); "
        "supported: equals, exists."
    )


def _scalar(value: object, where: str) -> object:
    if isinstance(value, str | bool | int | float):
        return value
    raise PolicyError(f"{where}: the value to match must be a string, number or boolean.")


def _no_constant(name: str) -> object:
    raise PolicyError(f"the release policy is not a JSON document ({name} is not a JSON value).")


def parse(document: bytes) -> ReleasePolicy:
    """Parse the release policy JSON (the decoded ``release_policy.data``)."""
    try:
        root = json.loads(document, parse_constant=_no_constant)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise PolicyError("the release policy is not a JSON document.") from None
    except RecursionError:
        raise PolicyError("the release policy JSON is nested too deeply to be a policy.") from None
    if not isinstance(root, dict):
        raise PolicyError("the release policy must be a JSON object.")
    version = root.get("version")
    if version is not None and version not in SUPPORTED_VERSIONS:
        raise PolicyError(
            f"unsupported release policy version {version!r}; supported: {', '.join(SUPPORTED_VERSIONS)}."
        )
    branches = root.get("anyOf")
    if not isinstance(branches, list) or not branches:
        raise PolicyError("a release policy needs a non-empty 'anyOf' array of authorities.")
    authorities = []
    for index, branch in enumerate(branches):
        where = f"anyOf[{index}]"
        if not isinstance(branch, dict) or not isinstance(branch.get("authority"), str) or not branch["authority"]:
            raise PolicyError(f"{where}: an authority statement needs a non-empty string 'authority'.")
        key = _combination_key(branch, where)
        if key is None:
            raise PolicyError(f"{where}: an authority statement needs 'allOf' or 'anyOf' conditions.")
        operator = "allOf" if key.lower() == "allof" else "anyOf"
        condition = Combination(operator, _conditions(branch[key], f"{where}.{key}", 1))
        authorities.append(Authority(branch["authority"], condition))
    return ReleasePolicy(version if isinstance(version, str) else None, tuple(authorities))


_ABSENT = object()


def claim_value(claims: Mapping[str, Any], name: str) -> object:
    """The value of a dotted claim name, or ``_ABSENT``. A literal key containing dots is tried first."""
    if name in claims:
        return claims[name]
    current: object = claims
    for part in name.split("."):
        if not isinstance(current, dict) or part not in current:
            return _ABSENT
        current = current[part]
    return current


def _text(value: object) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        return value.casefold()
    return None


def _equals(actual: object, expected: object) -> bool:
    numbers = (actual, expected)
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in numbers):
        return bool(actual == expected)
    left, right = _text(actual), _text(expected)
    return left is not None and right is not None and left == right.casefold()


def evaluate(condition: Condition, claims: Mapping[str, Any]) -> bool:
    if isinstance(condition, Combination):
        results = (evaluate(c, claims) for c in condition.conditions)
        return all(results) if condition.operator == "allOf" else any(results)
    actual = claim_value(claims, condition.claim)
    if condition.operator == "exists":
        return (actual is not _ABSENT) is bool(condition.value)
    return actual is not _ABSENT and _equals(actual, condition.value)


def branches_for_issuer(policy: ReleasePolicy, issuer: str) -> list[Authority]:
    wanted = normalize_authority(issuer)
    return [a for a in policy.authorities if normalize_authority(a.authority) == wanted]


def unmet_claims(condition: Condition, claims: Mapping[str, Any]) -> list[str]:
    """The claim names of the unmet claim conditions (for the error message); none when the condition holds."""
    if evaluate(condition, claims):
        return []
    if isinstance(condition, ClaimCondition):
        return [condition.claim]
    names: list[str] = []
    for child in condition.conditions:
        for name in unmet_claims(child, claims):
            if name not in names:
                names.append(name)
    return names
