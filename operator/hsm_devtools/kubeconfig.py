"""Write a self-contained kubeconfig for the local control plane.

Credentials are embedded (`*-data` fields, base64) rather than referenced by path: kopf's fallback kubeconfig parser
does not resolve relative paths, and a self-contained file can be copied or mounted anywhere.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import yaml

CONTEXT_NAME = "hsm-devtools"


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


def write_kubeconfig(
    path: Path,
    *,
    server: str,
    ca_cert: Path,
    client_cert: Path,
    client_key: Path,
    user: str,
) -> Path:
    """Write a kubeconfig with one cluster, one user (client certificate) and one current context; return `path`."""
    document: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": CONTEXT_NAME, "cluster": {"server": server, "certificate-authority-data": _b64(ca_cert)}},
        ],
        "users": [
            {
                "name": user,
                "user": {"client-certificate-data": _b64(client_cert), "client-key-data": _b64(client_key)},
            },
        ],
        "contexts": [{"name": CONTEXT_NAME, "context": {"cluster": CONTEXT_NAME, "user": user}}],
        "current-context": CONTEXT_NAME,
        "preferences": {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write-then-rename so a reader (kubectl in another terminal) never sees a half-written file; 0600: it holds a key.
    partial = path.with_name(path.name + ".partial")
    partial.touch(mode=0o600, exist_ok=True)
    partial.chmod(0o600)
    partial.write_text(yaml.safe_dump(document, sort_keys=False))
    partial.replace(path)
    return path
