"""The `secondlook` command: `run` (the demo platform) and `token` (dev JWTs)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from secondlook.auth import ROLES, mint_token
from secondlook.settings import Settings


def _token(args: argparse.Namespace) -> int:
    settings = Settings()
    if not settings.jwt_secret.get_secret_value():
        print("error: set SECONDLOOK_JWT_SECRET to the key the services verify tokens with", file=sys.stderr)
        return 2
    unknown = [r for r in args.role if r not in ROLES]
    if unknown:
        print(f"error: --role {unknown[0]!r} is not one of {', '.join(ROLES)}", file=sys.stderr)
        return 2
    if "reviewer" in args.role and not args.specialist_id:
        print("error: a reviewer token needs --specialist-id", file=sys.stderr)
        return 2
    print(mint_token(settings, subject=args.subject, tenant=args.tenant, roles=args.role,
                     specialist_id=args.specialist_id or "", ttl_seconds=args.ttl))
    return 0


def _run(args: argparse.Namespace) -> int:
    from secondlook.dev import demo  # needs the embedded extra

    ports = {k: getattr(args, k) for k in ("kafka_port", "mongo_port", "grpc_port_base", "metrics_port_base")}
    return demo.run(home=Path(args.home) if args.home else None, hold=not args.exit_when_done, ports=ports)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="secondlook", description=__doc__)
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
    run.set_defaults(func=_run)

    token = sub.add_parser("token", help="mint a development bearer token (signed with SECONDLOOK_JWT_SECRET)")
    token.add_argument("--subject", required=True, help="user identity, the `sub` claim")
    token.add_argument("--tenant", required=True)
    token.add_argument("--role", action="append", required=True, help=f"one of {', '.join(ROLES)}; repeatable")
    token.add_argument("--specialist-id", help="for reviewer tokens")
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds")
    token.set_defaults(func=_token)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
