"""Azurite fixtures: one Azurite blob service per test session (full backups are written to it).

`azurite` (session): a running `hsm_devtools.azurite.AzuriteProcess` on a free loopback port, e.g.
    azurite.create_container("backups"); azurite.container_sas("backups"); azurite.container_url("backups")
`fresh_azurite` (function): a factory for tests that stop Azurite (e.g. mid-backup); stopped at the end of the test.
Azurite is installed once by hack/install-azurite.sh if it is missing (`make test` does that up front).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hsm_devtools.azurite import AzuriteProcess


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzuriteProcess]:
    with AzuriteProcess(tmp_path_factory.mktemp("azurite")) as process:
        yield process


@pytest.fixture
def fresh_azurite(tmp_path: Path) -> Iterator[Callable[[], AzuriteProcess]]:
    started: list[AzuriteProcess] = []

    def start() -> AzuriteProcess:
        process = AzuriteProcess(tmp_path / f"azurite-{len(started)}")
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()
