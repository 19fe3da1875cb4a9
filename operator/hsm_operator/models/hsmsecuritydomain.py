"""HSMSecurityDomain: activation of a new HSM by downloading its security domain.

A Managed HSM refuses data-plane work until someone downloads its security domain, encrypted to 3-10 RSA
certificates with a quorum (AZURE-API.md). This kind declares those certificates and where the download goes. Once
the HSM is activated (condition Activated=True) the declaration is history: changing it could never change the
downloaded domain, so the CRD refuses changes (a root-level rule that reads the status).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from hsm_operator.models import base, common
from hsm_operator.models.base import CrdModel

MIN_CERTIFICATES = 3
MAX_CERTIFICATES = 10
MIN_QUORUM = 2
MAX_QUORUM = 10
ACTIVATED_CONDITION = "Activated"
SECURITY_DOMAIN_SECRET_KEY = "security-domain.json"

# The spec fields that describe the domain; policies and credentials stay changeable after activation.
DOMAIN_FIELDS = ("hsmRef", "hsmUri", "certificates", "quorum", "outputSecretRef")

# Root-level transition rule: the apiserver keeps the stored status on spec updates, so `oldSelf.status` tells
# whether the HSM was already activated when the spec is changed.
FROZEN_AFTER_ACTIVATION = base.cel(
    "!has(oldSelf.status) || !has(oldSelf.status.conditions)"
    f" || !oldSelf.status.conditions.exists(c, c.type == '{ACTIVATED_CONDITION}' && c.status == 'True')"
    " || ("
    + " && ".join(
        f"has(self.spec.{f}) == has(oldSelf.spec.{f}) && (!has(self.spec.{f}) || self.spec.{f} == oldSelf.spec.{f})"
        for f in DOMAIN_FIELDS
    )
    + ")",
    "spec.hsmRef, spec.hsmUri, spec.certificates, spec.quorum and spec.outputSecretRef are immutable once the HSM "
    "is activated (Activated=True); delete and recreate the object to change them",
    reason="FieldValueForbidden",
)


class CertificateSource(CrdModel):
    """Where one PEM certificate (with an RSA public key) of a security-domain holder is read from."""

    cel_rules: ClassVar[tuple[base.CelRule, ...]] = (
        base.cel(
            "has(self.configMapKeyRef) != has(self.secretKeyRef)",
            "each entry of spec.certificates needs exactly one of configMapKeyRef or secretKeyRef",
        ),
    )

    config_map_key_ref: common.KeySelector | None = Field(
        default=None, description="A key of a ConfigMap in the same namespace holding the PEM certificate."
    )
    secret_key_ref: common.KeySelector | None = Field(
        default=None, description="A key of a Secret in the same namespace holding the PEM certificate."
    )

    @model_validator(mode="after")
    def _exactly_one_source(self) -> CertificateSource:
        if base.count_set(self, ("config_map_key_ref", "secret_key_ref")) != 1:
            raise ValueError("each entry of spec.certificates needs exactly one of configMapKeyRef or secretKeyRef")
        return self


class HSMSecurityDomainSpec(common.DataPlaneSpec):
    """Desired activation of an HSM: the certificates its security domain is encrypted to, and the quorum."""

    cel_rules: ClassVar[tuple[base.CelRule, ...]] = (
        base.cel(
            "self.quorum <= size(self.certificates)",
            "spec.quorum must not exceed the number of spec.certificates",
            field_path=".quorum",
        ),
    )

    certificates: list[CertificateSource] = Field(
        min_length=MIN_CERTIFICATES,
        max_length=MAX_CERTIFICATES,
        description=(
            "The 3 to 10 PEM certificates (RSA public keys) the security domain is encrypted to; their private "
            "keys are needed to recover the HSM."
        ),
    )
    quorum: int = Field(
        ge=MIN_QUORUM,
        le=MAX_QUORUM,
        description="How many of the certificates' private keys are needed to recover (2 to number of certificates).",
    )
    output_secret_ref: common.LocalObjectReference = Field(
        description=f"Secret in the same namespace written with key {SECURITY_DOMAIN_SECRET_KEY}: the download result."
    )
    deletion_policy: Literal[common.DeletionPolicy.ORPHAN] = Field(
        default=common.DeletionPolicy.ORPHAN,
        description="Only Orphan: deleting this object never deactivates the HSM nor deletes the output Secret.",
    )

    @model_validator(mode="after")
    def _quorum_fits(self) -> HSMSecurityDomainSpec:
        if self.quorum > len(self.certificates):
            raise ValueError("spec.quorum must not exceed the number of spec.certificates")
        return self


class HSMSecurityDomainStatus(common.ResourceStatus):
    """Activation as last observed."""

    activation_status: str | None = Field(
        default=None, description="Security-domain activation of the HSM: NotActivated, Active, Failed or Unknown."
    )
