"""Sealing: round trip, binding to key and aad, tamper detection, versioned format."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hsm_emulator.crypto import sealing
from hsm_emulator.crypto.errors import CryptoError

KEY = bytes(range(32))


@given(plaintext=st.binary(max_size=512), aad=st.binary(max_size=64))
def test_round_trip(plaintext: bytes, aad: bytes) -> None:
    assert sealing.unseal(KEY, sealing.seal(KEY, plaintext, aad), aad) == plaintext


def test_format_is_versioned_with_a_random_nonce() -> None:
    first, second = sealing.seal(KEY, b"same", b"aad"), sealing.seal(KEY, b"same", b"aad")
    assert first[0] == second[0] == sealing.FORMAT_V1
    assert first[1:13] != second[1:13]
    assert len(first) == 1 + 12 + 4 + 16


@given(position=st.integers(min_value=0, max_value=1 + 12 + 5 + 16 - 1), bit=st.integers(min_value=0, max_value=7))
def test_any_flipped_bit_is_detected(position: int, bit: int) -> None:
    sealed = bytearray(sealing.seal(KEY, b"hello", b"aad"))
    sealed[position] ^= 1 << bit
    with pytest.raises(sealing.UnsealError):
        sealing.unseal(KEY, bytes(sealed), b"aad")


def test_wrong_aad_or_key_fails_with_a_bad_parameter() -> None:
    sealed = sealing.seal(KEY, b"hello", b"hsm-1/key-1")
    with pytest.raises(CryptoError, match="failed authentication") as e:
        sealing.unseal(KEY, sealed, b"hsm-1/key-2")
    assert e.value.code == "BadParameter"
    with pytest.raises(sealing.UnsealError, match="failed authentication"):
        sealing.unseal(sealing.generate_sealing_key(), sealed, b"hsm-1/key-1")


def test_truncated_and_unknown_versions_are_reported() -> None:
    sealed = sealing.seal(KEY, b"hello", b"")
    with pytest.raises(sealing.UnsealError, match="truncated"):
        sealing.unseal(KEY, sealed[:20], b"")
    with pytest.raises(sealing.UnsealError, match="unknown format version 2"):
        sealing.unseal(KEY, b"\x02" + sealed[1:], b"")


@pytest.mark.parametrize("length", [0, 16, 31, 33])
def test_key_must_be_256_bits(length: int) -> None:
    with pytest.raises(CryptoError, match=f"sealing key is 32 bytes; got {length}"):
        sealing.seal(b"k" * length, b"x", b"")


def test_generated_keys_are_random_256_bit() -> None:
    assert len(sealing.generate_sealing_key()) == 32
    assert sealing.generate_sealing_key() != sealing.generate_sealing_key()
