"""The `secondlook` command: `token` mints a development bearer token; `keys`
manages the keys that encrypt PHI at rest; `audit` verifies the access audit's
hash chains and shows a case's access history; `directory generate` writes a
synthetic specialist directory, `directory import` loads a CSV or FHIR file into
matching. The `secondlook` command adds the services' own commands to these
(services/cli.py: `report prior-auth`).

(`make run`, the demo platform, is dev tooling: `python -m devstack run`.)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

from pymongo.errors import EncryptionError

from secondlook import directorygen, phi
from secondlook.auth import MAX_CLAIM_CHARS, MAX_TOKEN_LIFETIME_SECONDS, ROLES, mint_token
from secondlook.edge import nfc_json, text_problem
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
    if not args.subject.strip() or not args.tenant.strip():
        print("error: --subject and --tenant must not be empty", file=sys.stderr)
        return 2
    for option, value in (("--subject", args.subject), ("--tenant", args.tenant),
                          ("--specialist-id", args.specialist_id or ""), *(("--grant-tenant", t) for t in args.grant_tenant)):
        # What the services refuse in a token (auth.TokenVerifier), and an empty granted tenant.
        if text_problem(value, prose=False) or len(value) > MAX_CLAIM_CHARS or (option == "--grant-tenant"
                                                                                  and not value.strip()):
            print(f"error: {option} must be printable text of at most {MAX_CLAIM_CHARS} characters", file=sys.stderr)
            return 2
    if not 0 < args.ttl <= MAX_TTL_SECONDS:
        print(f"error: --ttl must be a number of seconds from 1 to {MAX_TTL_SECONDS} (a year)", file=sys.stderr)
        return 2
    if "reviewer" in args.role and not args.specialist_id:
        print("error: a reviewer token needs --specialist-id", file=sys.stderr)
        return 2
    if args.issuer:
        settings = settings.model_copy(update={"jwt_issuer": args.issuer})
    print(mint_token(settings, subject=args.subject, tenant=args.tenant, roles=args.role,
                     specialist_id=args.specialist_id or "", tenants=args.grant_tenant, ttl_seconds=args.ttl))
    return 0


MAX_TTL_SECONDS = MAX_TOKEN_LIFETIME_SECONDS  # what the services accept


def _new_local_key(args: argparse.Namespace) -> int:
    if args.path.is_dir():
        print(f"error: {args.path} is a folder: give the path of the key file to write", file=sys.stderr)
        return 2
    if not args.path.parent.is_dir():
        print(f"error: no folder {args.path.parent}: make it first (the key is written into an existing one)",
              file=sys.stderr)
        return 2
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
    except EncryptionError as exc:
        if "is not configured" not in str(exc):
            raise
        print("error: a data key is wrapped by a master key that is not configured: set the key it was wrapped "
              "with too (SECONDLOOK_PHI_LOCAL_PREVIOUS_MASTER_KEY_FILE, or the previous KMS key settings) and run "
              "this again; nothing was changed", file=sys.stderr)
        return 2
    print(f"re-wrapped {count} data key(s) under the {settings.phi_kms_provider} master key now configured")
    return 0


def store_db(settings: Settings, service: str = "intake"):
    from pymongo import AsyncMongoClient

    client = AsyncMongoClient(settings.mongo_uri, tz_aware=True, serverSelectionTimeoutMS=10_000)
    return client, client[settings.database_for(service)]


def shown(value: str) -> str:
    """`value` as a table shows it: what is not printable escaped (a subject written into
    the audit before claims were checked could hold a terminal's control sequences)."""
    return value if value.isprintable() else value.encode("unicode_escape").decode("ascii")


def table(title: str, columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """A plain-text table (the runtime carries no rendering library): a title, a header
    and rows, columns padded to their widest cell, every cell printable."""
    title, rows = shown(title), [tuple(shown(cell) for cell in r) for r in rows]
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(columns)]
    line = lambda cells: "  ".join(cell.ljust(w) for cell, w in zip(cells, widths, strict=True)).rstrip()  # noqa: E731
    rule = "  ".join("-" * w for w in widths)
    return "\n".join([title, line(columns), rule, *(line(r) for r in rows)])


def paint(text: str, colour: str) -> str:
    """Red or green on a terminal that shows colours; the text alone when piped or NO_COLOR is set."""
    if not sys.stdout.isatty() or os.environ.get("NO_COLOR"):
        return text
    return {"red": "\033[31m", "green": "\033[32m"}[colour] + text + "\033[0m"


def _audit_verify(args: argparse.Namespace) -> int:
    from secondlook import audit, auditlog

    async def walk() -> list[tuple[str, int, str, audit.Break | None]]:
        client, db = store_db(Settings(), args.service)
        try:
            names = [args.tenant] if args.tenant else await auditlog.tenants(db)
            results = []
            for tenant in names:
                records = [r async for r in auditlog.chain_of(db, tenant)]
                held, broken = audit.verify(records)
                head = f"#{records[-1].get('seq')} {str(records[-1].get('hash'))[:16]}" if records else "-"
                results.append((tenant, held, head, broken))
            return results
        finally:
            await client.close()

    results = asyncio.run(walk())
    if args.tenant and not results[0][1] and results[0][3] is None:
        print(paint(f"tenant {shown(args.tenant)} has no audit records: check the name (without --tenant every "
                    "tenant's chain is listed)", "red"))
        return 1
    if not results:
        print("no audit records")
        return 0
    rows = [(tenant, str(held), head, "whole" if broken is None else f"broken at record #{broken.seq}")
            for tenant, held, head, broken in results]
    print(table("access audit: one hash chain per tenant (keep the heads: a chain cut short verifies, "
                 "but its head moves back)", ("tenant", "records that hold", "head", "chain"), rows))
    first = next((b for *_, b in results if b is not None), None)
    if first is not None:
        print(paint(f"first broken link: {first}", "red"))
        return 1
    print(paint(f"every chain is whole ({sum(held for _, held, *_ in results)} records)", "green"))
    return 0


def _audit_show(args: argparse.Namespace) -> int:
    from secondlook import auditlog

    async def read() -> list[dict]:
        client, db = store_db(Settings(), args.service)
        try:
            return await auditlog.history(db, args.case_id, args.tenant)
        finally:
            await client.close()

    records = asyncio.run(read())
    if not records:
        print(f"no recorded access to case {args.case_id}")
        return 0
    rows = [(r["at"].strftime("%Y-%m-%d %H:%M:%S.%f")[:-3], r["subject"], r.get("caller_tenant", ""),
             ", ".join(r["roles"]), r["method"], ", ".join(r["fields"]), f"{r['tenant_id']} #{r['seq']}")
            for r in records]
    print(table(f"accesses to case {args.case_id} (times in UTC)",
                 ("when", "who", "from tenant", "roles", "method", "what", "record (chain #)"), rows))
    return 0


def _directory_generate(args: argparse.Namespace) -> int:
    if args.count < 0:
        print("error: --count must be 0 or more", file=sys.stderr)
        return 2
    out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout  # noqa: SIM115
    try:
        out.write("[\n")
        for n, entry in enumerate(directorygen.specialists(args.count, seed=args.seed, prefix=args.prefix)):
            out.write((",\n" if n else "") + json.dumps(entry))
            if args.out and args.count >= 10_000 and (n + 1) % 10_000 == 0:
                print(f"  {n + 1:,} of {args.count:,} specialists", file=sys.stderr)
        out.write("\n]\n")
    except BrokenPipeError:  # piped into `head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        if args.out:
            out.close()
    if args.out:
        print(f"wrote {args.count:,} synthetic specialists to {args.out}", file=sys.stderr)
    return 0


def _directory_import(args: argparse.Namespace) -> int:
    """ImportSpecialists with a file: CSV, or a FHIR Bundle (a .json file)."""
    import grpc
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    from secondlook import serviceclient
    from secondlook.v1 import matching_pb2, matching_pb2_grpc

    settings = Settings()
    token = args.token or os.environ.get("SECONDLOOK_TOKEN", "")
    if not token:
        print("error: give a directory-admin token: --token, or SECONDLOOK_TOKEN (development: "
              "secondlook token --role directory-admin ...)", file=sys.stderr)
        return 2
    if not (token.isascii() and token.isprintable()) or " " in token:
        print("error: the token must be one line of printable ASCII, as `secondlook token` prints it (without "
              "'Bearer ')", file=sys.stderr)
        return 2
    try:
        text = args.file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        print(f"error: {args.file} is not UTF-8 text (byte {exc.start}): save it as UTF-8 (CSV UTF-8 in a "
              "spreadsheet)", file=sys.stderr)
        return 2
    fhir = args.format == "fhir" or (args.format is None and args.file.suffix.lower() == ".json")
    request = matching_pb2.ImportSpecialistsRequest(dry_run=args.dry_run, **{"fhir_bundle" if fhir else "csv": text})
    if request.ByteSize() > settings.grpc_max_message_bytes:
        print(f"error: {args.file} is {request.ByteSize():,} bytes, more than one call carries "
              f"({settings.grpc_max_message_bytes:,}: SECONDLOOK_GRPC_MAX_MESSAGE_BYTES): split it into files of "
              "fewer rows (a row's specialist is created or updated whichever file holds it)", file=sys.stderr)
        return 2

    async def call():
        async with serviceclient.channel(settings, args.target or settings.matching_target) as channel:
            return await matching_pb2_grpc.MatchingServiceStub(channel).ImportSpecialists(
                request, metadata=(("authorization", f"Bearer {token}"),), timeout=args.timeout)

    try:
        done = asyncio.run(call())
    except grpc.aio.AioRpcError as exc:
        print(f"refused: {exc.code().name}: {exc.details()}", file=sys.stderr)
        status = rpc_status.from_call(exc)
        for detail in status.details if status else ():
            found = error_details_pb2.BadRequest()
            if detail.Unpack(found):
                for v in found.field_violations:
                    print(f"  {v.field}: {v.description}", file=sys.stderr)
        return 1
    what = "would be (dry run)" if args.dry_run else "were"
    print(table(f"{args.file.name}: {done.rows:,} rows", ("created", "updated", "unchanged", ""),
                [(f"{done.created:,}", f"{done.updated:,}", f"{done.unchanged:,}", what)]))
    return 0


def build_parser() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    """The kernel's commands, and where more are added (services/cli.py)."""
    parser = argparse.ArgumentParser(prog="secondlook", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    token = sub.add_parser("token", help="mint a development bearer token (signed with SECONDLOOK_JWT_SECRET)")
    token.add_argument("--subject", required=True, help="user identity, the `sub` claim")
    token.add_argument("--tenant", required=True)
    token.add_argument("--role", action="append", required=True, help=f"one of {', '.join(ROLES)}; repeatable")
    token.add_argument("--specialist-id", help="for reviewer tokens")
    token.add_argument("--grant-tenant", action="append", default=[],
                       help="for operator tokens: another tenant whose cases it may read; repeatable")
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds")
    token.add_argument("--issuer", help="the `iss` claim (default SECONDLOOK_JWT_ISSUER: the services' own "
                                        "setting; the Kubernetes manifests set 'secondlook')")
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

    audit = sub.add_parser("audit", help="the access audit (intake's database, or --service matching or "
                           "review; SECONDLOOK_MONGO_URI)")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    service_help = ("whose audit: intake (cases, the default), matching (reads of specialists' contact "
                    "details, chain secondlook-directory, the specialist id as the case) or review (reads of "
                    "what reviewers wrote: opinions, assessments)")
    verify = audit_sub.add_parser("verify", help="walk every tenant's hash chain; name the first broken link "
                                  "(exit status 1)")
    verify.add_argument("--tenant", help="only this tenant's chain")
    verify.add_argument("--service", choices=("intake", "matching", "review"), default="intake", help=service_help)
    verify.set_defaults(func=_audit_verify)
    show = audit_sub.add_parser("show", help="a case's access history, as a table")
    show.add_argument("case_id")
    show.add_argument("--tenant", help="only accesses in this tenant's chain")
    show.add_argument("--service", choices=("intake", "matching", "review"), default="intake", help=service_help)
    show.set_defaults(func=_audit_show)

    directory = sub.add_parser("directory", help="the specialist directory")
    directory_sub = directory.add_subparsers(dest="directory_command", required=True)
    generate = directory_sub.add_parser(
        "generate", help="write a synthetic directory (fictional names and NPIs, realistic distributions) as JSON: "
        "the format SECONDLOOK_MATCHING_DIRECTORY_SEED reads")
    generate.add_argument("--count", type=int, required=True, help="how many specialists")
    generate.add_argument("--seed", type=int, default=1, help="the same seed (and day) gives the same directory")
    generate.add_argument("--prefix", default="syn", help="specialist ids are PREFIX-000000, PREFIX-000001, ...")
    generate.add_argument("--out", type=Path, help="file to write (default: standard output)")
    generate.set_defaults(func=_directory_generate)
    load = directory_sub.add_parser(
        "import", help="load a directory file into matching (ImportSpecialists): CSV, or a FHIR Bundle of "
        "Practitioner, PractitionerRole and Organization (a .json file); every row is checked and nothing is "
        "written unless all pass")
    load.add_argument("file", type=Path)
    load.add_argument("--format", choices=("csv", "fhir"), help="default: fhir for a .json file, else csv")
    load.add_argument("--dry-run", action="store_true", help="check and count, write nothing")
    load.add_argument("--target", help="matching's gRPC address (default SECONDLOOK_MATCHING_TARGET)")
    load.add_argument("--token", help="a directory-admin bearer token (default SECONDLOOK_TOKEN, which keeps it "
                                      "out of the process list)")
    load.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the answer")
    load.set_defaults(func=_directory_import)
    return parser, sub


def run(args: argparse.Namespace) -> int:
    """The chosen command; what an operator can put right (a path, the store's address)
    is one line on standard error and exit status 2, not a traceback."""
    from pydantic import ValidationError
    from pydantic_settings import SettingsError
    from pymongo.errors import ConfigurationError, ConnectionFailure

    from secondlook.settings import setting_problems

    try:
        return args.func(args)
    except (ValidationError, SettingsError) as exc:
        if isinstance(exc, ValidationError) and exc.title != "Settings":
            raise
        for variable, problem in setting_problems(exc):
            print(f"error: {variable}: {problem}", file=sys.stderr)
    except ConfigurationError as exc:  # a mongodb+srv:// name that does not resolve, and the like
        print(f"error: SECONDLOOK_MONGO_URI: {type(exc).__name__}: the store's address cannot be used",
              file=sys.stderr)
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}", file=sys.stderr)
    except ConnectionFailure as exc:
        print(f"error: the store cannot be reached ({type(exc).__name__}); set SECONDLOOK_MONGO_URI to it "
              "(`make run` prints the one it started)", file=sys.stderr)
    return 2


# Names that meet the services' own (claims, audit chains): taken in normal form C as
# the services take every text (secondlook.edge.nfc). Paths and tokens are left as typed.
_NAMES = ("subject", "tenant", "specialist_id", "grant_tenant", "case_id")


def main(argv: list[str] | None = None) -> int:
    parser, _ = build_parser()
    args = parser.parse_args(argv)
    for name in _NAMES:
        if isinstance(value := getattr(args, name, None), (str, list)):
            setattr(args, name, nfc_json(value))
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
