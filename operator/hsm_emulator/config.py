# ruff: noqa: N815 - field names are the wire/config names (camelCase) on purpose
"""The emulator's YAML config file (CONTRACT.md §2): strict pydantic models and a loader with one-line errors.

The file seeds the directory and the ARM hierarchy at every start (upsert). Anything unknown or ill-typed is refused
before the server starts (`config error: tenants[0].users[1].objectId: not a UUID`, exit code 2), because a silently
ignored typo in a test fixture would make a security test pass for the wrong reason.

Beyond CONTRACT.md, documented in docs/emulator-design.md: `server.advertisedHost`, `server.hsmPorts`,
`server.tokenClockSkewSeconds`, `server.trustedIssuerCaFiles`, and `federatedCredentials` on managed identities.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from hsm_emulator.validation import describe_first_error, format_location

MAX_CLOCK_SKEW_SECONDS = 300


class ConfigError(ValueError):
    """A config problem; `str()` is the one line printed before exiting with code 2."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def _uuid(value: str) -> str:
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        raise ValueError("not a UUID") from None
    return str(parsed)  # canonical lower-case form, so lookups never depend on how the file spelled it


def _https_url(value: str) -> str:
    if not value.startswith("https://") or len(value) <= len("https://"):
        raise ValueError("must be an https:// URL")
    return value


def _port_range(value: str) -> str:
    parse_port_range(value)
    return value


def parse_port_range(value: str) -> tuple[int, ...]:
    """'8444-8459' -> (8444, ..., 8459); a single port '8444' is a pool of one."""
    low_text, _, high_text = value.partition("-")
    try:
        low = int(low_text)
        high = int(high_text) if high_text else low
    except ValueError:
        raise ValueError("must be a port range like 8444-8459") from None
    if not (1 <= low <= high <= 65535):
        raise ValueError("must be a port range like 8444-8459 with 1 <= first <= last <= 65535")
    return tuple(range(low, high + 1))


Uuid = Annotated[str, AfterValidator(_uuid)]
HttpsUrl = Annotated[str, AfterValidator(_https_url)]
NonEmpty = Annotated[str, Field(min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=False)


class ServerConfig(_Strict):
    hostnames: list[NonEmpty] = []
    advertisedHost: NonEmpty = "127.0.0.1"
    hsmPorts: Annotated[str, AfterValidator(_port_range)] | None = None
    tokenClockSkewSeconds: Annotated[int, Field(ge=0, le=MAX_CLOCK_SKEW_SECONDS)] = MAX_CLOCK_SKEW_SECONDS
    trustedIssuerCaFiles: list[NonEmpty] = []


class FederatedCredentialConfig(_Strict):
    name: NonEmpty | None = None
    issuer: HttpsUrl
    subject: NonEmpty
    audiences: Annotated[list[NonEmpty], Field(min_length=1)] = ["api://AzureADTokenExchange"]


class UserConfig(_Strict):
    objectId: Uuid
    userPrincipalName: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]
    password: NonEmpty
    displayName: NonEmpty | None = None
    accountEnabled: bool = True


class GroupConfig(_Strict):
    objectId: Uuid
    displayName: NonEmpty
    members: list[Uuid] = []


class ServicePrincipalConfig(_Strict):
    objectId: Uuid
    appId: Uuid
    displayName: NonEmpty
    clientSecret: NonEmpty | None = None
    accountEnabled: bool = True
    federatedCredentials: list[FederatedCredentialConfig] = []


class ManagedIdentityConfig(_Strict):
    objectId: Uuid
    clientId: Uuid
    displayName: NonEmpty
    federatedCredentials: list[FederatedCredentialConfig] = []


class TenantConfig(_Strict):
    id: Uuid
    globalAdministrators: list[Uuid] = []
    users: list[UserConfig] = []
    groups: list[GroupConfig] = []
    servicePrincipals: list[ServicePrincipalConfig] = []
    managedIdentities: list[ManagedIdentityConfig] = []

    def object_ids(self) -> set[str]:
        return {
            *(u.objectId for u in self.users),
            *(g.objectId for g in self.groups),
            *(s.objectId for s in self.servicePrincipals),
            *(m.objectId for m in self.managedIdentities),
        }

    @model_validator(mode="after")
    def _references_resolve(self) -> TenantConfig:
        known = self.object_ids()
        for index, admin in enumerate(self.globalAdministrators):
            if admin not in known:
                raise _located(("globalAdministrators", index), f"{admin} is not an object of this tenant")
        for group_index, group in enumerate(self.groups):
            for member_index, member in enumerate(group.members):
                if member not in known:
                    raise _located(
                        ("groups", group_index, "members", member_index), f"{member} is not an object of this tenant"
                    )
        _no_duplicates(
            ((("users", i, "userPrincipalName"), u.userPrincipalName.lower()) for i, u in enumerate(self.users))
        )
        return self


class ManagementGroupConfig(_Strict):
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9._()-]{1,90}$")]
    tenantId: Uuid
    parent: str | None = None
    displayName: NonEmpty | None = None


class ResourceGroupConfig(_Strict):
    name: Annotated[str, Field(pattern=r"^[-\w._()]{1,90}$")]
    location: NonEmpty


class SubscriptionConfig(_Strict):
    id: Uuid
    tenantId: Uuid
    managementGroup: NonEmpty | None = None
    displayName: NonEmpty | None = None
    resourceGroups: list[ResourceGroupConfig] = []


class RoleAssignmentConfig(_Strict):
    scope: Annotated[str, Field(pattern=r"^/")]
    principalId: Uuid
    roleDefinitionName: NonEmpty | None = None
    roleDefinitionId: NonEmpty | None = None

    @model_validator(mode="after")
    def _exactly_one_role(self) -> RoleAssignmentConfig:
        if (self.roleDefinitionName is None) == (self.roleDefinitionId is None):
            raise ValueError("give exactly one of roleDefinitionName and roleDefinitionId")
        return self


class EmulatorConfig(_Strict):
    server: ServerConfig = ServerConfig()
    tenants: list[TenantConfig] = []
    managementGroups: list[ManagementGroupConfig] = []
    subscriptions: list[SubscriptionConfig] = []
    roleAssignments: list[RoleAssignmentConfig] = []

    def tenant(self, tenant_id: str) -> TenantConfig | None:
        return next((t for t in self.tenants if t.id == tenant_id), None)

    @model_validator(mode="after")
    def _references_resolve(self) -> EmulatorConfig:
        _no_duplicates(((("tenants", i, "id"), t.id) for i, t in enumerate(self.tenants)))
        object_locations: list[tuple[tuple[str | int, ...], str]] = []
        app_locations: list[tuple[tuple[str | int, ...], str]] = []
        for t_index, tenant in enumerate(self.tenants):
            for kind in ("users", "groups", "servicePrincipals", "managedIdentities"):
                for o_index, obj in enumerate(getattr(tenant, kind)):
                    object_locations.append((("tenants", t_index, kind, o_index, "objectId"), obj.objectId))
            for s_index, sp in enumerate(tenant.servicePrincipals):
                app_locations.append((("tenants", t_index, "servicePrincipals", s_index, "appId"), sp.appId))
            for m_index, mi in enumerate(tenant.managedIdentities):
                app_locations.append((("tenants", t_index, "managedIdentities", m_index, "clientId"), mi.clientId))
        _no_duplicates(object_locations)
        _no_duplicates(app_locations)
        tenants = {t.id for t in self.tenants}
        groups = {g.id for g in self.managementGroups}
        _no_duplicates(((("managementGroups", i, "id"), g.id) for i, g in enumerate(self.managementGroups)))
        for index, group in enumerate(self.managementGroups):
            if group.tenantId not in tenants:
                raise _located(("managementGroups", index, "tenantId"), f"unknown tenant {group.tenantId}")
            if group.parent is not None and group.parent not in groups:
                raise _located(("managementGroups", index, "parent"), f"unknown management group {group.parent}")
        _no_duplicates(((("subscriptions", i, "id"), s.id) for i, s in enumerate(self.subscriptions)))
        for index, subscription in enumerate(self.subscriptions):
            if subscription.tenantId not in tenants:
                raise _located(("subscriptions", index, "tenantId"), f"unknown tenant {subscription.tenantId}")
            if subscription.managementGroup is not None and subscription.managementGroup not in groups:
                raise _located(
                    ("subscriptions", index, "managementGroup"),
                    f"unknown management group {subscription.managementGroup}",
                )
            _no_duplicates(
                (
                    (("subscriptions", index, "resourceGroups", i, "name"), rg.name.lower())
                    for i, rg in enumerate(subscription.resourceGroups)
                )
            )
        all_objects = {obj for tenant in self.tenants for obj in tenant.object_ids()}
        for index, assignment in enumerate(self.roleAssignments):
            if assignment.principalId not in all_objects:
                raise _located(("roleAssignments", index, "principalId"), f"unknown principal {assignment.principalId}")
        return self


class _LocatedError(ValueError):
    """Raised inside model validators to point at a nested field (pydantic only knows the model's location)."""

    def __init__(self, location: Sequence[str | int], message: str) -> None:
        super().__init__(message)
        self.location = tuple(location)


def _located(location: Sequence[str | int], message: str) -> _LocatedError:
    return _LocatedError(location, message)


def _no_duplicates(items: Iterable[tuple[tuple[str | int, ...], str]]) -> None:
    listed = list(items)
    counts = Counter(value for _, value in listed)
    for location, value in listed:
        if counts[value] > 1:
            raise _located(location, f"duplicate value {value}")


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys (PyYAML silently keeps the last one)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node)
        if key in mapping:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        mapping[key] = loader.construct_object(value_node)
    return mapping


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_config(document: Any) -> EmulatorConfig:
    """Validate an already-parsed document (dict). Raises ConfigError naming the first bad field."""
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ConfigError("(root)", "the config must be a YAML mapping")
    try:
        return EmulatorConfig.model_validate(document)
    except ValidationError as exc:
        errors = exc.errors()
        if errors:
            first = errors[0]
            cause = first.get("ctx", {}).get("error")
            if isinstance(cause, _LocatedError):
                location = [*first["loc"], *cause.location]
                raise ConfigError(format_location(location), str(cause)) from None
        field, _, message = describe_first_error(errors).partition(": ")
        raise ConfigError(field, message) from None


def load_config(path: Path) -> EmulatorConfig:
    """Read and validate the YAML file; every problem (missing file, YAML syntax, bad field) is a ConfigError."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read config file: {exc.strerror}") from None
    try:
        document = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(where, f"invalid YAML: {problem}") from None
    return parse_config(document)
