"""Config validation: every bad field is refused with one line naming it; the standard config is accepted."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from hsm_devtools.emulator_process import standard_directory
from hsm_emulator.config import ConfigError, load_config, parse_config
from hsm_emulator.settings import Settings

T = "6c3c5a8e-2d3b-4a4e-9f1c-1c2b3a4d5e6f"
U = "6c3c5a8e-2d3b-4a4e-9f1c-1c2b3a4d5e60"
S = "6c3c5a8e-2d3b-4a4e-9f1c-1c2b3a4d5e61"
A = "6c3c5a8e-2d3b-4a4e-9f1c-1c2b3a4d5e62"


def _base() -> dict[str, Any]:
    return {
        "server": {"hostnames": ["hsm.test"]},
        "tenants": [
            {
                "id": T,
                "globalAdministrators": [U],
                "users": [{"objectId": U, "userPrincipalName": "a@contoso.test", "password": "pw"}],
                "groups": [{"objectId": A, "displayName": "g", "members": [U, S]}],
                "servicePrincipals": [
                    {
                        "objectId": S,
                        "appId": S.replace("6c3c", "7c3c"),
                        "displayName": "sp",
                        "clientSecret": "x",
                        "federatedCredentials": [{"issuer": "https://issuer.test", "subject": "sub"}],
                    }
                ],
            }
        ],
        "managementGroups": [{"id": "root", "tenantId": T, "parent": None}],
        "subscriptions": [
            {
                "id": S.replace("6c3c", "8c3c"),
                "tenantId": T,
                "managementGroup": "root",
                "resourceGroups": [{"name": "rg", "location": "westeurope"}],
            }
        ],
        "roleAssignments": [{"scope": "/", "roleDefinitionName": "Owner", "principalId": S}],
    }


def _set(document: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    target: Any = document
    parts = path.replace("]", "").replace("[", ".").split(".")
    for part in parts[:-1]:
        target = target[int(part)] if part.isdigit() else target[part]
    last = parts[-1]
    if value is _DELETE:
        del target[int(last) if last.isdigit() else last]
    elif last.isdigit():
        target[int(last)] = value
    else:
        target[last] = value
    return document


_DELETE = object()


def test_base_and_standard_configs_are_valid() -> None:
    config = parse_config(_base())
    assert config.tenants[0].users[0].accountEnabled is True
    assert config.server.advertisedHost == "127.0.0.1"
    parse_config(standard_directory().config())
    assert parse_config(None).tenants == []


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("tenants[0].id", "nope", "tenants[0].id: not a UUID"),
        ("tenants[0].users[0].objectId", "x", "tenants[0].users[0].objectId: not a UUID"),
        ("tenants[0].users[0].userPrincipalName", "alice", "tenants[0].users[0].userPrincipalName:"),
        ("tenants[0].users[0].password", _DELETE, "tenants[0].users[0].password: field required"),
        ("tenants[0].users[0].accountEnabled", "yes", "tenants[0].users[0].accountEnabled:"),
        ("tenants[0].users[0].nickname", "x", "tenants[0].users[0].nickname: unknown field"),
        ("tenants[0].servicePrincipals[0].appId", 42, "tenants[0].servicePrincipals[0].appId:"),
        (
            "tenants[0].servicePrincipals[0].federatedCredentials[0].issuer",
            "http://plain.test",
            "tenants[0].servicePrincipals[0].federatedCredentials[0].issuer: must be an https:// URL",
        ),
        (
            "tenants[0].servicePrincipals[0].federatedCredentials[0].audiences",
            [],
            "tenants[0].servicePrincipals[0].federatedCredentials[0].audiences:",
        ),
        (
            "tenants[0].groups[0].members[1]",
            "6c3c5a8e-2d3b-4a4e-9f1c-000000000000",
            "tenants[0].groups[0].members[1]: 6c3c5a8e-2d3b-4a4e-9f1c-000000000000 is not an object of this tenant",
        ),
        (
            "tenants[0].globalAdministrators[0]",
            "6c3c5a8e-2d3b-4a4e-9f1c-000000000000",
            "tenants[0].globalAdministrators[0]:",
        ),
        ("tenants[0].groups[0].objectId", U, "tenants[0].users[0].objectId: duplicate value"),
        ("server.hsmPorts", "9000-8000", "server.hsmPorts: must be a port range"),
        ("server.tokenClockSkewSeconds", 301, "server.tokenClockSkewSeconds:"),
        ("server.advertisedHost", "", "server.advertisedHost:"),
        ("server.colour", "blue", "server.colour: unknown field"),
        ("managementGroups[0].parent", "missing", "managementGroups[0].parent: unknown management group missing"),
        ("managementGroups[0].tenantId", "6c3c5a8e-2d3b-4a4e-9f1c-000000000000", "managementGroups[0].tenantId:"),
        ("subscriptions[0].managementGroup", "elsewhere", "subscriptions[0].managementGroup: unknown management"),
        ("subscriptions[0].resourceGroups[0].location", _DELETE, "subscriptions[0].resourceGroups[0].location:"),
        ("roleAssignments[0].scope", "subscriptions/x", "roleAssignments[0].scope:"),
        ("roleAssignments[0].roleDefinitionId", "x", "roleAssignments[0]: give exactly one of"),
        (
            "roleAssignments[0].principalId",
            "6c3c5a8e-2d3b-4a4e-9f1c-000000000000",
            "roleAssignments[0].principalId: unknown principal",
        ),
        ("tenants", {"id": T}, "tenants: Input should be a valid list"),
    ],
)
def test_bad_field_is_named(path: str, value: Any, expected: str) -> None:
    document = _set(copy.deepcopy(_base()), path, value)
    with pytest.raises(ConfigError) as raised:
        parse_config(document)
    message = str(raised.value)
    assert message.startswith(expected), message
    assert "\n" not in message


def test_yaml_problems_are_config_errors(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("tenants: []\ntenants: []\n")
    with pytest.raises(ConfigError, match="duplicate key 'tenants'"):
        load_config(path)
    path.write_text("- a list\n")
    with pytest.raises(ConfigError, match=r"\(root\): the config must be a YAML mapping"):
        load_config(path)
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "missing.yaml")


def test_uuids_are_canonicalised() -> None:
    document = _base()
    document["tenants"][0]["id"] = T.upper()
    document["managementGroups"][0]["tenantId"] = T.upper()
    document["subscriptions"][0]["tenantId"] = T
    assert parse_config(document).tenants[0].id == T


def test_settings_derive_ports_and_urls(tmp_path: Path) -> None:
    config = parse_config({"server": {"advertisedHost": "hsm.test"}})
    settings = Settings.resolve(data_dir=tmp_path, config=config, port=9000)
    assert settings.hsm_ports == tuple(range(9001, 9017))
    assert settings.issuer(T) == f"https://hsm.test:9000/{T}/v2.0"
    assert settings.hsm_url(9003) == "https://hsm.test:9003/"
    config = parse_config({"server": {"hsmPorts": "9100-9101"}})
    assert Settings.resolve(data_dir=tmp_path, config=config, port=9000).hsm_ports == (9100, 9101)
    with pytest.raises(ValueError, match="must not contain the main port"):
        Settings.resolve(data_dir=tmp_path, config=config, port=9100)
