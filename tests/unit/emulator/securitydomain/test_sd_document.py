"""The security domain's derivations: the sp108_kdf against the Azure CLI's vector, fingerprints, field paths."""

from __future__ import annotations

import pytest

from hsm_emulator.securitydomain.document import (
    SecurityDomainDocument,
    derive_data_key,
    field_path,
    master_key_fingerprint,
    parse_document,
    sp800_108,
)
from hsm_emulator.securitydomain.errors import SecurityDomainError


def test_sp800_108_matches_the_azure_cli_vector() -> None:
    # azure-cli keyvault/security_domain: KDF.test_sp800_108 (key 0x41 * 32, label "label", context "context", 256 bits)
    expected = "f0ca51f6308791404bf68b56024ee7c64d6c737716f81d47e1e68b5c4e399575"
    assert sp800_108(b"\x41" * 32, b"label", b"context", 32).hex() == expected


def test_data_keys_depend_on_the_tag_and_the_domain_key() -> None:
    key = bytes(32)
    assert derive_data_key(key, "hsm_backup") == sp800_108(key, b"hsm_backup", b"", 32)
    assert derive_data_key(key, "hsm_backup") != derive_data_key(key, "other")
    assert derive_data_key(key, "hsm_backup") != derive_data_key(b"\x01" * 32, "hsm_backup")


def test_fingerprint_is_stable_distinct_and_does_not_reveal_the_key() -> None:
    key = bytes(range(32))
    assert master_key_fingerprint(key) == master_key_fingerprint(bytes(range(32)))
    assert master_key_fingerprint(key) != master_key_fingerprint(bytes(32))
    assert key.hex() not in master_key_fingerprint(key)
    assert len(master_key_fingerprint(key)) == 43  # base64url of SHA-256, no padding


@pytest.mark.parametrize(
    ("location", "expected"),
    [(("certificates", 1, "x5c"), "certificates[1].x5c"), (("required",), "required"), ((), ""), ((0, "a"), "[0].a")],
)
def test_field_paths(location: tuple[int | str, ...], expected: str) -> None:
    assert field_path(location) == expected


def test_top_level_type_errors_name_the_document() -> None:
    with pytest.raises(SecurityDomainError, match=r"Invalid security domain: \(document\)"):
        parse_document(SecurityDomainDocument, "[]", "security domain")
