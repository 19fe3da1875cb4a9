"""Property-based hostile input on the ARM surface (managedHSMs PUT/PATCH, resource groups, query parameters, path
segments), over HTTPS with the subscription owner's token. Property: never a 5xx, and a 4xx leaves the resources as
they were (the HSMs of both resource groups with all their properties, and every resource group with its tags).
"""

from __future__ import annotations

import time
import urllib.parse
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.integration.emulator.hostile.conftest import ARM, Hostile
from tests.integration.emulator.hostile.strategies import (
    FUZZ,
    field_values,
    json_values,
    mutated,
    path_segments,
    raw_bodies,
)
from tests.integration.emulator.hostile.strategies import check as check_property
from tests.integration.emulator.hostile.strategies import encode as encode_body

pytestmark = pytest.mark.integration
API = "2025-05-01"
RG_API = "2021-04-01"
GROUP = "rg-two"
HSM = "arm-fuzz"


class ArmPlane:
    def __init__(self, hostile: Hostile, http: httpx.Client) -> None:
        self.hostile = hostile
        self.http = http
        self.subscription = f"/subscriptions/{hostile.directory.subscription_id}"

    def hsm_path(self, name: str, group: str = GROUP) -> str:
        return f"{self.subscription}/resourceGroups/{group}/providers/Microsoft.KeyVault/managedHSMs/{name}"

    def send(self, method: str, path: str, body: Any = None, *, api: str = API) -> httpx.Response:
        content = None if body is None else encode_body(body)
        target = f"{path}?api-version={urllib.parse.quote(api, safe='')}"
        response = self.http.request(
            method,
            "/",
            content=content,
            headers={"Content-Type": "application/json"},
            extensions={"target": target.encode()},
        )
        if response.status_code in (200, 201, 202):
            self.settle()
        return response

    def settle(self) -> None:
        """Wait until no HSM is mid-operation, so a snapshot does not see a provisioning state move on its own."""
        for _ in range(300):
            states = [hsm["properties"].get("provisioningState") for hsm in self._hsms()]
            if all(state in ("Succeeded", "Failed") for state in states):
                return
            time.sleep(0.02)
        pytest.fail(f"HSMs still provisioning: {states}")

    def _hsms(self) -> list[dict[str, Any]]:
        hsms: list[dict[str, Any]] = []
        for group in ("rg-one", "rg-two"):
            response = self.http.get(
                f"{self.subscription}/resourceGroups/{group}/providers/Microsoft.KeyVault/managedHSMs",
                params={"api-version": API},
            )
            assert response.status_code == 200, response.text
            hsms.extend(response.json()["value"])
        return hsms

    def snapshot(self) -> Any:
        groups = self.http.get(f"{self.subscription}/resourcegroups", params={"api-version": RG_API})
        assert groups.status_code == 200, groups.text
        return {
            "hsms": sorted(repr(hsm) for hsm in self._hsms()),
            "groups": sorted(repr(group) for group in groups.json()["value"]),
        }

    def check(self, send: Any, *, read_only: bool = False) -> httpx.Response:
        return check_property(send, self.snapshot, read_only=read_only)


def good_body(hostile: Hostile) -> dict[str, Any]:
    return {
        "location": hostile.directory.location,
        "sku": {"family": "B", "name": "Standard_B1"},
        "properties": {
            "tenantId": hostile.directory.tenant_id,
            "initialAdminObjectIds": [hostile.sp("hsm-admin").object_id],
            "softDeleteRetentionInDays": 7,
        },
    }


@pytest.fixture(scope="module")
def arm(hostile: Hostile) -> Iterator[ArmPlane]:
    with hostile.http(hostile.url, hostile.token("sub-owner", ARM)) as http:
        plane = ArmPlane(hostile, http)
        assert plane.send("PUT", plane.hsm_path(HSM), good_body(hostile)).status_code in (200, 201, 202)
        yield plane


TAGS = field_values([{"a": 1}, {"a": None}, {f"t{i}": "v" for i in range(51)}, {"k" * 600: "v"}, {"a": "v" * 300}, []])


def property_fields(hostile: Hostile) -> dict[str, st.SearchStrategy[Any]]:
    directory = hostile.directory
    return {
        "tenantId": field_values([directory.tenant_id, directory.other_tenant_id, str(uuid.UUID(int=1)), "x", ""]),
        "initialAdminObjectIds": field_values([[], ["x"], [str(uuid.UUID(int=2))] * 100, [None], "x"]),
        "softDeleteRetentionInDays": field_values([0, 6, 7, 90, 91, -1, 2**64, "7", 7.0]),
        "enablePurgeProtection": field_values(["true", 1, None]),
        "enableSoftDelete": field_values([False, "false"]),
        "createMode": field_values(["recover", "default", "Recover", ""]),
        "networkAcls": field_values(
            [
                {"defaultAction": "Deny"},
                {"bypass": "x"},
                {"ipRules": [{"value": 1}]},
                {"ipRules": "x"},
                {"virtualNetworkRules": [{}]},
            ]
        ),
        "publicNetworkAccess": field_values(["Enabled", "disabled", "", 0]),
    }


@st.composite
def hsm_bodies(draw: st.DrawFn, hostile: Hostile) -> Any:
    base = good_body(hostile)
    properties = draw(mutated(base["properties"], property_fields(hostile)))
    return draw(
        mutated(
            base,
            {
                "location": field_values(["westeurope", "WestEurope", "eastus", "", "mars"]),
                "sku": field_values(
                    [{"family": "B", "name": "Premium"}, {"family": "Z", "name": "Standard_B1"}, {}, "Standard_B1"]
                ),
                "tags": TAGS,
                "properties": st.just(properties) | json_values,
                "identity": json_values,
            },
        )
    )


@given(data=st.data(), name=st.sampled_from([HSM, "arm-fuzz-2"]))
@FUZZ
def test_managed_hsm_put_bodies(hostile: Hostile, arm: ArmPlane, data: st.DataObject, name: str) -> None:
    body = data.draw(hsm_bodies(hostile) | raw_bodies)
    arm.check(lambda: arm.send("PUT", arm.hsm_path(name), body))


@given(data=st.data())
@FUZZ
def test_managed_hsm_patch_bodies(hostile: Hostile, arm: ArmPlane, data: st.DataObject) -> None:
    body = data.draw(hsm_bodies(hostile) | raw_bodies)
    arm.check(lambda: arm.send("PATCH", arm.hsm_path(HSM), body))


@given(
    method=st.sampled_from(["PUT", "PATCH"]),
    name=st.sampled_from(["rg-fuzz", "rg-two"]),
    body=mutated(
        {"location": "westeurope", "tags": {"a": "b"}},
        {"location": field_values(["", "eastus", "mars", "WESTEUROPE"]), "tags": TAGS, "managedBy": json_values},
    )
    | raw_bodies,
)
@FUZZ
def test_resource_group_bodies(arm: ArmPlane, method: str, name: str, body: Any) -> None:
    arm.check(lambda: arm.send(method, f"{arm.subscription}/resourcegroups/{name}", body, api=RG_API))


@given(
    method=st.sampled_from(["GET", "DELETE", "PUT", "PATCH"]),
    template=st.sampled_from(
        [
            "{sub}/resourceGroups/{seg}/providers/Microsoft.KeyVault/managedHSMs/{hsm}",
            "{sub}/resourceGroups/rg-two/providers/Microsoft.KeyVault/managedHSMs/{seg}",
            "{sub}/resourceGroups/{seg}",
            "{sub}/providers/Microsoft.KeyVault/locations/westeurope/deletedManagedHSMs/{seg}",
            "/subscriptions/{seg}/resourceGroups/rg-two",
            "{sub}/resourceGroups/rg-two/providers/{seg}/managedHSMs/x",
        ]
    ),
    segment=path_segments,
)
@example(method="GET", template="{sub}/resourceGroups/{seg}", segment="..")
@example(method="DELETE", template="{sub}/resourceGroups/{seg}", segment="%2F")
@FUZZ
def test_path_segments(arm: ArmPlane, method: str, template: str, segment: str) -> None:
    # PUT bodies lack `location`, so a PUT that reaches its handler is refused; the names never exist for deletes.
    body = {"tags": {"a": "b"}} if method in ("PUT", "PATCH") else None
    path = template.format(sub=arm.subscription, seg=segment, hsm=HSM)
    api = API if "managedHSMs" in template else RG_API
    arm.check(lambda: arm.send(method, path, body, api=api))


@given(
    path=st.sampled_from(["hsm", "list", "groups"]),
    api=st.one_of(
        st.sampled_from(["", "2025-05-01", "2021-04-01", "2099-01-01", "1.0", "2025-05-01-preview", "%00", "x" * 500]),
        st.text(max_size=20),
    ),
    extra=st.dictionaries(
        st.sampled_from(["$top", "$filter", "$skiptoken", "$expand"]),
        st.one_of(
            st.sampled_from(["0", "-1", "1000000000000000000000", "x", "tagName eq 'a'", "'"]), st.text(max_size=10)
        ),
        max_size=3,
    ),
)
@example(path="list", api="2025-05-01", extra={"$top": "1000000000000000000000"})
@FUZZ
def test_query_parameters(arm: ArmPlane, path: str, api: str, extra: dict[str, str]) -> None:
    url = {
        "hsm": arm.hsm_path(HSM),
        "list": f"{arm.subscription}/providers/Microsoft.KeyVault/managedHSMs",
        "groups": f"{arm.subscription}/resourcegroups",
    }[path]
    params = {"api-version": api, **extra}
    arm.check(lambda: arm.http.get(url, params=params), read_only=True)
