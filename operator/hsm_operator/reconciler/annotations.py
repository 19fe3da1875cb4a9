"""The `mhsm.dev/*` annotation keys users set on a CR to steer the loop, and their parsing.

Why a module: the keys are part of the user-facing contract (CRDS.md) and are read in several places (loop, handlers);
keeping them and their validation together makes a typo impossible and bad values produce one clear message.
The operator only reads these annotations; it never writes them.
"""

from __future__ import annotations

from collections.abc import Mapping

PREFIX = "mhsm.dev/"
EXTERNAL_NAME = PREFIX + "external-name"  # adopt the external object with this name
PAUSED = PREFIX + "paused"  # "true": do nothing but report ReconcilePaused
RECONCILE_REQUESTED = PREFIX + "reconcile-requested"  # any new value: sync now
SYNC_INTERVAL = PREFIX + "sync-interval"  # per-object drift-check period in seconds (or 30s / 5m / 1h), with a floor
ROTATE = PREFIX + "rotate"  # HSMKey: any new value = rotate once

_TRUE = frozenset({"true", "yes", "1", "on"})


class AnnotationError(ValueError):
    """An annotation value the operator cannot interpret; the message names the annotation."""


def is_paused(annotations: Mapping[str, str]) -> bool:
    return annotations.get(PAUSED, "").strip().lower() in _TRUE


def sync_interval(annotations: Mapping[str, str], *, default: float, floor: float) -> float:
    """The drift-check period for one object: the annotation if set (never below `floor`), else `default`."""
    raw = annotations.get(SYNC_INTERVAL)
    if raw is None or not raw.strip():
        return default
    seconds = parse_duration(raw, what=SYNC_INTERVAL)
    return max(seconds, floor)


_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(raw: str, *, what: str) -> float:
    """Parse `90`, `90s`, `5m` or `1h` into seconds; anything else is an `AnnotationError` naming `what`."""
    text = raw.strip().lower()
    unit = 1.0
    if text and text[-1] in _UNITS:
        unit = _UNITS[text[-1]]
        text = text[:-1]
    try:
        value = float(text)
    except ValueError:
        raise AnnotationError(f"{what}: {raw!r} is not a duration (use seconds, or 30s, 5m, 1h)") from None
    if value <= 0 or value != value or value == float("inf"):
        raise AnnotationError(f"{what}: {raw!r} must be a positive duration")
    return value * unit
