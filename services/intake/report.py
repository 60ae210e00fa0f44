"""`secondlook report prior-auth`: per tenant, the prior-authorization figures a payer
publishes (CMS-0057-F), read from intake's store (domain/priorauth_report.py defines
them). Codes and times only: nothing is decrypted."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from secondlook.cli import store_db, table
from secondlook.settings import Settings

from . import repository
from .domain.priorauth_report import TenantFigures, summarise

# A report's window lies within these (no case was or will be submitted outside them).
EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=timezone.utc), datetime(2200, 1, 1, tzinfo=timezone.utc)


def moment(value: str, end_of_day: bool = False) -> datetime:
    """A date (YYYY-MM-DD: its start, or with `end_of_day` the start of the next) or an
    ISO 8601 time with its zone, as a UTC time."""
    try:
        if len(value) == 10:
            day = datetime.fromisoformat(value).replace(tzinfo=timezone.utc)
            found = day + timedelta(days=1) if end_of_day else day
        else:
            found = datetime.fromisoformat(value)
            if found.tzinfo is None:
                raise argparse.ArgumentTypeError(f"{value!r}: give the time's zone (e.g. Z or +01:00)")
            found = found.astimezone(timezone.utc)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD) or an ISO 8601 time") from None
    except OverflowError:  # the day after 9999-12-31, or a zone moving 0001-01-01 before year 1
        raise argparse.ArgumentTypeError(f"{value!r} is outside the years 1 to 9999") from None
    if not EARLIEST <= found <= LATEST:
        raise argparse.ArgumentTypeError(f"{value!r}: give a time from {EARLIEST:%Y} to {LATEST:%Y}")
    return found


def _through(value: str) -> datetime:
    return moment(value, end_of_day=True)


def as_json(figures: list[TenantFigures], start: datetime, end: datetime) -> dict:
    def timing(name, t):
        return {f"{name}_requests": t.requests, f"{name}_mean_hours": t.mean_hours, f"{name}_p90_hours": t.p90_hours}

    return {"from": start.isoformat(), "to": end.isoformat(), "tenants": [
        {"tenant_id": f.tenant_id, "requests": f.requests, "approved_share": f.share(f.approved),
         "denied_share": f.share(f.denied), "partially_approved_share": f.share(f.partially_approved),
         "approved_after_amendment_share": f.share(f.approved_after_amendment),
         **timing("standard", f.standard), **timing("expedited", f.expedited)} for f in figures]}


def as_table(figures: list[TenantFigures], start: datetime, end: datetime) -> str:
    def pct(f: TenantFigures, n: int) -> str:
        return f"{100 * f.share(n):.1f}%"

    def hours(h: float | None) -> str:
        return "-" if h is None else f"{h:.1f}"

    rows = [(f.tenant_id, str(f.requests), pct(f, f.approved), pct(f, f.denied), pct(f, f.partially_approved),
             pct(f, f.approved_after_amendment),
             str(f.standard.requests), hours(f.standard.mean_hours), hours(f.standard.p90_hours),
             str(f.expedited.requests), hours(f.expedited.mean_hours), hours(f.expedited.p90_hours))
            for f in figures]
    return table(f"prior authorization, requests first decided {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC "
                 "(hours from receipt to the first decision)",
                 ("tenant", "requests", "approved", "denied", "partly", "approved after amendment",
                  "standard", "avg h", "p90 h", "expedited", "avg h", "p90 h"), rows)


def _prior_auth(args: argparse.Namespace) -> int:
    start, end = args.start, args.end
    if end <= start:
        print("error: --to must come after --from", file=sys.stderr)
        return 2
    if args.json and (args.json.is_dir() or not args.json.parent.is_dir()):  # said before the report, not after
        print(f"error: --json: {args.json} is a folder" if args.json.is_dir() else
              f"error: --json: no folder {args.json.parent}", file=sys.stderr)
        return 2

    async def read():
        client, db = store_db(Settings(), "intake")
        try:
            return await repository.prior_auth_decided(db, end)
        finally:
            await client.close()

    figures = [f for f in summarise(asyncio.run(read()), start, end) if not args.tenant or f.tenant_id == args.tenant]
    print(as_table(figures, start, end))
    if not figures:
        print("no prior-authorization request was decided in that period")
    if args.json:
        args.json.write_text(json.dumps(as_json(figures, start, end), indent=2) + "\n")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    report = sub.add_parser("report", help="figures from the store (SECONDLOOK_MONGO_URI)")
    report_sub = report.add_subparsers(dest="report_command", required=True)
    prior_auth = report_sub.add_parser(
        "prior-auth", help="per tenant, the prior-authorization figures a payer publishes (CMS-0057-F): the "
        "share approved, denied, partly approved and approved after an amended decision, and the hours from "
        "receipt to decision (average, p90) for standard and expedited requests; requests count in the "
        "period of their first decision")
    prior_auth.add_argument("--from", dest="start", type=moment, required=True,
                            help="YYYY-MM-DD (from its start) or an ISO 8601 time with its zone")
    prior_auth.add_argument("--to", dest="end", type=_through, required=True,
                            help="YYYY-MM-DD (through its end) or an ISO 8601 time with its zone (up to it)")
    prior_auth.add_argument("--tenant", help="only this tenant")
    prior_auth.add_argument("--json", type=Path, help="also write the figures to this file as JSON")
    prior_auth.set_defaults(func=_prior_auth)
