"""The `secondlook` command: `token` mints a development bearer token; `keys`
manages the keys that encrypt PHI at rest.

(`make run`, the demo platform, is dev tooling: `python -m devstack run`.)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from secondlook import phi
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


def _new_local_key(args: argparse.Namespace) -> int:
    try:
        phi.new_local_master_key(args.path)
    except FileExistsError:
        print(f"error: {args.path} exists: a key in use is never overwritten", file=sys.stderr)
        return 2
    print(f"wrote a new local master key to {args.path} (readable by its owner only; never commit it)")
    return 0


def _rotate(args: argparse.Namespace) -> int:
    from pymongo import AsyncMongoClient

    settings = Settings()

    async def rotate() -> int:
        client = AsyncMongoClient(settings.mongo_uri, tz_aware=True, w="majority", journal=True)
        try:
            return await phi.rotate(settings, client)
        finally:
            await client.close()

    try:
        count = asyncio.run(rotate())
    except phi.PhiConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"re-wrapped {count} data key(s) under the {settings.phi_kms_provider} master key now configured")
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

    keys = sub.add_parser("keys", help="the keys that encrypt PHI at rest (SECONDLOOK_PHI_* settings)")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    new_key = keys_sub.add_parser("new-local-key", help="write a new local master key (development KMS) to PATH")
    new_key.add_argument("path", type=Path)
    new_key.set_defaults(func=_new_local_key)
    rotate = keys_sub.add_parser(
        "rotate", help="re-wrap every data key under the master key now configured; sealed data is untouched. "
        "A local key: set the new file as SECONDLOOK_PHI_LOCAL_MASTER_KEY_FILE and the old one as "
        "SECONDLOOK_PHI_LOCAL_PREVIOUS_MASTER_KEY_FILE, then run this")
    rotate.set_defaults(func=_rotate)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
