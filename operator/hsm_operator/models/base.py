"""The base model every CRD model derives from, and the helpers that attach Kubernetes schema rules to models.

Why: the wire format of a custom resource is camelCase JSON, while Python code reads best in snake_case; and the
CRD needs CEL rules (`x-kubernetes-validations`) that pydantic knows nothing about. `CrdModel` solves both once:
aliases are generated, names are accepted too, and each class may list `cel_rules` that are collected along the
class hierarchy into its JSON schema, where `hsm_operator.crdgen` finds them.

A CEL rule that can be checked without the previous object is always mirrored by a pydantic validator on the same
model, so the operator rejects exactly what the apiserver rejects. Transition rules (`oldSelf`) have no pydantic
twin: the operator sees only the current object.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, GetJsonSchemaHandler, JsonValue
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

# Kubernetes' own limits for names, so a reference that can never resolve is rejected at apply time.
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DNS_SUBDOMAIN_MAX_LENGTH = 253
# Keys of ConfigMaps and Secrets (apimachinery IsConfigMapKey).
CONFIG_MAP_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"
GUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
GUID_LENGTH = 36

IMMUTABLE_SUFFIX = "is immutable; delete and recreate the object to change it"

CelRule = dict[str, JsonValue]


def cel(rule: str, message: str, *, field_path: str | None = None, reason: str | None = None) -> CelRule:
    """One `x-kubernetes-validations` entry; `field_path` (e.g. `.keySize`) makes the apiserver name that field."""
    entry: CelRule = {"rule": rule, "message": message}
    if field_path is not None:
        entry["fieldPath"] = field_path
    if reason is not None:
        entry["reason"] = reason
    return entry


def immutable(field: str, *, path: str) -> CelRule:
    """A transition rule, set on the parent object, that forbids changing, adding or removing the optional `field`.

    It sits on the parent because a rule on the field itself runs only when the field exists in both the old and
    the new object, so adding or removing the field would slip through. `path` is the user-facing path of the
    parent (`spec`, `spec.attributes`) used in the message.
    """
    return cel(
        f"has(self.{field}) == has(oldSelf.{field}) && (!has(self.{field}) || self.{field} == oldSelf.{field})",
        f"{path}.{field} {IMMUTABLE_SUFFIX}",
        field_path=f".{field}",
        reason="FieldValueForbidden",
    )


def exactly_one(fields: tuple[str, ...], *, path: str) -> CelRule:
    """A rule that exactly one of the optional `fields` of an object is set."""
    count = " + ".join(f"(has(self.{name}) ? 1 : 0)" for name in fields)
    names = ", ".join(f"{path}.{name}" for name in fields)
    return cel(f"{count} == 1", f"exactly one of {names} must be set")


def count_set(model: BaseModel, fields: tuple[str, ...]) -> int:
    """How many of the python-named `fields` are set (not None): the pydantic twin of `exactly_one`."""
    return sum(getattr(model, name) is not None for name in fields)


class CrdModel(BaseModel):
    """Base of every model that appears in a CRD: camelCase on the wire, unknown fields rejected.

    Subclasses put CEL rules into `cel_rules`; they are merged along the class hierarchy (base rules first) and
    emitted as `x-kubernetes-validations` of the class's schema.
    """

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    cel_rules: ClassVar[tuple[CelRule, ...]] = ()

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        json_schema = handler.resolve_ref_schema(handler(core_schema))
        rules: list[CelRule] = []
        for klass in reversed(cls.__mro__):
            for rule in vars(klass).get("cel_rules", ()):
                if rule not in rules:
                    rules.append(rule)
        if rules:
            json_schema["x-kubernetes-validations"] = rules
        return json_schema

    def to_wire(self) -> dict[str, Any]:
        """The camelCase JSON form, without unset optional fields (what goes into a CR body or a status patch)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class StatusModel(CrdModel):
    """Base of status models: the operator writes them, and it must still read statuses written by older versions."""

    model_config = ConfigDict(extra="ignore")
