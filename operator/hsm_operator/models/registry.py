"""The list of custom resource kinds: names, models and printer columns, in one place.

Why: the CRD generator needs to know every kind, and the operator's handlers need the same group, version and
plural to register with kopf. Keeping both here means adding a kind is one entry, not three edits that can drift.
"""

from __future__ import annotations

from dataclasses import dataclass

from hsm_operator.models import hsmkey, hsmroleassignment, hsmroledefinition, hsmsecuritydomain, managedhsm
from hsm_operator.models.base import CelRule
from hsm_operator.models.common import ManagedResourceSpec, ResourceStatus

GROUP = "mhsm.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
CATEGORY = "hsm"


@dataclass(frozen=True)
class PrinterColumn:
    """One `additionalPrinterColumns` entry of a CRD."""

    name: str
    json_path: str
    type: str = "string"
    description: str = ""
    priority: int = 0


@dataclass(frozen=True)
class CustomResourceKind:
    """Everything that defines one kind: names, spec/status models, columns and rules on the whole object."""

    kind: str
    plural: str
    short_name: str
    description: str
    spec_model: type[ManagedResourceSpec]
    status_model: type[ResourceStatus]
    columns: tuple[PrinterColumn, ...]
    root_rules: tuple[CelRule, ...] = ()

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"


def condition_column(condition_type: str, *, name: str | None = None, priority: int = 0) -> PrinterColumn:
    """A column showing the status (True/False/Unknown) of one condition."""
    return PrinterColumn(
        name=name or condition_type.upper(),
        json_path=f'.status.conditions[?(@.type=="{condition_type}")].status',
        description=f"Status of the {condition_type} condition.",
        priority=priority,
    )


READY = condition_column("Ready")
SYNCED = condition_column("Synced", priority=1)
AGE = PrinterColumn(name="AGE", json_path=".metadata.creationTimestamp", type="date")

KINDS: tuple[CustomResourceKind, ...] = (
    CustomResourceKind(
        kind="ManagedHSM",
        plural="managedhsms",
        short_name="mhsm",
        description="An Azure Key Vault Managed HSM (Microsoft.KeyVault/managedHSMs), managed on the ARM plane.",
        spec_model=managedhsm.ManagedHSMSpec,
        status_model=managedhsm.ManagedHSMStatus,
        columns=(
            READY,
            SYNCED,
            PrinterColumn("STATE", ".status.provisioningState", description="Azure provisioningState."),
            PrinterColumn("ACTIVATION", ".status.activationStatus", description="Security-domain activation."),
            PrinterColumn("URI", ".status.hsmUri", description="Data-plane URI."),
            AGE,
        ),
    ),
    CustomResourceKind(
        kind="HSMSecurityDomain",
        plural="hsmsecuritydomains",
        short_name="hsmsd",
        description="Activation of a Managed HSM by downloading its security domain, encrypted to 3-10 certificates.",
        spec_model=hsmsecuritydomain.HSMSecurityDomainSpec,
        status_model=hsmsecuritydomain.HSMSecurityDomainStatus,
        columns=(
            READY,
            SYNCED,
            condition_column(hsmsecuritydomain.ACTIVATED_CONDITION),
            PrinterColumn("QUORUM", ".spec.quorum", type="integer", description="Keys needed to recover."),
            AGE,
        ),
        root_rules=(hsmsecuritydomain.FROZEN_AFTER_ACTIVATION,),
    ),
    CustomResourceKind(
        kind="HSMKey",
        plural="hsmkeys",
        short_name="hsmkey",
        description="A key in a Managed HSM, with its attributes, rotation policy and tags.",
        spec_model=hsmkey.HSMKeySpec,
        status_model=hsmkey.HSMKeyStatus,
        columns=(
            READY,
            SYNCED,
            PrinterColumn("KTY", ".spec.kty", description="Key type."),
            # A JSONPath union: keySize for RSA/oct keys, curve for EC keys (only one is ever set).
            PrinterColumn("SIZE/CURVE", ".spec['keySize','curve']", description="Key size in bits, or curve."),
            PrinterColumn("VERSION", ".status.currentVersion", description="Current key version."),
            PrinterColumn("ENABLED", ".spec.attributes.enabled", type="boolean", description="Whether usable."),
            AGE,
        ),
    ),
    CustomResourceKind(
        kind="HSMRoleDefinition",
        plural="hsmroledefinitions",
        short_name="hsmrd",
        description="A custom role of a Managed HSM's local RBAC.",
        spec_model=hsmroledefinition.HSMRoleDefinitionSpec,
        status_model=hsmroledefinition.HSMRoleDefinitionStatus,
        columns=(
            READY,
            SYNCED,
            PrinterColumn("ROLE", ".spec.roleName", description="Role name."),
            PrinterColumn("ID", ".status.roleDefinitionId", description="Role definition id.", priority=1),
            AGE,
        ),
    ),
    CustomResourceKind(
        kind="HSMRoleAssignment",
        plural="hsmroleassignments",
        short_name="hsmra",
        description="An assignment of a Managed HSM local role to a principal at a scope.",
        spec_model=hsmroleassignment.HSMRoleAssignmentSpec,
        status_model=hsmroleassignment.HSMRoleAssignmentStatus,
        columns=(
            READY,
            SYNCED,
            # JSONPath unions over the mutually exclusive spec fields, so the columns are filled before any reconcile.
            PrinterColumn(
                "ROLE",
                ".spec['roleName','roleDefinitionId','roleDefinitionRef.name']",
                description="Role name, role definition id, or the referenced HSMRoleDefinition.",
            ),
            PrinterColumn("SCOPE", ".spec['scope','keyRef.name']", description="Scope, or the referenced HSMKey."),
            PrinterColumn("PRINCIPAL", ".spec.principalId", description="Object id of the principal."),
            AGE,
        ),
    ),
)

BY_KIND: dict[str, CustomResourceKind] = {k.kind: k for k in KINDS}
