"""`python -m devstack run`: the whole platform on the embedded stack, with
sample cases flowing (what `make run` calls). Development tooling: not part
of the runtime package or image."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEMO_DIRECTORY = 200  # synthetic specialists beside the curated ones


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start the platform on the embedded stack and show sample cases flowing")
    run.add_argument("--home", help="state and logs folder (default .secondlook/)")
    run.add_argument("--exit-when-done", action="store_true",
                     help="stop everything once the sample cases are DELIVERED (default: keep running)")
    run.add_argument("--kafka-port", type=int, default=0, help="broker port (default: a free one)")
    run.add_argument("--mongo-port", type=int, default=0, help="store port (default: a free one)")
    run.add_argument("--grpc-port-base", type=int, default=0,
                     help="gRPC ports of intake, matching, review, notify: BASE..BASE+3 (default: free ones)")
    run.add_argument("--metrics-port-base", type=int, default=0,
                     help="metrics ports, likewise BASE..BASE+3 (default: free ones)")
    run.add_argument("--fhir-port", type=int, default=0, help="intake's FHIR endpoint port (default: a free one)")
    run.add_argument("--synthetic-specialists", type=int, default=DEMO_DIRECTORY, metavar="N",
                     help="synthetic specialists (secondlook directory generate) seeded beside the curated "
                     f"data/specialists.json, each answered by the simulated reviewer (default {DEMO_DIRECTORY})")
    args = parser.parse_args(argv)

    from devstack import demo

    ports = {k: getattr(args, k) for k in ("kafka_port", "mongo_port", "grpc_port_base", "metrics_port_base",
                                               "fhir_port")}
    if args.synthetic_specialists < 0:
        parser.error("--synthetic-specialists must be 0 or more")
    for name, port in ports.items():
        top = 65535 - (3 if name.endswith("_base") else 0)  # a base gives four ports
        if port and not 1 <= port <= top:
            parser.error(f"--{name.replace('_', '-')} must be a port from 1 to {top} (0: a free one)")
    return demo.run(home=Path(args.home) if args.home else None, hold=not args.exit_when_done, ports=ports,
                    synthetic_specialists=args.synthetic_specialists)


if __name__ == "__main__":
    sys.exit(main())
