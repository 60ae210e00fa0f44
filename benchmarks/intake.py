"""SubmitCase benchmark on the embedded stack (`make bench-intake`).

In one run: the store's raw transaction ceiling (insert case + insert outbox row,
16 writers, the best of three rounds: `pipeline.best_ceiling`), then N complete cases submitted over
gRPC at a fixed concurrency to intake alone (broker, store and intake; no other
service competes for the cores), with everything a submit does on: validation,
PHI sealed before it is written, the case and its event in one transaction, the
event published, the write recorded in the access audit. Prints SubmitCase
throughput and p50/p99 latency next to the ceiling and their ratio (aim: at least
0.5); `--json PATH` writes `submit_per_s`, `store_ceiling_txn_per_s`, `ratio`,
`p50_ms`, `p99_ms`. Figures, never assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from benchmarks.pipeline import CEILING_ROUNDS, best_ceiling, cpu_seconds, percentile, scrape, write_figures
from devstack import clients
from devstack.stack import ROOT, Stack
from secondlook.settings import Settings
from secondlook.v1 import intake_pb2

console = Console()
TENANT = "bench-intake"


async def submit_all(stack: Stack, cases: int, concurrency: int) -> tuple[float, list[float]]:
    """(elapsed seconds, each call's latency in seconds)."""
    intake, authed = clients.submitter(Settings(jwt_secret=stack.jwt_secret), stack.target("intake"), TENANT)
    samples = clients.sample_cases()
    requests = []
    for i in range(cases):
        req = intake_pb2.SubmitCaseRequest()
        req.CopyFrom(samples[i % len(samples)])
        req.client_request_id = f"bench-intake-{i:06d}"
        requests.append(req)
    # Warm the channel, the data key and the audit chain's end: not what is measured.
    await intake.SubmitCase(samples[0], metadata=authed.metadata, timeout=30)
    latencies: list[float] = []
    queue = iter(requests)
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console) as progress:
            task = progress.add_task("submitted", total=cases)

            async def worker() -> None:
                for req in queue:
                    started = time.perf_counter()
                    await intake.SubmitCase(req, metadata=authed.metadata, timeout=60)
                    latencies.append(time.perf_counter() - started)
                    progress.advance(task)

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            elapsed = time.perf_counter() - started
    finally:
        await authed.close()
    return elapsed, latencies


def _store_requests(stack: Stack) -> float:
    """Requests intake has sent the store so far (its own counter)."""
    return sum(value for (metric, _), value in scrape(stack, only=("intake",))["intake"].items()
               if metric == "secondlook_mongo_commands_total")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent SubmitCase calls")
    parser.add_argument("--ceiling-seconds", type=float, default=5.0)
    parser.add_argument("--json", metavar="PATH", help="also write the figures to PATH as JSON")
    args = parser.parse_args()

    home = ROOT / ".secondlook" / "bench-intake"
    shutil.rmtree(home, ignore_errors=True)
    # Nothing here matches a case: intake's sweeper would re-drive every case still
    # SUBMITTED after its default 30 s, and a long run would measure that instead.
    stack = Stack(home, persistent_store=True, overrides={"SECONDLOOK_LOG_LEVEL": "WARNING",
                                                          "SECONDLOOK_SWEEPER_STUCK_AFTER_SECONDS": "86400"})
    try:
        with console.status("starting broker, store and intake"):
            stack.start_broker()
            stack.start_store()
            stack.start_service("intake")
            stack.wait_serving("intake")
        with console.status(f"measuring the store's transaction ceiling ({args.ceiling_seconds:.0f}s × "
                            f"{CEILING_ROUNDS}, 16 writers)"):
            best, rounds = best_ceiling(stack.mongo_uri, args.ceiling_seconds, 16)
            ceiling = best.rate
        requests_before, cpu_before = _store_requests(stack), cpu_seconds(stack)
        elapsed, latencies = asyncio.run(submit_all(stack, args.cases, args.concurrency))
        requests = _store_requests(stack) - requests_before
        cpu = {name: used - cpu_before.get(name, 0.0) for name, used in cpu_seconds(stack).items()}
        cpu["client"] = cpu.pop("harness")  # this process: the 32 callers (they share the cores too)
    finally:
        stack.stop()

    submit_per_s = len(latencies) / elapsed
    figures = {
        "cases": len(latencies), "concurrency": args.concurrency,
        "submit_per_s": round(submit_per_s, 1), "store_ceiling_txn_per_s": round(ceiling, 1),
        "ratio": round(submit_per_s / ceiling, 3),
        "p50_ms": round(percentile(latencies, 0.5) * 1000, 1), "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        # +1: the warm-up submit is counted in the requests and the CPU, not in the cases
        "store_requests_per_case": round(requests / (len(latencies) + 1), 2),
        "cpu_ms_per_case": {name: round(used * 1000 / (len(latencies) + 1), 2) for name, used in sorted(cpu.items())},
    }
    table = Table(title=f"SubmitCase · {figures['cases']} complete cases · {args.concurrency} concurrent · "
                        "encryption and audit on · one run", title_justify="left")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("store ceiling, 16 writers (case+outbox txn/s), best of "
                  + " / ".join(f"{r:,.0f}" for r in rounds), f"{ceiling:,.0f}")
    table.add_row("SubmitCase throughput (cases/s)", f"{submit_per_s:,.1f}")
    table.add_row("ratio: throughput ÷ ceiling (aim ≥ 0.5)", f"{figures['ratio']:.2f}")
    table.add_row("SubmitCase latency p50 / p99 (ms)", f"{figures['p50_ms']:.0f} / {figures['p99_ms']:.0f}")
    table.add_row("store requests per case (intake)", f"{figures['store_requests_per_case']:.2f}")
    table.add_row("CPU per case (ms): " + ", ".join(figures["cpu_ms_per_case"]),
                  " / ".join(f"{v:.1f}" for v in figures["cpu_ms_per_case"].values()))
    console.print(table)
    write_figures(args.json, figures)


if __name__ == "__main__":
    main()
