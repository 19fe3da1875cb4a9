"""Generated files are up to date: `crds/` must be exactly what `python -m hsm_operator.crdgen` writes today.

Also pins the generator's own behaviour (check mode reports stale, missing and leftover files) and the structural
schema invariants the apiserver insists on, so a model change that the apiserver would reject fails here, offline.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import Field

from hsm_operator import crdgen
from hsm_operator.models import registry
from hsm_operator.models.base import CrdModel

REPO_ROOT = Path(__file__).resolve().parents[2]
CRD_DIR = REPO_ROOT / "crds"


def test_committed_crds_are_up_to_date(capsys: pytest.CaptureFixture[str]) -> None:
    exit_code = crdgen.main(["--check", "--output", str(CRD_DIR)])
    diff = capsys.readouterr().out
    assert exit_code == 0, f"crds/ is stale; run `python -m hsm_operator.crdgen`:\n{diff}"


def test_check_reports_changed_missing_and_leftover_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert crdgen.main(["--output", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{k.crd_name}.yaml" for k in registry.KINDS)
    assert crdgen.main(["--check", "--output", str(tmp_path)]) == 0

    keys = tmp_path / "hsmkeys.mhsm.dev.yaml"
    keys.write_text(keys.read_text().replace("RSA-HSM", "RSA"))
    (tmp_path / "managedhsms.mhsm.dev.yaml").unlink()
    (tmp_path / "oldkinds.mhsm.dev.yaml").write_text("kind: CustomResourceDefinition\n")
    capsys.readouterr()
    assert crdgen.main(["--check", "--output", str(tmp_path)]) == 1
    out = capsys.readouterr()
    assert "+                - RSA-HSM" in out.out
    assert "managedhsms.mhsm.dev.yaml (generated)" in out.out
    assert "oldkinds.mhsm.dev.yaml (on disk)" in out.out
    assert "out of date" in out.err

    # Writing repairs all three.
    assert crdgen.main(["--output", str(tmp_path)]) == 0
    assert crdgen.main(["--check", "--output", str(tmp_path)]) == 0
    assert not (tmp_path / "oldkinds.mhsm.dev.yaml").exists()


def _nodes(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for name, child in schema.get("properties", {}).items():
        yield from _nodes(child, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from _nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _nodes(schema["additionalProperties"], f"{path}.*")


@pytest.mark.parametrize("kind", registry.KINDS, ids=lambda k: k.kind)
def test_crd_is_structural_and_documented(kind: registry.CustomResourceKind) -> None:
    crd = crdgen.render_crds()[kind.crd_name]
    (version,) = crd["spec"]["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}
    assert crd["spec"]["names"]["categories"] == ["hsm"]
    assert crd["spec"]["names"]["shortNames"] == [kind.short_name]
    assert crd["spec"]["scope"] == "Namespaced"
    assert version["additionalPrinterColumns"][0]["name"] == "READY"
    root = version["schema"]["openAPIV3Schema"]
    for path, node in _nodes(root):
        assert "type" in node or node.get("x-kubernetes-int-or-string"), f"{path}: untyped"
        for forbidden in ("$ref", "anyOf", "oneOf", "allOf", "title", "uniqueItems", "nullable"):
            assert forbidden not in node, f"{path}: {forbidden}"
        assert node.get("additionalProperties") is not False, f"{path}: additionalProperties false"
        if path.startswith((".spec.", ".status.")) and not path.endswith(("[]", "*")):
            assert node.get("description"), f"{path}: no description for kubectl explain"
    preserved = [path for path, node in _nodes(root) if node.get("x-kubernetes-preserve-unknown-fields")]
    assert set(preserved) <= {".spec.releasePolicy.data", ".status.kopf"}


def test_spec_defaults_are_the_model_defaults() -> None:
    crd = crdgen.render_crds()["hsmkeys.mhsm.dev"]
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    assert spec["deletionPolicy"]["default"] == "Orphan"
    assert spec["managementPolicies"]["default"] == ["*"]
    assert spec["attributes"]["default"] == {}
    assert spec["attributes"]["properties"]["enabled"]["default"] is True


class _Ambiguous(CrdModel):
    value: int | str = Field(description="Either.")


class _Undocumented(CrdModel):
    value: int


def test_generator_refuses_schemas_the_apiserver_would_reject() -> None:
    with pytest.raises(crdgen.SchemaError, match="anyOf with 2 non-null branches"):
        crdgen.model_schema(_Ambiguous)
    with pytest.raises(crdgen.SchemaError, match="value: field has no description"):
        crdgen.model_schema(_Undocumented)
