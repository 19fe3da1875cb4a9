"""ISO-8601 durations as rotation policies use them (``P90D``, ``P1Y2M``, ``PT12H``...), converted to seconds.

Key Vault counts a month as 30 days and a year as 365 days when it checks the policy's minimums; so do we.
"""

from __future__ import annotations

import re

_DURATION = re.compile(
    r"^P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)
_SECONDS = {
    "years": 365 * 86400,
    "months": 30 * 86400,
    "weeks": 7 * 86400,
    "days": 86400,
    "hours": 3600,
    "minutes": 60,
    "seconds": 1,
}
DAY = 86400


class InvalidDuration(ValueError):
    """Not an ISO-8601 duration."""


def to_seconds(text: str) -> int:
    match = _DURATION.match(text)
    if not match:
        raise InvalidDuration(f"'{text}' is not an ISO 8601 duration (for example P90D or P1Y).")
    return sum(int(value) * _SECONDS[unit] for unit, value in match.groupdict().items() if value)
