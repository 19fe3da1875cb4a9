"""The ARM error answers of the management plane, with the codes and wording Azure Resource Manager uses.

One constructor per situation, so routes and services never spell a code or a message twice.
"""

from __future__ import annotations

from collections.abc import Iterable

from hsm_emulator.errors import AzureError, BadRequest, Conflict, Forbidden, NotFound

HSM_NAME_RULE = (
    "Managed HSM name must be between 3-24 alphanumeric characters. The name must begin with a letter, end with a "
    "letter or digit, and not contain consecutive hyphens."
)


def missing_api_version() -> AzureError:
    return BadRequest(
        "The api-version query parameter (?api-version=) is required for all requests.",
        code="MissingApiVersionParameter",
    )


def invalid_api_version(version: str, supported: Iterable[str]) -> AzureError:
    """What ARM itself says for its own resource types (resource groups, role assignments...)."""
    return BadRequest(
        f"The api-version '{version}' is invalid. The supported versions are '{','.join(supported)}'.",
        code="InvalidApiVersionParameter",
    )


def no_registered_provider(version: str, location: str, resource_type: str, supported: Iterable[str]) -> AzureError:
    """What ARM says for a provider's resource type asked for with an api-version the provider did not register."""
    return BadRequest(
        f"No registered resource provider found for location '{location}' and API version '{version}' for type "
        f"'{resource_type}'. The supported api-versions are '{', '.join(supported)}'. The supported locations are "
        f"'{location}'.",
        code="NoRegisteredProviderFound",
    )


def subscription_not_found(subscription_id: str) -> AzureError:
    return NotFound(f"The subscription '{subscription_id}' could not be found.", code="SubscriptionNotFound")


def resource_group_not_found(name: str) -> AzureError:
    return NotFound(f"Resource group '{name}' could not be found.", code="ResourceGroupNotFound")


def resource_not_found(resource_type: str, name: str, resource_group: str) -> AzureError:
    return NotFound(
        f"The Resource '{resource_type}/{name}' under resource group '{resource_group}' was not found. For more "
        "details please go to https://aka.ms/ARMResourceNotFoundFix",
        code="ResourceNotFound",
    )


def deleted_hsm_not_found(name: str, location: str) -> AzureError:
    return NotFound(
        f"The deleted managed HSM '{name}' was not found in location '{location}'.", code="ResourceNotFound"
    )


def invalid_hsm_name(name: str) -> AzureError:
    return BadRequest(f"The managed HSM name '{name}' is invalid. {HSM_NAME_RULE}", code="InvalidResourceName")


def location_change(name: str, old: str, new: str, resource_group: str) -> AzureError:
    return BadRequest(
        f"The resource '{name}' already exists in location '{old}' in resource group '{resource_group}'. A resource "
        f"with the same name cannot be created in location '{new}'. Please select a new resource name.",
        code="InvalidResourceLocation",
    )


def bad_request(message: str) -> AzureError:
    return BadRequest(message, code="BadRequest")


def name_in_use(name: str) -> AzureError:
    return Conflict(
        f"The name '{name}' is already in use by another managed HSM. Managed HSM names are globally unique.",
        code="ConflictError",
    )


def name_soft_deleted(name: str) -> AzureError:
    return Conflict(
        f"A managed HSM with the name '{name}' exists in a deleted but recoverable state, and its name cannot be "
        "reused; in this state the managed HSM can only be recovered (createMode 'recover') or purged.",
        code="ConflictError",
    )


def purge_protected(name: str, scheduled_purge_date: str) -> AzureError:
    return Forbidden(
        f"Operation 'DeletedManagedHsmPurge' is not allowed because purge protection is enabled for managed HSM "
        f"'{name}'. It will be purged automatically on its scheduled purge date {scheduled_purge_date}.",
        code="Forbidden",
    )


def port_pool_exhausted(size: int) -> AzureError:
    return Conflict(
        f"Quota exceeded: this emulator serves at most {size} managed HSMs at a time (its HSM port pool is full, "
        "soft-deleted HSMs included). Purge a deleted HSM or start the emulator with a larger --hsm-ports range.",
        code="QuotaExceeded",
    )


def resource_group_not_empty(name: str, count: int) -> AzureError:
    return Conflict(
        f"The resource group '{name}' still contains {count} managed HSM(s). Delete them first: this emulator does "
        "not cascade resource group deletion to managed HSMs.",
        code="ResourceGroupNotEmpty",
    )


def operation_not_found(operation_id: str) -> AzureError:
    return NotFound(f"The operation '{operation_id}' was not found.", code="OperationNotFound")
