"""Deterministic names: stable across calls, distinct for distinct inputs, insensitive to equivalent spellings."""

from __future__ import annotations

import uuid

from hsm_operator.kinds.deterministic_names import role_assignment_name, role_definition_name

ROLE = "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/21dbd100-6940-42c2-9190-5d6cb909625b"
PRINCIPAL = "6f1b2a6e-0000-4000-8000-00000000000a"


def test_role_definition_name_is_a_stable_uuid5() -> None:
    name = role_definition_name("team-a", "signer")
    assert uuid.UUID(name).version == 5
    assert name == role_definition_name("team-a", "signer")
    assert name != role_definition_name("team-b", "signer")
    assert name != role_definition_name("team-a", "signer2")


def test_role_assignment_name_normalises_equivalent_spellings() -> None:
    name = role_assignment_name("https://h.example:8443/", "/keys/app", ROLE, PRINCIPAL)
    assert uuid.UUID(name).version == 5
    assert name == role_assignment_name("https://H.example:8443", "/keys/app", "/" + ROLE, PRINCIPAL.upper())


def test_role_assignment_name_differs_per_part() -> None:
    base = role_assignment_name("https://h", "/", ROLE, PRINCIPAL)
    assert base != role_assignment_name("https://other", "/", ROLE, PRINCIPAL)
    assert base != role_assignment_name("https://h", "/keys", ROLE, PRINCIPAL)
    assert base != role_assignment_name("https://h", "/", ROLE[:-1] + "c", PRINCIPAL)
    assert base != role_assignment_name("https://h", "/", ROLE, PRINCIPAL[:-1] + "b")
