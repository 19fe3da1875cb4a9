"""Expected waits are logged at INFO (one line by the handler) and kopf's "failed temporarily" line for them drops to
DEBUG; real failures keep kopf's ERROR. The records are made the way kopf makes them (its ObjectLogger on
`kopf.objects`, its wording); the operator's integration test checks the same against kopf itself."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import kopf
import pytest

from hsm_operator import waits
from hsm_operator.handlers import _requeue
from hsm_operator.reconciler import conditions, errors
from hsm_operator.reconciler.managed import Outcome

BODY = kopf.Body({"apiVersion": "mhsm.dev/v1alpha1", "kind": "HSMKey", "metadata": {"name": "k", "namespace": "ns"}})


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.NOTSET)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def at(self, level: int) -> list[str]:
        return [r.getMessage() for r in self.records if r.levelno == level]


@pytest.fixture
def captured() -> Iterator[Capture]:
    objects = logging.getLogger(waits.KOPF_OBJECTS_LOGGER)
    saved_level, saved_filters = objects.level, list(objects.filters)
    handler = Capture()
    objects.addHandler(handler)
    objects.setLevel(logging.INFO)
    waits.install()
    waits.install()  # idempotent
    try:
        yield handler
    finally:
        objects.removeHandler(handler)
        objects.setLevel(saved_level)
        objects.filters[:] = saved_filters


def object_logger() -> kopf.ObjectLogger:
    return kopf.ObjectLogger(body=BODY, settings=kopf.OperatorSettings())


def kopf_temporary(logger: kopf.ObjectLogger, exc: kopf.TemporaryError) -> None:
    """kopf's own line for a TemporaryError (kopf/_core/actions/execution.py)."""
    logger.error(f"Handler 'hsmkey-create' failed temporarily: {exc!s}")


def pending_outcome() -> Outcome:
    ready = conditions.creating("Create requested")
    return Outcome(status={"conditions": conditions.merge(None, [ready], generation=1, now="t")}, requeue_after=5.0)


def test_the_filter_is_installed_once(captured: Capture) -> None:
    objects = logging.getLogger(waits.KOPF_OBJECTS_LOGGER)
    assert sum(isinstance(f, waits.ExpectedWaitFilter) for f in objects.filters) == 1


def test_a_pending_create_is_one_info_line_and_no_error(captured: Capture) -> None:
    logger = object_logger()
    raised = _requeue(pending_outcome(), delay=5.0, logger=logger, default="waiting")
    assert isinstance(raised, waits.ExpectedWait)
    assert raised.delay == 5.0
    kopf_temporary(logger, raised)
    assert captured.at(logging.INFO) == ["Creating: Create requested; next check in 5s"]
    assert captured.at(logging.ERROR) == []
    assert captured.at(logging.DEBUG) == []  # lowered to DEBUG, and DEBUG is off


def test_waiting_for_the_hsm_is_expected_and_shown_at_debug_when_enabled(captured: Capture) -> None:
    logging.getLogger(waits.KOPF_OBJECTS_LOGGER).setLevel(logging.DEBUG)
    logger = object_logger()
    wait = errors.WaitingForHSM("ManagedHSM hsm is not Ready: Creating")
    raised = _requeue(Outcome(status={}, requeue_after=10.0, error=wait), delay=10.0, logger=logger, default="x")
    assert isinstance(raised, waits.ExpectedWait)
    kopf_temporary(logger, raised)
    assert captured.at(logging.INFO) == ["WaitingForHSM: ManagedHSM hsm is not Ready: Creating; next check in 10s"]
    assert captured.at(logging.ERROR) == []
    [debug] = captured.at(logging.DEBUG)
    assert debug.endswith("failed temporarily: expected wait: WaitingForHSM: ManagedHSM hsm is not Ready: Creating")


@pytest.mark.parametrize(
    "failure",
    [
        errors.AuthorizationFailed("caller lacks keys/create/action"),
        errors.CredentialsMissing("Secret ns/creds (spec.credentialRef) not found"),
        errors.Throttled("too many requests", retry_after=3),
    ],
)
def test_real_failures_stay_at_error(captured: Capture, failure: errors.ReconcileError) -> None:
    logger = object_logger()
    outcome = Outcome(status={}, requeue_after=failure.delay(), error=failure)
    raised = _requeue(outcome, delay=failure.delay(), logger=logger, default="x")
    assert type(raised) is kopf.TemporaryError
    kopf_temporary(logger, raised)
    assert captured.at(logging.INFO) == []
    [line] = captured.at(logging.ERROR)
    assert line.endswith(f"failed temporarily: {failure.reason}: {failure.message}")


def test_a_paused_delete_says_it_is_paused(captured: Capture) -> None:
    paused = conditions.reconcile_paused("Reconciliation is paused: annotation mhsm.dev/paused is set")
    outcome = Outcome(status={"conditions": conditions.merge(None, [paused], generation=1, now="t")})
    _requeue(outcome, delay=600.0, logger=object_logger(), default="waiting for the external object to be deleted")
    assert captured.at(logging.INFO) == [
        "ReconcilePaused: Reconciliation is paused: annotation mhsm.dev/paused is set; next check in 600s"
    ]


def test_unrelated_error_lines_are_untouched(captured: Capture) -> None:
    logger = object_logger()
    logger.error("Handler 'hsmkey-create' failed temporarily: AuthorizationFailed: expected wait: is in the text")
    logger.error("Something else entirely: expected wait: ")
    assert len(captured.at(logging.ERROR)) == 2
