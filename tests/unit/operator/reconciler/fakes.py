"""Fake external clients for the loop's table tests (crossplane's ExternalClientFns): each op is replaceable.

They record every call so a test can assert that observe-only or Report passes wrote nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from hsm_operator.reconciler.external import (
    Creation,
    Deletion,
    ExternalClient,
    FieldDrift,
    ManagedResource,
    Observation,
    Update,
)


async def _observe_absent(_: ManagedResource) -> Observation:
    return Observation(exists=False)


async def _create_ok(_: ManagedResource) -> Creation:
    return Creation(identity="/ids/obj")


async def _update_ok(_: ManagedResource, __: tuple[FieldDrift, ...]) -> Update:
    return Update()


async def _delete_ok(_: ManagedResource) -> Deletion:
    return Deletion(pending=True)


def deleted_with_warning(message: str) -> Callable[[ManagedResource], Awaitable[Deletion]]:
    async def delete(_: ManagedResource) -> Deletion:
        return Deletion(warning=message)

    return delete


@dataclass
class FakeClient:
    observe_fn: Callable[[ManagedResource], Awaitable[Observation]] = _observe_absent
    create_fn: Callable[[ManagedResource], Awaitable[Creation]] = _create_ok
    update_fn: Callable[[ManagedResource, tuple[FieldDrift, ...]], Awaitable[Update]] = _update_ok
    delete_fn: Callable[[ManagedResource], Awaitable[Deletion]] = _delete_ok
    calls: list[str] = field(default_factory=list)
    updated: list[tuple[FieldDrift, ...]] = field(default_factory=list)

    async def observe(self, resource: ManagedResource) -> Observation:
        self.calls.append("observe")
        return await self.observe_fn(resource)

    async def create(self, resource: ManagedResource) -> Creation:
        self.calls.append("create")
        return await self.create_fn(resource)

    async def update(self, resource: ManagedResource, drift: tuple[FieldDrift, ...]) -> Update:
        self.calls.append("update")
        self.updated.append(drift)
        return await self.update_fn(resource, drift)

    async def delete(self, resource: ManagedResource) -> Deletion:
        self.calls.append("delete")
        return await self.delete_fn(resource)

    @property
    def writes(self) -> list[str]:
        return [c for c in self.calls if c != "observe"]


@dataclass
class FakeConnector:
    client: FakeClient
    error: BaseException | None = None
    connects: int = 0

    async def connect(self, resource: ManagedResource) -> ExternalClient:
        self.connects += 1
        if self.error is not None:
            raise self.error
        return self.client


def observing(observation: Observation) -> Callable[[ManagedResource], Awaitable[Observation]]:
    async def observe(_: ManagedResource) -> Observation:
        return observation

    return observe


def observing_in_turn(*observations: Observation) -> Callable[[ManagedResource], Awaitable[Observation]]:
    """Each observe returns the next observation; the last one repeats (absent, then created, then created...)."""
    seen = 0

    async def observe(_: ManagedResource) -> Observation:
        nonlocal seen
        seen += 1
        return observations[min(seen, len(observations)) - 1]

    return observe


def raising(exc: BaseException) -> Callable[..., Awaitable[Any]]:
    async def fail(*_: Any) -> Any:
        raise exc

    return fail
