"""The `secondlook` command: `token` mints a development bearer token.

(`make run`, the demo platform, is dev tooling: `python -m devstack run`.)
"""

from __future__ import annotations

import argparse
import sys

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="secondlook", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

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
