"""Pipeline benchmark on the embedded stack (`make bench`).

In one run:
1. the store's raw transaction ceiling: transactions of (insert case + insert
   outbox event), the unit every stage of the pipeline is made of, from 1 and
   from 16 concurrent writers;
2. the pipeline: N cases submitted concurrently and driven to DELIVERED, the
   simulated reviewer answering at once; cases per second, submit-to-DELIVERED
   p50/p99 (from the case timelines), and MongoDB transactions per case (from
   the services' own `secondlook_mongo_transactions_total` metric), and every
   store operation per case (the store's opcounters: the harness's polling
   included, as it loads the same store);
3. the open loop (openloop.py): the highest arrival rate the pipeline
   sustains, then half of it: submit → OFFERED and → DELIVERED p50/p99.
Notices go out as in `make run`: a signed webhook to the tenant and e-mails to
each case's patient and physician, through a local SMTP sink.
Every case asks for one reviewer, not blind (the sample cases' panel and blind
requests are dropped): a panel case is several reviews, a blind one another
step, another workload; the figures stay comparable with earlier runs. The headline is `ceiling_txn_per_case`: the store's raw transaction ceiling
over the pipeline's cases/s, both from this run: how many ceiling-transactions
of store time one case costs end to end (lower is better). Figures, never
assertions; `--json PATH` writes the same figures as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import shutil
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timezone
from pathlib import Path

from pymongo import AsyncMongoClient, WriteConcern
from pymongo.read_concern import ReadConcern
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from benchmarks.openloop import OpenLoop
from devstack import clients
from devstack.demo import TENANT
from devstack.receiver import registered_receiver
from devstack.simreviewer import SimulatedReviewer
from devstack.smtpsink import SmtpSink
from devstack.stack import ROOT, Stack
from secondlook.settings import Settings
from secondlook.v1 import case_pb2, intake_pb2

console = Console()


@dataclass(frozen=True)
class Ceiling:
    rate: float  # case+outbox transactions per second
    store_ms_per_txn: float  # the store's CPU per transaction (nan when not measured)
    store_share: float  # the store's share of a core meanwhile (nan when not measured)


async def transaction_ceiling(mongo_uri: str, seconds: float, writers: int,
                              store_cpu: Callable[[], float] = lambda: float("nan")) -> Ceiling:
    """Case+outbox transactions that `writers` concurrent writers commit for `seconds`;
    `store_cpu`, the store's CPU seconds so far, measures what they cost it."""
    mongo = AsyncMongoClient(mongo_uri)
    db = mongo[f"bench_ceiling_{uuid.uuid4().hex[:8]}"]
    await db.cases.insert_one({"_id": "warm-up"})
    await db.outbox.insert_one({"_id": "warm-up"})
    done = 0
    deadline = time.perf_counter() + seconds

    async def writer() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            async with mongo.start_session() as session:
                async def body(s):
                    case_id = str(uuid.uuid4())
                    await db.cases.insert_one({"_id": case_id, "status": 1, "pad": "x" * 400}, session=s)
                    await db.outbox.insert_one({"case_id": case_id, "payload": b"y" * 200, "published": False},
                                               session=s)
                await session.with_transaction(body, read_concern=ReadConcern("snapshot"),
                                               write_concern=WriteConcern("majority", j=True))
            done += 1

    started, cpu_before = time.perf_counter(), store_cpu()
    await asyncio.gather(*(writer() for _ in range(writers)))
    elapsed, cpu_used = time.perf_counter() - started, store_cpu() - cpu_before
    await mongo.drop_database(db.name)
    await mongo.close()
    return Ceiling(done / elapsed, cpu_used * 1000 / max(done, 1), cpu_used / elapsed)


CEILING_ROUNDS = 3


def best_ceiling(mongo_uri: str, seconds: float, writers: int, rounds: int = CEILING_ROUNDS,
                 store_cpu: Callable[[], float] = lambda: float("nan")) -> tuple[Ceiling, list[float]]:
    """The ceiling as the best of a few rounds (and each round's rate): on a shared
    machine noise only ever lowers it, and one round of a few seconds varied by a
    third from run to run, which the ratios built on it inherited."""
    runs = [asyncio.run(transaction_ceiling(mongo_uri, seconds, writers, store_cpu)) for _ in range(rounds)]
    return max(runs, key=lambda r: r.rate), [r.rate for r in runs]


def store_operations(mongo_uri: str) -> dict[str, float]:
    """Every operation the store has served (serverStatus opcounters), by kind, whoever sent it."""
    from pymongo import MongoClient

    with MongoClient(mongo_uri) as mongo:
        counters = mongo.admin.command("serverStatus")["opcounters"]
    return {k: float(v) for k, v in counters.items()}


def scrape_transactions(stack: Stack) -> dict[str, float]:
    return {name: sum(v for (m, _), v in metrics.items() if m == "secondlook_mongo_transactions_total")
            for name, metrics in scrape(stack).items()}


def scrape_commands(stack: Stack) -> dict[str, dict[str, float]]:
    """Each service's store requests so far, by command (secondlook_mongo_commands_total)."""
    out: dict[str, dict[str, float]] = {}
    for name, metrics in scrape(stack).items():
        for (metric, labels), value in metrics.items():
            if metric == "secondlook_mongo_commands_total":
                command = labels.split('command="', 1)[1].split('"', 1)[0]
                out.setdefault(name, {})[command] = value
    return out


def scrape_handling(stack: Stack) -> dict[str, dict[str, float]]:
    """Per service, the sums and counts of event handling time and of stage latency
    (produced upstream → durable here), from the services' own histograms."""
    out: dict[str, dict[str, float]] = {}
    for name, metrics in scrape(stack).items():
        sums = out.setdefault(name, {})
        for (metric, _), value in metrics.items():
            for prefix in ("secondlook_event_handle_seconds", "secondlook_stage_latency_seconds"):
                for suffix in ("_sum", "_count"):
                    if metric == prefix + suffix:
                        key = prefix.removeprefix("secondlook_") + suffix
                        sums[key] = sums.get(key, 0.0) + value
    return out


def scrape(stack: Stack, only: tuple[str, ...] | None = None) -> dict[str, dict[tuple[str, str], float]]:
    """Every secondlook_ series of each service's /metrics (or of the services `only` names)."""
    found = {}
    for name, port in stack.metrics_ports.items():
        if only is not None and name not in only:
            continue
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        found[name] = {}
        for line in text.splitlines():
            if line.startswith("secondlook_") and "{" in line:
                series, value = line.rsplit(" ", 1)
                metric, labels = series.split("{", 1)
                found[name][(metric, labels)] = float(value)
    return found


def cpu_seconds(stack: Stack) -> dict[str, float]:
    """CPU time each process of the stack has used so far (Linux /proc), by name."""
    processes = {"store": stack.store, "broker": stack.broker, **stack.services}
    out = {}
    for name, process in processes.items():
        if process is None or process.popen is None:
            continue
        try:
            fields = Path(f"/proc/{process.popen.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[name] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    # This process: the submitters, the simulated reviewer, the webhook receiver and the
    # SMTP sink share the machine with what they measure.
    own = os.times()
    out["harness"] = own.user + own.system
    return out


def idle_seconds() -> float:
    """The machine's idle CPU time so far, over every core (Linux /proc/stat): the share
    left idle during a run says whether it was bound by CPU or by waiting."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
        return (int(fields[4]) + int(fields[5])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def finite(value: float, digits: int) -> float | None:
    """A figure for the JSON, rounded; None for one that could not be measured (NaN is not JSON)."""
    return round(value, digits) if math.isfinite(value) else None


def write_figures(path: str | None, figures: dict) -> None:
    """`--json PATH`: the printed figures, as JSON (every benchmark's)."""
    if path:
        Path(path).write_text(json.dumps(figures, indent=2) + "\n")
        console.print(f"figures written to {path}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _entry(case, status):
    return next((e for e in case.timeline if e.status == status), None)


async def idle_offers(intake, authed, receiver, n: int, timeout: float) -> tuple[list[float], list[float]]:
    """Cases one at a time on an otherwise idle stack: each is submitted once the
    one before is DELIVERED; returns each one's submit → OFFERED seconds, and of
    that submit → MATCHING (matching took the case), from the events' times."""
    samples = clients.sample_cases()
    seconds, to_matching = [], []
    for i in range(n):
        req = intake_pb2.SubmitCaseRequest()
        req.CopyFrom(samples[i % len(samples)])
        req.client_request_id = f"bench-idle-{i:03d}"
        req.panel_requested = req.blind_review_requested = False  # one review per case (see pipeline's docstring)
        case_id = (await intake.SubmitCase(req, metadata=authed.metadata, timeout=30)).case_id
        deadline = time.monotonic() + timeout
        while not receiver.per_case()[case_id]:
            if time.monotonic() > deadline:
                raise SystemExit(f"idle case {case_id} not DELIVERED after {timeout:.0f}s")
            await asyncio.sleep(0.02)
        while True:  # intake records the stages a moment after the events: wait for both
            case = await intake.GetCase(intake_pb2.GetCaseRequest(case_id=case_id), metadata=authed.metadata,
                                        timeout=30)
            offered = _entry(case, case_pb2.CASE_STATUS_OFFERED)
            matching = _entry(case, case_pb2.CASE_STATUS_MATCHING)
            if offered and matching:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"idle case {case_id}: intake did not record OFFERED after {timeout:.0f}s")
            await asyncio.sleep(0.05)
        seconds.append((offered.occurred_at.ToDatetime() - case.submitted_at.ToDatetime()).total_seconds())
        to_matching.append((matching.occurred_at.ToDatetime() - case.submitted_at.ToDatetime()).total_seconds())
    return seconds, to_matching


async def pipeline(stack: Stack, mail: SmtpSink, cases: int, concurrency: int, timeout: float, idle_cases: int,
                   step_seconds: float) -> dict:
    settings = Settings(jwt_secret=stack.jwt_secret)
    receiver = await registered_receiver(settings, stack.target("notify"), TENANT)
    intake, authed = clients.submitter(settings, stack.target("intake"), TENANT)
    reviewer = SimulatedReviewer(settings, stack.target("review"), clients.specialist_ids()).start()
    with console.status(f"{idle_cases} cases one at a time on the idle stack"):
        idle, idle_to_matching = await idle_offers(intake, authed, receiver, idle_cases, timeout)
    before = scrape_transactions(stack)
    commands_before = scrape_commands(stack)
    handling_before = scrape_handling(stack)
    ops_before = store_operations(stack.mongo_uri)
    cpu_before = cpu_seconds(stack)
    samples = clients.sample_cases()
    limit = asyncio.Semaphore(concurrency)

    async def submit(i: int) -> str:
        req = intake_pb2.SubmitCaseRequest()
        req.CopyFrom(samples[i % len(samples)])
        req.client_request_id = f"bench-{i:05d}"
        req.panel_requested = req.blind_review_requested = False
        async with limit:
            return (await intake.SubmitCase(req, metadata=authed.metadata, timeout=30)).case_id

    started, idle_before = time.time(), idle_seconds()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as progress:
        submitting = progress.add_task("submitted", total=cases)
        delivering = progress.add_task("delivered", total=cases)
        ids = []
        for coro in asyncio.as_completed([submit(i) for i in range(cases)]):
            ids.append(await coro)
            progress.advance(submitting)
        # Ask intake only once a webhook has arrived, and only every half second,
        # so that measuring loads the pipeline it measures little;
        # the run ends when intake recorded the last DELIVERED (its timeline says
        # when), not when the harness happened to look.
        latencies: dict[str, float] = {}
        finished = started
        timelines: dict[str, list] = {}
        deadline = time.monotonic() + timeout
        while len(latencies) < cases:
            if time.monotonic() > deadline:
                raise SystemExit(f"only {len(latencies)}/{cases} cases DELIVERED after {timeout:.0f}s; "
                                 f"see the logs in {stack.home / 'logs'}")
            burst = set(ids)
            if any(c in burst and c not in latencies for c in receiver.per_case()):
                # Summaries of the burst's DELIVERED cases, a page of 200 at a time: no PHI read,
                # so the harness adds no decryption or audit records to what it measures.
                listing = intake_pb2.ListCasesRequest(statuses=[case_pb2.CASE_STATUS_DELIVERED], page_size=200)
                listing.submitted_after.FromSeconds(int(started) - 1)
                while True:
                    page = await intake.ListCases(listing, metadata=authed.metadata, timeout=30)
                    for case in page.cases:
                        if case.case_id not in burst or case.case_id in latencies:
                            continue
                        delivered = next(e for e in case.timeline if e.status == case_pb2.CASE_STATUS_DELIVERED)
                        latencies[case.case_id] = (delivered.occurred_at.ToDatetime()
                                                   - case.submitted_at.ToDatetime()).total_seconds()
                        timelines[case.case_id] = list(case.timeline)
                        finished = max(finished, delivered.recorded_at.ToDatetime(tzinfo=timezone.utc).timestamp())
                    if not page.next_page_token:
                        break
                    listing.page_token = page.next_page_token
            progress.update(delivering, completed=len(latencies))
            if len(latencies) < cases:
                await asyncio.sleep(0.5)
    # CPU and idle time first, so that the scrapes below are not counted in the burst.
    cpu_after = cpu_seconds(stack)
    idle_share = (idle_seconds() - idle_before) / (time.time() - started) / (os.cpu_count() or 1)
    elapsed = finished - started
    after = scrape_transactions(stack)
    commands_after = scrape_commands(stack)
    handling_after = scrape_handling(stack)
    ops_after = store_operations(stack.mongo_uri)

    async def get_case(case_id: str):
        return await intake.GetCase(intake_pb2.GetCaseRequest(case_id=case_id), metadata=authed.metadata, timeout=30)

    webhooks = len(receiver.verified)  # burst and idle cases
    emails = mail.count()
    open_loop = OpenLoop(intake, authed, lambda: set(receiver.per_case()), samples, console, step_seconds)
    sustained = await open_loop.sustained_rate(start=max(1.0, round(0.6 * cases / elapsed, 1)))
    half = await open_loop.latencies(sustained / 2, get_case) if sustained else None
    await reviewer.stop()
    await authed.close()
    await receiver.stop()
    per_service = {k: (after[k] - before[k]) / cases for k in after}
    return {
        "elapsed": elapsed,
        "cases_per_second": cases / elapsed,
        "p50": percentile(list(latencies.values()), 0.50),
        "p99": percentile(list(latencies.values()), 0.99),
        "per_service": per_service,
        "txn_per_case": sum(per_service.values()),
        "ops_per_case": (sum(ops_after.values()) - sum(ops_before.values())) / cases,
        "ops_per_second": (sum(ops_after.values()) - sum(ops_before.values())) / elapsed,
        "commands_per_case": {
            service: {c: round((v - commands_before.get(service, {}).get(c, 0)) / cases, 2)
                      for c, v in sorted(by_command.items()) if v - commands_before.get(service, {}).get(c, 0)}
            for service, by_command in commands_after.items()},
        "ops_per_case_by_kind": {k: (ops_after[k] - ops_before.get(k, 0)) / cases for k in ops_after},
        "webhooks": webhooks,
        "emails": emails,
        "idle_offered_p50": percentile(idle, 0.5),
        "idle_offered_max": max(idle),
        "idle_matching_p50": percentile(idle_to_matching, 0.5),
        "stages": stage_times(timelines.values()),
        "cpu_ms_per_case": {name: (cpu_after[name] - cpu_before.get(name, 0.0)) * 1000 / cases
                            for name in cpu_after},
        "cpu_share": {name: (cpu_after[name] - cpu_before.get(name, 0.0)) / elapsed for name in cpu_after},
        "idle_share": idle_share,
        "consumers": {service: consumer_times(handling_before.get(service, {}), after_)
                      for service, after_ in handling_after.items()},
        "sustained": sustained,
        "half": half and {
            "rate": half["rate"], "cases": half["cases"],
            "offered_p50": percentile(half["offered"], 0.5), "offered_p99": percentile(half["offered"], 0.99),
            "delivered_p50": percentile(half["delivered"], 0.5),
            "delivered_p99": percentile(half["delivered"], 0.99),
            "stages": stage_times(half["timelines"]),
        },
    }


def consumer_times(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    def mean(metric: str) -> float:
        count = after.get(metric + "_count", 0) - before.get(metric + "_count", 0)
        return (after.get(metric + "_sum", 0) - before.get(metric + "_sum", 0)) / count if count else 0.0
    return {"events": after.get("event_handle_seconds_count", 0) - before.get("event_handle_seconds_count", 0),
            "handle_mean": mean("event_handle_seconds"), "produce_to_durable_mean": mean("stage_latency_seconds")}


def stage_times(timelines) -> dict[str, dict[str, float]]:
    """Per stage, p50/p99 seconds from the previous stage's event to this one's
    (its producer's clock), and intake's projection lag (recorded minus occurred)."""
    hops: dict[str, list[float]] = {}
    lags: dict[str, list[float]] = {}
    for timeline in timelines:
        entries = sorted(timeline, key=lambda e: (e.occurred_at.ToDatetime(), e.status))
        for before, entry in itertools.pairwise(entries):
            name = case_pb2.CaseStatus.Name(entry.status).removeprefix("CASE_STATUS_")
            hops.setdefault(name, []).append(
                (entry.occurred_at.ToDatetime() - before.occurred_at.ToDatetime()).total_seconds())
            lags.setdefault(name, []).append(
                (entry.recorded_at.ToDatetime() - entry.occurred_at.ToDatetime()).total_seconds())
    return {name: {"hop_p50": percentile(hops[name], 0.5), "hop_p99": percentile(hops[name], 0.99),
                   "intake_lag_p50": percentile(lags[name], 0.5), "intake_lag_p99": percentile(lags[name], 0.99)}
            for name in hops}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent SubmitCase calls")
    parser.add_argument("--idle-cases", type=int, default=25, choices=range(1, 1001), metavar="N", help="cases sent one at a time before the burst")
    parser.add_argument("--ceiling-seconds", type=float, default=5.0)
    parser.add_argument("--timeout", type=float, default=600.0, help="give up if not all DELIVERED by then")
    parser.add_argument("--step-seconds", type=float, default=30.0,
                        help="length of each open-loop step (the backlog must stay bounded over it)")
    parser.add_argument("--webhooks-only", action="store_true",
                        help="notify sends no e-mail or text (to compare with a build from before notices to people)")
    parser.add_argument("--json", metavar="PATH", help="also write the figures to PATH as JSON")
    args = parser.parse_args()

    home = ROOT / ".secondlook" / "bench"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    # The synthetic directory's capacities (10-25 open cases per specialist) would
    # turn a burst of identical sample cases UNMATCHED: this measures the pipeline,
    # so the same specialists get room for the whole burst.
    directory = json.loads((ROOT / "data" / "specialists.json").read_text())
    for specialist in directory:
        specialist["capacity"] = 100_000
    (home / "specialists.json").write_text(json.dumps(directory))
    mail = SmtpSink().start()
    stack = Stack(home, persistent_store=True, overrides={
        "SECONDLOOK_LOG_LEVEL": "WARNING",
        "SECONDLOOK_MATCHING_DIRECTORY_SEED": str(home / "specialists.json"),
        **({"SECONDLOOK_SMS_PROVIDER": ""} if args.webhooks_only else mail.overrides()),
    })
    try:
        with console.status("starting broker, store and the four services"):
            stack.start()
        with console.status(f"measuring the store's transaction ceiling ({args.ceiling_seconds:.0f}s × "
                            f"{1 + CEILING_ROUNDS})"):
            ceiling_1 = asyncio.run(transaction_ceiling(stack.mongo_uri, args.ceiling_seconds, 1)).rate
            best, rounds_16 = best_ceiling(stack.mongo_uri, args.ceiling_seconds, 16,
                                           store_cpu=lambda: cpu_seconds(stack).get("store", float("nan")))
            ceiling_16 = best.rate
            # What one ceiling transaction costs the store, and how busy the best round kept
            # it: the headline is the pipeline's store time per case in these transactions,
            # times how much busier the ceiling kept the store than the pipeline did.
            store_ms_per_ceiling_txn, store_share_at_ceiling = best.store_ms_per_txn, best.store_share
        result = asyncio.run(pipeline(stack, mail, args.cases, args.concurrency, args.timeout, args.idle_cases,
                                      args.step_seconds))
    finally:
        stack.stop()
        mail.stop()

    # The 16 writers' ceiling (the issue's `store_ceiling_txn_per_s`); one writer is shown beside it.
    ceiling = ceiling_16
    pipeline_txn_rate = result["cases_per_second"] * result["txn_per_case"]
    ceiling_txn_per_case = ceiling / result["cases_per_second"]
    # Its two factors (README, "What the headline is made of"); nan where /proc is not there to read.
    store_ms_per_case = result["cpu_ms_per_case"].get("store", float("nan"))
    store_share_in_pipeline = result["cpu_share"].get("store", float("nan"))
    store_work = store_ms_per_case / store_ms_per_ceiling_txn if store_ms_per_ceiling_txn else float("nan")
    busier = store_share_at_ceiling / store_share_in_pipeline if store_share_in_pipeline else float("nan")
    table = Table(title=f"secondlook pipeline · {args.cases} cases · embedded stack · one run",
                  title_justify="left")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("store ceiling, 1 writer (case+outbox txn/s)", f"{ceiling_1:,.0f}")
    table.add_row("store ceiling, 16 writers (case+outbox txn/s), best of "
                  + " / ".join(f"{r:,.0f}" for r in rounds_16), f"{ceiling_16:,.0f}")
    table.add_row("pipeline throughput (cases/s)", f"{result['cases_per_second']:.1f}")
    table.add_row("submit → DELIVERED p50 (s)", f"{result['p50']:.2f}")
    table.add_row("submit → DELIVERED p99 (s)", f"{result['p99']:.2f}")
    table.add_row("MongoDB transactions per case", f"{result['txn_per_case']:.1f}")
    table.add_row("  of which " + ", ".join(f"{k} {v:.1f}" for k, v in result["per_service"].items()), "")
    table.add_row("pipeline transactions/s", f"{pipeline_txn_rate:,.0f}")
    table.add_row("store operations per case (all: reads, polls, writes, commits)",
                  f"{result['ops_per_case']:.0f}")
    table.add_row("  by kind: " + ", ".join(f"{k} {v:.1f}" for k, v in result["ops_per_case_by_kind"].items() if v),
                  "")
    for service, by_command in result["commands_per_case"].items():
        table.add_row(f"  {service}: " + ", ".join(f"{c} {v:.1f}" for c, v in by_command.items()), "")
    table.add_row("CPU per case, ms (share of a core during the run): " + ", ".join(
        f"{name} {ms:.0f} ({result['cpu_share'][name]:.0%})" for name, ms in result["cpu_ms_per_case"].items()), "")
    if math.isfinite(result["idle_share"]):
        table.add_row(f"  the machine's {os.cpu_count()} cores idle during the run", f"{result['idle_share']:.0%}")
    table.add_row("store operations/s during the run", f"{result['ops_per_second']:,.0f}")
    table.add_row("[bold]ceiling ÷ cases/s (ceiling-transactions of store time per case, lower is better)[/]",
                  f"[bold]{ceiling_txn_per_case:.1f}[/]")
    if math.isfinite(store_work * busier):
        table.add_row("  = the store's CPU per case in ceiling transactions: "
                      f"{store_ms_per_case:.1f} ms ÷ {store_ms_per_ceiling_txn:.3f} ms (one ceiling transaction)",
                      f"{store_work:.1f}")
        table.add_row("  × the store's share of a core at the ceiling ÷ during the burst: "
                      f"{store_share_at_ceiling:.1%} ÷ {store_share_in_pipeline:.1%}", f"{busier:.2f}")
    table.add_row("pipeline txn rate ÷ store ceiling", f"{pipeline_txn_rate / ceiling:.0%}")
    table.add_row("ceiling ÷ txn per case (cases/s the store could carry)",
                  f"{ceiling / result['txn_per_case']:.1f}")
    table.add_row("signed webhooks received (burst and idle cases)", f"{result['webhooks']}")
    table.add_row("e-mails received by then (patients and physicians)", f"{result['emails']}")
    table.add_row(f"idle stack, one case at a time ({args.idle_cases}): submit → OFFERED p50 / max (ms)",
                  f"{result['idle_offered_p50'] * 1000:.0f} / {result['idle_offered_max'] * 1000:.0f}")
    table.add_row("  of which submit → MATCHING (matching took the case) p50 (ms)",
                  f"{result['idle_matching_p50'] * 1000:.0f}")
    console.print(table)
    stages = Table(title="per stage: from the previous stage's event (p50 / p99 s), and intake's projection lag",
                   title_justify="left")
    for column in ("stage", "hop p50", "hop p99", "intake lag p50", "intake lag p99"):
        stages.add_column(column, justify="left" if column == "stage" else "right")
    for name, f in result["stages"].items():
        stages.add_row(name, *(f"{f[k]:.2f}" for k in ("hop_p50", "hop_p99", "intake_lag_p50", "intake_lag_p99")))
    console.print(stages)
    consumers = Table(title="per consuming service: events, mean handling time, mean produce → durable here (s)",
                      title_justify="left")
    for column in ("service", "events", "handling", "produce → durable"):
        consumers.add_column(column, justify="left" if column == "service" else "right")
    for name, f in result["consumers"].items():
        consumers.add_row(name, f"{f['events']:.0f}", f"{f['handle_mean']:.3f}", f"{f['produce_to_durable_mean']:.2f}")
    console.print(consumers)
    half = result["half"]
    open_table = Table(title=f"open loop · steps of {args.step_seconds:.0f}s · the simulated reviewer answering at once",
                       title_justify="left")
    open_table.add_column("measure")
    open_table.add_column("value", justify="right")
    open_table.add_row("highest sustained arrival rate (cases/s)", f"{result['sustained']:.1f}")
    if half:
        open_table.add_row(f"at half of it ({half['rate']:.1f} cases/s, {half['cases']} cases): "
                           "submit → OFFERED p50 / p99 (ms)",
                           f"{half['offered_p50'] * 1000:.0f} / {half['offered_p99'] * 1000:.0f}")
        open_table.add_row("  submit → DELIVERED p50 / p99 (ms)",
                           f"{half['delivered_p50'] * 1000:.0f} / {half['delivered_p99'] * 1000:.0f}")
    console.print(open_table)
    if half:
        hops = Table(title="open loop at half the sustained rate, per stage (p50 / p99 ms)", title_justify="left")
        for column in ("stage", "hop p50", "hop p99", "intake lag p50", "intake lag p99"):
            hops.add_column(column, justify="left" if column == "stage" else "right")
        for name, f in half["stages"].items():
            hops.add_row(name, *(f"{f[k] * 1000:.0f}" for k in ("hop_p50", "hop_p99", "intake_lag_p50",
                                                                    "intake_lag_p99")))
        console.print(hops)
    if args.json:
        figures = {
            "cases": args.cases,
            "webhooks_only": args.webhooks_only,
            "concurrency": args.concurrency,
            "ceiling_txn_per_second_1_writer": round(ceiling_1, 1),
            "store_ceiling_txn_per_s": round(ceiling_16, 1),
            "cases_per_s": round(result["cases_per_second"], 2),
            "ceiling_txn_per_case": round(ceiling_txn_per_case, 1),
            "submit_to_delivered_p50_seconds": round(result["p50"], 3),
            "submit_to_delivered_p99_seconds": round(result["p99"], 3),
            "txn_per_case": round(result["txn_per_case"], 2),
            "mongo_transactions_per_case_by_service": {k: round(v, 2) for k, v in result["per_service"].items()},
            "store_requests_per_case": round(result["ops_per_case"], 1),
            "store_operations_per_second": round(result["ops_per_second"], 1),
            "store_requests_per_case_by_service": result["commands_per_case"],
            "store_operations_per_case_by_kind": {k: round(v, 1) for k, v in result["ops_per_case_by_kind"].items()},
            "pipeline_share_of_ceiling": round(pipeline_txn_rate / ceiling, 3),
            "webhooks": result["webhooks"],
            "emails": result["emails"],
            "idle_offered_p50_ms": round(result["idle_offered_p50"] * 1000, 1),
            "idle_offered_max_ms": round(result["idle_offered_max"] * 1000, 1),
            "consumers_seconds": {name: {k: round(v, 4) for k, v in f.items()}
                                  for name, f in result["consumers"].items()},
            "cpu_ms_per_case": {k: round(v, 1) for k, v in result["cpu_ms_per_case"].items()},
            "idle_share_of_cores": finite(result["idle_share"], 3),
            "store_ms_per_ceiling_txn": finite(store_ms_per_ceiling_txn, 3),
            "store_share_at_ceiling": finite(store_share_at_ceiling, 3),
            "store_share_in_pipeline": finite(store_share_in_pipeline, 3),
            "store_cpu_per_case_in_ceiling_txn": finite(store_work, 1),
            "stages_seconds": {name: {k: round(v, 3) for k, v in f.items()} for name, f in result["stages"].items()},
            "sustained_cases_per_s": round(result["sustained"], 2),
            "open_loop_step_seconds": args.step_seconds,
        }
        if half:
            figures.update({
                "open_loop_rate_cases_per_s": round(half["rate"], 2),
                "offered_p50_ms": round(half["offered_p50"] * 1000, 1),
                "offered_p99_ms": round(half["offered_p99"] * 1000, 1),
                "delivered_p50_ms": round(half["delivered_p50"] * 1000, 1),
                "delivered_p99_ms": round(half["delivered_p99"] * 1000, 1),
                "open_loop_stages_seconds": {name: {k: round(v, 3) for k, v in f.items()}
                                             for name, f in half["stages"].items()},
            })
        write_figures(args.json, figures)


if __name__ == "__main__":
    main()
