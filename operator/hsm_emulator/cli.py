"""`hsm-emulator` command line: `serve` (the service) and the subcommands other parts register.

Exit codes: 0 clean stop, 1 runtime failure (e.g. a port is taken), 2 invalid command line or config (one line on
stderr naming the offending field), 3 the server failed during start-up.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from hsm_emulator.config import ConfigError, load_config
from hsm_emulator.settings import DEFAULT_HOST, DEFAULT_PORT, Settings

EXIT_RUNTIME_ERROR = 1
EXIT_CONFIG_ERROR = 2


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range 1-65535: {port}")
    return port


def _port_range(text: str) -> tuple[int, ...]:
    from hsm_emulator.config import parse_port_range

    try:
        return parse_port_range(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} {exc}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hsm-emulator", description="Emulated Azure Key Vault Managed HSM.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="run the emulator over HTTPS")
    serve.add_argument("--config", required=True, type=Path, help="YAML config file (CONTRACT.md section 2)")
    serve.add_argument("--data-dir", required=True, type=Path, help="state directory (database, keys, TLS)")
    serve.add_argument("--host", default=DEFAULT_HOST, help="listen address (default %(default)s)")
    serve.add_argument("--port", default=DEFAULT_PORT, type=_port, help="main port (default %(default)s)")
    serve.add_argument(
        "--hsm-ports",
        type=_port_range,
        metavar="A-B",
        help="port pool for HSM data planes (default: server.hsmPorts, else the 16 after --port)",
    )
    serve.add_argument("--tls-cert", type=Path, help="server certificate (PEM); with --tls-key")
    serve.add_argument("--tls-key", type=Path, help="server private key (PEM); with --tls-cert")
    serve.add_argument(
        "--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug", "trace"]
    )
    serve.set_defaults(handler=_serve)
    _register_extensions(commands)
    return parser


def _register_extensions(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Subcommands owned by other parts (e.g. `security-domain restore-blob`) register themselves here."""
    import importlib

    for module_name in ("hsm_emulator.securitydomain.restore_cli",):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and module_name.startswith(exc.name):
                continue
            raise
        module.register(commands)


def _serve(arguments: argparse.Namespace) -> int:
    from hsm_emulator.runtime import Emulator
    from hsm_emulator.server import BindError, bind_sockets, serve
    from hsm_emulator.tls import TlsFiles, ensure_tls_files, server_names

    if (arguments.tls_cert is None) != (arguments.tls_key is None):
        return _fail(EXIT_CONFIG_ERROR, "config error: --tls-cert and --tls-key must be given together")
    try:
        config = load_config(arguments.config)
        settings = Settings.resolve(
            data_dir=arguments.data_dir.resolve(),
            config=config,
            host=arguments.host,
            port=arguments.port,
            hsm_ports=arguments.hsm_ports,
        )
    except (ConfigError, ValueError) as exc:
        return _fail(EXIT_CONFIG_ERROR, f"config error: {exc}")
    logging.basicConfig(
        level=arguments.log_level.upper() if arguments.log_level != "trace" else "DEBUG",
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        sockets = bind_sockets(settings.host, [settings.port, *settings.hsm_ports])
    except BindError as exc:
        return _fail(EXIT_RUNTIME_ERROR, f"error: {exc.strerror}")
    try:
        if arguments.tls_cert is not None:
            for path in (arguments.tls_cert, arguments.tls_key):
                if not path.is_file():
                    raise ConfigError(str(path), "TLS file not found")
            tls = TlsFiles(cert_file=arguments.tls_cert, key_file=arguments.tls_key, ca_file=None)
        else:
            settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            tls = ensure_tls_files(settings.tls_dir, server_names(settings.advertised_host, settings.hostnames))
        emulator = Emulator.open(settings, config)
    except ConfigError as exc:
        for sock in sockets:
            sock.close()
        return _fail(EXIT_CONFIG_ERROR, f"config error: {exc}")
    serve(emulator, sockets, tls, log_level=arguments.log_level)
    return 0


def _fail(code: int, line: str) -> int:
    print(line, file=sys.stderr, flush=True)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    code: int = arguments.handler(arguments)
    return code


if __name__ == "__main__":
    sys.exit(main())
