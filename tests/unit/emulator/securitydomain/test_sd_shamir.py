"""Shamir over GF(256): any quorum recovers the secret, fewer shares do not, and bad input is rejected."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hsm_emulator.securitydomain import shamir
from hsm_emulator.securitydomain.errors import SecurityDomainError


@st.composite
def sharings(draw: st.DrawFn) -> tuple[bytes, int, int, list[int]]:
    count = draw(st.integers(min_value=2, max_value=10))
    threshold = draw(st.integers(min_value=2, max_value=count))
    secret = draw(st.binary(min_size=16, max_size=48))
    order = draw(st.permutations(range(count)))
    return secret, threshold, count, list(order)


@settings(max_examples=150, deadline=None)
@given(sharings())
def test_any_quorum_subset_recovers_and_smaller_subsets_do_not(case: tuple[bytes, int, int, list[int]]) -> None:
    secret, threshold, count, order = case
    shares = shamir.split(secret, threshold, count)
    assert [share.x for share in shares] == list(range(1, count + 1))
    for size in range(threshold, count + 1):
        assert shamir.combine([shares[i] for i in order[:size]]) == secret
    if threshold > 2:
        # With threshold - 1 shares every secret is equally likely: recovering 16+ bytes by chance is negligible.
        assert shamir.combine([shares[i] for i in order[: threshold - 1]]) != secret


def test_every_3_of_5_subset_recovers() -> None:
    secret = bytes(range(32))
    shares = shamir.split(secret, 3, 5)
    for subset in itertools.combinations(shares, 3):
        assert shamir.combine(list(subset)) == secret
    for subset in itertools.combinations(shares, 2):
        assert shamir.combine(list(subset)) != secret


def test_shares_are_randomised() -> None:
    first, second = shamir.split(b"s" * 32, 2, 3), shamir.split(b"s" * 32, 2, 3)
    assert first[0].y != second[0].y


def test_a_single_share_reveals_nothing_obvious() -> None:
    secret = b"\x00" * 32
    assert all(share.y != secret for share in shamir.split(secret, 2, 5))


@given(st.binary(min_size=1, max_size=40), st.integers(min_value=1, max_value=255))
def test_share_bytes_round_trip(y: bytes, x: int) -> None:
    assert shamir.Share.from_bytes(shamir.Share(x, y).to_bytes()) == shamir.Share(x, y)


@pytest.mark.parametrize("data", [b"", b"\x01", b"\x00abc"])
def test_malformed_share_bytes(data: bytes) -> None:
    with pytest.raises(SecurityDomainError, match="share is malformed"):
        shamir.Share.from_bytes(data)


@pytest.mark.parametrize(("threshold", "count"), [(1, 3), (4, 3), (2, 256), (0, 0)])
def test_invalid_split_parameters(threshold: int, count: int) -> None:
    with pytest.raises(SecurityDomainError, match="Invalid sharing"):
        shamir.split(b"secret", threshold, count)


def test_empty_secret_is_rejected() -> None:
    with pytest.raises(SecurityDomainError, match="must not be empty"):
        shamir.split(b"", 2, 3)


def test_combine_rejects_bad_share_sets() -> None:
    shares = shamir.split(b"secret-bytes", 2, 3)
    with pytest.raises(SecurityDomainError, match="At least two shares"):
        shamir.combine(shares[:1])
    with pytest.raises(SecurityDomainError, match="distinct evaluation points"):
        shamir.combine([shares[0], shares[0]])
    with pytest.raises(SecurityDomainError, match="lengths differ"):
        shamir.combine([shares[0], shamir.Share(shares[1].x, shares[1].y[:-1])])
