"""Runtime settings of one emulator process: what the CLI flags and the config's `server` section resolve to.

Frozen, built once at start and shared by every plane (`Emulator.settings`). URLs the emulator hands out (token
issuer, challenge authority, `hsmUri`) are all derived here so they agree with each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hsm_emulator.config import MAX_CLOCK_SKEW_SECONDS, EmulatorConfig, parse_port_range

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8443
DEFAULT_HSM_PORT_COUNT = 16
TOKEN_LIFETIME_SECONDS = 3600
JWKS_CACHE_SECONDS = 300


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    hsm_ports: tuple[int, ...] = ()
    advertised_host: str = DEFAULT_HOST
    hostnames: tuple[str, ...] = ()
    clock_skew_seconds: int = MAX_CLOCK_SKEW_SECONDS
    token_lifetime_seconds: int = TOKEN_LIFETIME_SECONDS
    jwks_cache_seconds: int = JWKS_CACHE_SECONDS
    trusted_issuer_ca_files: tuple[Path, ...] = field(default=())

    @classmethod
    def resolve(
        cls,
        *,
        data_dir: Path,
        config: EmulatorConfig,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        hsm_ports: tuple[int, ...] | None = None,
    ) -> Settings:
        """Combine CLI flags and config. HSM ports: flag, else `server.hsmPorts`, else the 16 after `port`."""
        if hsm_ports is None:
            if config.server.hsmPorts is not None:
                hsm_ports = parse_port_range(config.server.hsmPorts)
            else:
                hsm_ports = tuple(range(port + 1, port + 1 + DEFAULT_HSM_PORT_COUNT))
        if port in hsm_ports:
            raise ValueError(f"the HSM port pool must not contain the main port {port}")
        return cls(
            data_dir=data_dir,
            host=host,
            port=port,
            hsm_ports=hsm_ports,
            advertised_host=config.server.advertisedHost,
            hostnames=tuple(config.server.hostnames),
            clock_skew_seconds=config.server.tokenClockSkewSeconds,
            trusted_issuer_ca_files=tuple(Path(p) for p in config.server.trustedIssuerCaFiles),
        )

    @property
    def main_url(self) -> str:
        """`https://advertisedHost:port`: the authority host, ARM base URL and Graph base URL."""
        return f"https://{_url_host(self.advertised_host)}:{self.port}"

    def issuer(self, tenant_id: str) -> str:
        return f"{self.main_url}/{tenant_id}/v2.0"

    def hsm_url(self, hsm_port: int) -> str:
        """`properties.hsmUri` of the HSM bound to `hsm_port`."""
        return f"https://{_url_host(self.advertised_host)}:{hsm_port}/"

    @property
    def tls_dir(self) -> Path:
        return self.data_dir / "tls"


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
