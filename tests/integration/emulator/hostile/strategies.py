"""Hypothesis strategies and the property every hostile request must satisfy.

Bodies are built by mutating a valid body: some fields get plausible-but-wrong values (wrong types, out-of-range
numbers, junk strings, malformed base64url), some are dropped, unknown ones are added, and sometimes the whole body
is replaced by non-object JSON or bytes that are not JSON at all. Settings are deterministic (`derandomize=True`,
no example database) and modest, so the package stays well under a minute.
"""

from __future__ import annotations

import json
import math
import urllib.parse
from collections.abc import Callable
from typing import Any

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

FUZZ = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

NASTY_STRINGS = [
    "",
    " ",
    "\x00",
    "null",
    "true",
    "0",
    "-1",
    "é",
    "\u202e",
    "\ud7ff",
    "💥",
    "a" * 300,
    "A" * 5000,
    "../../etc/passwd",
    "%2F",
    "<script>",
    "'; DROP TABLE keys; --",
    "${jndi:ldap://x}",
]
NASTY_NUMBERS: list[Any] = [0, -1, 1, 2**31, -(2**31) - 1, 2**63, 2**64 + 1, 10**30, 0.5, -0.0, 1e308, 3.14]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(NASTY_STRINGS),
    st.sampled_from(NASTY_NUMBERS),
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=8,
)

B64URL_JUNK = st.one_of(
    st.sampled_from(["", "=", "====", "AA==", "A", "AB", "ABC", "+/+/", "a b", "é", "!!!!", "A" * 10001, "_-_-"]),
    st.text(alphabet="ABCDEFabcdef0123456789-_=+/. \n", max_size=64),
    st.binary(max_size=48).map(lambda b: urllib.parse.quote_from_bytes(b)),
)


def field_values(plausible: list[Any]) -> st.SearchStrategy[Any]:
    """A field's replacement: one of its plausible (valid or near-valid) values, or arbitrary JSON."""
    return st.one_of(st.sampled_from(plausible), json_values)


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any], fields: dict[str, st.SearchStrategy[Any]]) -> Any:
    """A mutation of `base`: at least one field replaced or dropped, maybe extra fields, sometimes not a dict."""
    shape = draw(st.integers(min_value=0, max_value=9))
    if shape == 0:
        return draw(st.one_of(st.lists(json_values, max_size=3), scalars))
    body = dict(base)
    names = sorted(fields)
    chosen = draw(st.lists(st.sampled_from(names), min_size=1, max_size=len(names), unique=True))
    for name in chosen:
        if draw(st.integers(min_value=0, max_value=5)) == 0:
            body.pop(name, None)
        else:
            body[name] = draw(fields[name])
    if draw(st.booleans()):
        body.update(draw(st.dictionaries(st.text(max_size=10), json_values, max_size=2)))
    return body


raw_bodies = st.one_of(
    st.binary(max_size=64),
    st.sampled_from([b"", b"{", b"[]", b"null", b'{"a":', b"\xff\xfe", b'{"kty": NaN}', b"{}" * 1000, b"\x00" * 10]),
)


def encode(body: Any) -> bytes:
    """JSON text of a drawn body; `bytes` pass through (deliberately not JSON). NaN/Infinity are left as Python
    writes them (invalid JSON the server must refuse)."""
    if isinstance(body, bytes):
        return body
    return json.dumps(body, allow_nan=True).encode()


def contains_non_finite(body: Any) -> bool:
    if isinstance(body, float):
        return not math.isfinite(body)
    if isinstance(body, dict):
        return any(contains_non_finite(v) for v in body.values())
    if isinstance(body, list):
        return any(contains_non_finite(v) for v in body)
    return False


path_segments = st.one_of(
    st.sampled_from(
        [
            "",
            ".",
            "..",
            "%2F",
            "%2f..%2f",
            "%2e%2e",
            "a%00b",
            "%ff",
            "%C3%A9t%C3%A9",
            "k" * 127,
            "k" * 128,
            "k" * 4000,
            "key%20name",
            "k%3Fx",
            "k%23x",
            "%E2%80%AE",
            "providers",
            "keys",
        ]
    ),
    st.text(min_size=1, max_size=40).map(lambda text: urllib.parse.quote(text, safe="")),
)


def assert_refusal_is_clean(response: httpx.Response) -> None:
    """A 4xx must carry the Azure error shape with a code and a non-empty message."""
    assert 400 <= response.status_code < 500
    body = response.json()
    assert isinstance(body, dict), response.text
    assert isinstance(body.get("error"), dict), response.text
    assert body["error"].get("code"), response.text
    assert body["error"].get("message"), response.text


def check(
    send: Callable[[], httpx.Response],
    snapshot: Callable[[], Any],
    *,
    read_only: bool = False,
) -> httpx.Response:
    """The property: never a 5xx; a 4xx (or any answer of a read-only call) leaves the state unchanged."""
    before = snapshot()
    response = send()
    assert response.status_code < 500, f"{response.status_code} {response.text[:500]}"
    if response.status_code >= 400 or read_only:
        after = snapshot()
        assert after == before, f"state changed by a {response.status_code}: {response.text[:300]}"
    if response.status_code >= 400:
        assert_refusal_is_clean(response)
    return response
