"""Expected waits are not errors: how the handlers requeue without kopf logging an ERROR for every pending object.

Why this module exists: kopf's only way for a handler to say "run me again in N seconds" is `kopf.TemporaryError`,
and kopf logs every one at ERROR ("Handler '...' failed temporarily: ..."). The handlers requeue for two different
reasons: real failures retried with backoff (AuthorizationFailed, Throttled, CredentialsMissing, ...), which must
stay at ERROR, and expected waits (a create, update or delete in flight; WaitingForHSM while the HSM is being created
or activated), which are normal progress. Logged at ERROR, the latter bury the real failures and trip log alerts.

The choice: expected waits raise `ExpectedWait`, a `kopf.TemporaryError` whose message starts with a fixed prefix,
and the handler itself logs one INFO line saying what it waits for and when it looks again. `ExpectedWaitFilter`,
installed on kopf's per-object logger by `install()`, lowers kopf's own "failed temporarily: <prefix>..." record for
it to DEBUG. kopf's retry semantics (delay, progress in status) are unchanged, and nothing else is filtered: a real
failure's message never starts with the prefix, so it keeps kopf's ERROR.
"""

from __future__ import annotations

import logging

import kopf

EXPECTED_WAIT_PREFIX = "expected wait: "
KOPF_OBJECTS_LOGGER = "kopf.objects"  # kopf's per-object logger (what handlers' `logger` and kopf's own lines use)
_KOPF_TEMPORARY = " failed temporarily: "  # kopf's wording for a TemporaryError (kopf/_core/actions/execution.py)


class ExpectedWait(kopf.TemporaryError):
    """A requeue that is normal progress, not a failure: kopf retries after `delay`; logged at DEBUG only."""

    def __init__(self, why: str, *, delay: float) -> None:
        super().__init__(EXPECTED_WAIT_PREFIX + why, delay=delay)


class ExpectedWaitFilter(logging.Filter):
    """Lowers kopf's "failed temporarily" record for an `ExpectedWait` to DEBUG (dropped unless DEBUG is enabled)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno <= logging.DEBUG or _KOPF_TEMPORARY + EXPECTED_WAIT_PREFIX not in record.getMessage():
            return True
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        # The logger's level was checked before the record was made (at ERROR); check again at the new level.
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def install(logger_name: str = KOPF_OBJECTS_LOGGER) -> None:
    """Add the filter to kopf's per-object logger once (idempotent; called by the CLI before `kopf.run`)."""
    target = logging.getLogger(logger_name)
    if not any(isinstance(existing, ExpectedWaitFilter) for existing in target.filters):
        target.addFilter(ExpectedWaitFilter())
