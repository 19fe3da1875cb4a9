"""ARM scopes: parsing resource ids into the levels Azure RBAC inherits over.

Azure RBAC grants flow downwards: management group (and its parents up to the tenant root group) > subscription >
resource group > resource > child resource. Deciding a call therefore needs the chain of scopes above the target,
which is what this module computes from an id string. ARM compares ids case-insensitively, so every comparison
here goes through `normalize`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

MANAGEMENT_GROUP_PREFIX = "/providers/Microsoft.Management/managementGroups/"
_REPEATED_SLASHES = re.compile(r"/{2,}")


class ScopeLevel(Enum):
    """How high a scope sits in the hierarchy (the root `/` is above every management group)."""

    ROOT = "root"
    MANAGEMENT_GROUP = "managementGroup"
    SUBSCRIPTION = "subscription"
    RESOURCE_GROUP = "resourceGroup"
    RESOURCE = "resource"
    SUBSCRIPTION_PROVIDER = "subscriptionProvider"  # e.g. /subscriptions/s/providers/Microsoft.KeyVault/locations/...


class InvalidScope(ValueError):
    """The string is not an ARM scope this emulator understands."""


@dataclass(frozen=True)
class Scope:
    """One parsed scope; `text` keeps the caller's spelling (ARM echoes it), comparisons use `key`."""

    text: str
    level: ScopeLevel
    management_group: str | None = None
    subscription: str | None = None
    resource_group: str | None = None

    @property
    def key(self) -> str:
        return normalize(self.text)


def normalize(scope: str) -> str:
    """Canonical form for comparisons: one leading slash, no repeated or trailing slashes, lower case."""
    collapsed = _REPEATED_SLASHES.sub("/", "/" + scope.strip())
    if len(collapsed) > 1:
        collapsed = collapsed.rstrip("/")
    return collapsed.lower()


def tidy(scope: str) -> str:
    """The caller's spelling with slashes cleaned up (SDKs splice scopes into URLs and produce `//`)."""
    collapsed = _REPEATED_SLASHES.sub("/", "/" + scope.strip())
    return collapsed.rstrip("/") if len(collapsed) > 1 else collapsed


def management_group_scope(group_id: str) -> str:
    return MANAGEMENT_GROUP_PREFIX + group_id


def subscription_scope(subscription_id: str) -> str:
    return f"/subscriptions/{subscription_id}"


def resource_group_scope(subscription_id: str, resource_group: str) -> str:
    return f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}"


def parse(scope: str) -> Scope:
    """Parse `/`, a management group, a subscription, a resource group or anything below a subscription."""
    text = tidy(scope)
    if text == "/":
        return Scope(text, ScopeLevel.ROOT)
    parts = text.strip("/").split("/")
    lowered = [part.lower() for part in parts]
    if lowered[:3] == ["providers", "microsoft.management", "managementgroups"]:
        if len(parts) != 4 or not parts[3]:
            raise InvalidScope(f"The management group scope '{scope}' is invalid.")
        return Scope(text, ScopeLevel.MANAGEMENT_GROUP, management_group=parts[3])
    if lowered[0] != "subscriptions" or len(parts) < 2:
        raise InvalidScope(f"The scope '{scope}' is invalid.")
    subscription = parts[1]
    if len(parts) == 2:
        return Scope(text, ScopeLevel.SUBSCRIPTION, subscription=subscription)
    if lowered[2] == "resourcegroups":
        if len(parts) < 4:
            raise InvalidScope(f"The scope '{scope}' is invalid.")
        if len(parts) == 4:
            return Scope(text, ScopeLevel.RESOURCE_GROUP, subscription=subscription, resource_group=parts[3])
        # A resource needs providers/{namespace}/{type}/{name} (plus child type/name pairs).
        if lowered[4] != "providers" or len(parts) < 8 or (len(parts) - 6) % 2 != 0:
            raise InvalidScope(f"The scope '{scope}' is invalid.")
        return Scope(text, ScopeLevel.RESOURCE, subscription=subscription, resource_group=parts[3])
    if lowered[2] == "providers" and len(parts) >= 4:
        return Scope(text, ScopeLevel.SUBSCRIPTION_PROVIDER, subscription=subscription)
    raise InvalidScope(f"The scope '{scope}' is invalid.")


def chain(
    scope: Scope, management_group_of: Callable[[str], str | None], parent_of: Callable[[str], str | None]
) -> list[str]:
    """Normalized scopes from `scope` itself up to the root, nearest first.

    `management_group_of(subscription)` names the subscription's management group (None if it has none);
    `parent_of(group)` the parent of a management group (None at the top). Both come from storage; cycles are
    cut so that a bad hierarchy cannot hang a request.
    """
    keys: list[str] = []
    if scope.level in (ScopeLevel.RESOURCE, ScopeLevel.SUBSCRIPTION_PROVIDER, ScopeLevel.RESOURCE_GROUP):
        keys.extend(_path_prefixes_below_subscription(scope.text))
    group: str | None = None
    if scope.subscription is not None:
        keys.append(normalize(subscription_scope(scope.subscription)))
        group = management_group_of(scope.subscription)
    elif scope.level is ScopeLevel.MANAGEMENT_GROUP:
        group = scope.management_group
    seen: set[str] = set()
    while group is not None and group.lower() not in seen:
        seen.add(group.lower())
        keys.append(normalize(management_group_scope(group)))
        group = parent_of(group)
    keys.append("/")
    return keys


def _path_prefixes_below_subscription(text: str) -> list[str]:
    """The scope and its ancestors down to (excluding) the subscription, nearest first.

    For a resource the ancestors are its parent resources (type/name pairs) and its resource group; a
    subscription-level provider path (`/subscriptions/s/providers/...`) has no resource group above it.
    """
    parts = text.strip("/").split("/")
    prefixes: list[str] = []
    lowered = [part.lower() for part in parts]
    if lowered[2] == "resourcegroups":
        # parts: subscriptions s resourceGroups rg providers ns type name [type name ...]
        length = len(parts)
        while length >= 8:
            prefixes.append(normalize("/".join(parts[:length])))
            length -= 2
        prefixes.append(normalize("/".join(parts[:4])))
    else:
        prefixes.append(normalize(text))
    return prefixes
