"""ARM's timestamp format (ISO 8601, UTC, `Z`), kept in one place so every response spells dates alike."""

from __future__ import annotations

import datetime as dt


def timestamp(epoch_seconds: float) -> str:
    moment = dt.datetime.fromtimestamp(epoch_seconds, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
