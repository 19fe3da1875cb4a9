"""Turn pydantic validation errors into one human line naming the offending field.

Shared by the config loader (`config error: tenants[0].users[1].objectId: not a UUID`) and the HTTP error
handlers (`properties.roleDefinitionId: field required`), so every bad input names its field the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# pydantic's default messages, reworded where the default would confuse a user reading a config or API error.
_MESSAGES_BY_TYPE = {
    "missing": "field required",
    "extra_forbidden": "unknown field",
    "json_invalid": "not valid JSON",
}


def format_location(location: Sequence[int | str]) -> str:
    """('tenants', 0, 'users', 1, 'objectId') -> 'tenants[0].users[1].objectId'."""
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(root)"


def describe_error(error: Mapping[str, Any], *, skip_prefix: Sequence[str] = ()) -> str:
    """One pydantic error dict -> 'field.path: message'. `skip_prefix` drops leading location parts like 'body'."""
    location = list(error.get("loc", ()))
    for part in skip_prefix:
        if location and location[0] == part:
            location.pop(0)
    error_type = str(error.get("type", ""))
    message = _MESSAGES_BY_TYPE.get(error_type) or str(error.get("msg", "invalid value"))
    # Our own validators raise ValueError("not a UUID"); pydantic prefixes those with "Value error, ".
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if error_type == "json_invalid" and error.get("ctx", {}).get("error"):
        message = f"not valid JSON ({error['ctx']['error']})"
    return f"{format_location(location)}: {message}"


def describe_first_error(errors: Sequence[Mapping[str, Any]], *, skip_prefix: Sequence[str] = ()) -> str:
    """The first error only: users fix one thing at a time and one line stays readable."""
    if not errors:
        return "(root): invalid value"
    return describe_error(errors[0], skip_prefix=skip_prefix)
