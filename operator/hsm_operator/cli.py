"""`hsm-operator run --plane management|data|all [--namespace NS ... | --all-namespaces]` (CONTRACT.md §3).

Why this module exists: one entry point for the container, `make run` and the tests. It validates the environment
before kopf starts (a bad variable exits 2 with one line naming it), registers only the handlers of the chosen
plane in a fresh `kopf.OperatorRegistry` (so the management and data controllers can run as separate Deployments
with separate identities), serves Prometheus metrics on HSM_METRICS_PORT when set (a port that cannot be bound exits
2 like a bad variable), keeps expected waits out of the ERROR log (`waits.install`), and hands kopf its usual
liveness and verbosity options.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

import kopf

from hsm_operator import kinds, waits
from hsm_operator.handlers import build_registry
from hsm_operator.metrics import Metrics, MetricsServer, serve
from hsm_operator.settings import ConfigError, config_from_env

PLANES = ("management", "data", "all")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hsm-operator", description="Managed HSM operator (kopf).")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="Run the controllers of one plane (or all).")
    run.add_argument("--plane", choices=PLANES, required=True, help="Which controllers to run.")
    scope = run.add_mutually_exclusive_group(required=True)
    scope.add_argument("--namespace", "-n", action="append", dest="namespaces", metavar="NS", help="Watch NS.")
    scope.add_argument("--all-namespaces", "-A", action="store_true", help="Watch every namespace.")
    # kopf's own spelling: `--peering NAME` coordinates replicas through that peering object; `--standalone` (the
    # default) runs without one. The chart gives each controller its own peering so the planes never pause each other.
    peering = run.add_mutually_exclusive_group()
    peering.add_argument("--peering", metavar="NAME", help="Coordinate replicas through kopf peering object NAME.")
    peering.add_argument("--standalone", action="store_true", help="Run without peering (the default).")
    run.add_argument("--liveness", dest="liveness_endpoint", metavar="URL", help="e.g. http://0.0.0.0:8080/healthz")
    verbosity = run.add_mutually_exclusive_group()
    verbosity.add_argument("--verbose", "-v", action="store_true")
    verbosity.add_argument("--debug", "-d", action="store_true")
    verbosity.add_argument("--quiet", "-q", action="store_true")
    run.add_argument(
        "--log-format", choices=[f.name.lower() for f in kopf.LogFormat], default="full", help="kopf log format."
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = config_from_env()
    except ConfigError as exc:
        sys.stderr.write(f"hsm-operator: {exc}\n")
        return 2
    selected = kinds.for_plane(args.plane)
    if not selected:
        sys.stderr.write(f"hsm-operator: no kinds are implemented for --plane {args.plane}\n")
        return 2
    kopf.configure(
        verbose=args.verbose,
        debug=args.debug,
        quiet=args.quiet,
        log_format=kopf.LogFormat[args.log_format.upper()],
        log_prefix=True,  # every per-object line names its object: "[ns/name] WaitingForHSM: ..."
    )
    # azure-core logs every HTTP request at INFO; the loop's Events and conditions already say what happened.
    logging.getLogger("azure").setLevel(logging.DEBUG if args.debug else logging.WARNING)
    waits.install()
    metrics = Metrics()
    server: MetricsServer | None = None
    if config.metrics_port is not None:
        try:
            server = serve(metrics, config.metrics_port)
        except OSError as exc:
            sys.stderr.write(f"hsm-operator: {exc.strerror}\n")
            return 2
        logging.getLogger(__name__).info("Serving Prometheus metrics on port %d (/metrics)", server.port)
    clusterwide = bool(args.all_namespaces)
    registry = build_registry(selected, config, peering_name=args.peering, clusterwide=clusterwide, metrics=metrics)
    try:
        kopf.run(
            registry=registry,
            standalone=args.peering is None,
            peering_name=args.peering,
            clusterwide=clusterwide,
            namespaces=args.namespaces or (),
            liveness_endpoint=args.liveness_endpoint,
        )
    finally:
        if server is not None:
            server.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
