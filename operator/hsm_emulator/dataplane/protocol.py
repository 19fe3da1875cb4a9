"""Protocol details every data-plane request shares: api-versions, path normalisation, paging links.

The SDKs splice scopes and empty versions into URLs (``https://h///providers/...``, ``/keys/n//sign``), so paths
are compared after collapsing repeated slashes and dropping a trailing one.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from hsm_emulator.dataplane import errors
from hsm_emulator.errors import AzureError

SUPPORTED_API_VERSIONS = ("7.2", "7.3", "7.4", "7.5", "7.6", "2025-06-01", "2025-07-01")
LATEST_API_VERSION = SUPPORTED_API_VERSIONS[-1]


def check_api_version(value: str | None) -> str:
    if value is None or not value.strip():
        raise errors.bad_parameter("The api-version query parameter is required.", "MissingApiVersionParameter")
    if value not in SUPPORTED_API_VERSIONS:
        raise AzureError(
            f"The specified version ({value}) is not recognized. Consider using the latest supported version "
            f"({LATEST_API_VERSION}).",
            code="BadParameter",
            status=400,
        )
    return value


def normalize_path(path: str) -> str:
    collapsed = re.sub(r"/+", "/", path)
    return collapsed.rstrip("/") or "/"


def next_link(base_url: str, path: str, api_version: str, limit: int, skip_token: str | None) -> str | None:
    if skip_token is None:
        return None
    return f"{base_url}{path}?api-version={api_version}&maxresults={limit}&$skiptoken={quote(skip_token)}"
