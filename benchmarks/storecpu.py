"""The embedded store on one CPU or spread over all (`make bench-store`).

SecantusDB serves each connection on a thread of one Python process, under one
interpreter lock. This starts it twice, once on every CPU this process may use and
once on one of them (as the dev stack runs it: devstack/stack.py, `store_cpus`),
and has 1, 4 and 16 clients (one connection each) insert small documents as fast as
the store answers. Prints, per placement and client count, the inserts per second,
the store's CPU per insert and its context switches per insert; `--json PATH`
writes the same rows (`placement`, `cpus`, `clients`, `inserts_per_s`,
`store_cpu_ms_per_insert`, `store_share_of_a_core`, `context_switches_per_insert`)
and, per client count, how many times the store's CPU per insert is spread over
one CPU (`cpu_per_insert_spread_over_one`), and `seconds`. Figures, never assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import time
import uuid
from pathlib import Path

from pymongo import AsyncMongoClient
from rich.console import Console
from rich.table import Table

from benchmarks.pipeline import cpu_seconds, finite, write_figures
from devstack.stack import ROOT, Stack, store_cpus

console = Console()
CLIENTS = (1, 4, 16)


def _store_counters(stack: Stack) -> tuple[float, int]:
    """(CPU seconds, context switches of every thread) of the store so far."""
    switches = 0
    for task in Path(f"/proc/{stack.store.popen.pid}/task").iterdir():
        try:
            for line in (task / "status").read_text().splitlines():
                if "ctxt_switches:" in line:  # voluntary and not
                    switches += int(line.split()[1])
        except OSError:  # a thread that ended meanwhile
            continue
    return cpu_seconds(stack)["store"], switches


async def _insert_load(stack: Stack, clients: int, seconds: float) -> dict:
    """Inserts by `clients` connections for `seconds`, and what they cost the store.
    Its counters are read while every connection is open: a connection's thread, and
    its count of switches, ends with it."""
    connections = [AsyncMongoClient(stack.mongo_uri, maxPoolSize=1, retryWrites=False) for _ in range(clients)]
    inserted = 0
    try:
        for c in connections:
            await c.admin.command("ping")
        cpu_0, switches_0 = _store_counters(stack)
        started = time.perf_counter()
        until = time.monotonic() + seconds

        async def writer(client: AsyncMongoClient) -> None:
            nonlocal inserted
            collection = client.bench_store.inserts
            while time.monotonic() < until:
                await collection.insert_one({"_id": uuid.uuid4().hex, "pad": "x" * 500})
                inserted += 1

        await asyncio.gather(*(writer(c) for c in connections))
        elapsed = time.perf_counter() - started
        cpu_1, switches_1 = _store_counters(stack)
    finally:
        for c in connections:
            await c.close()
    per_insert = (lambda total: total / inserted) if inserted else (lambda total: float("nan"))
    return {"inserts_per_s": round(inserted / elapsed, 1),
            "store_cpu_ms_per_insert": finite(per_insert((cpu_1 - cpu_0) * 1000), 3),
            "store_share_of_a_core": round((cpu_1 - cpu_0) / elapsed, 3),
            "context_switches_per_insert": finite(per_insert(switches_1 - switches_0), 1)}


def measure(home: Path, on_one_cpu: bool, seconds: float) -> list[dict]:
    # Persistent, as `make run` and `make bench` run it (its journal and checkpoints included).
    stack = Stack(home, persistent_store=True, store_on_one_cpu=on_one_cpu)
    rows = []
    try:
        stack.start_store()
        pid = stack.store.popen.pid
        cpus = sorted(os.sched_getaffinity(pid))
        if on_one_cpu and len(cpus) != 1:
            raise SystemExit(f"the store was to run on one CPU and runs on {cpus}")
        placement = f"CPU {cpus[0]}" if len(cpus) == 1 else f"{len(cpus)} CPUs"
        for clients in CLIENTS:
            with console.status(f"store on {placement}: {clients} client(s) inserting for {seconds:.0f}s"):
                figures = asyncio.run(_insert_load(stack, clients, seconds))
            rows.append({"placement": placement, "cpus": cpus, "clients": clients, **figures})
    finally:
        stack.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="how long each client count inserts")
    parser.add_argument("--json", metavar="PATH", help="also write the figures to PATH as JSON")
    args = parser.parse_args()
    if args.seconds <= 0:
        parser.error("--seconds must be positive")
    if not Path("/proc/self/stat").exists():
        raise SystemExit("this benchmark reads the store's CPU time and threads from Linux's /proc")
    if not store_cpus():
        raise SystemExit("the store cannot be put on one CPU here (one CPU allowed, or no taskset): "
                         "there is nothing to compare, and the dev stack pins nothing either")
    home = ROOT / ".secondlook" / "bench-store"
    shutil.rmtree(home, ignore_errors=True)
    rows = measure(home / "spread", False, args.seconds) + measure(home / "one", True, args.seconds)

    table = Table(title="the embedded store: inserts by N clients, spread over the CPUs or on one",
                  title_justify="left")
    for column in ("store on", "clients", "inserts/s", "store CPU ms / insert", "share of a core",
                   "context switches / insert"):
        table.add_column(column, justify="left" if column == "store on" else "right")
    for r in rows:
        table.add_row(r["placement"], str(r["clients"]), f"{r['inserts_per_s']:,.0f}",
                      _shown(r["store_cpu_ms_per_insert"], ".3f"), f"{r['store_share_of_a_core']:.0%}",
                      _shown(r["context_switches_per_insert"], ".1f"))
    console.print(table)
    ratios = {}
    for clients in CLIENTS:
        spread, one = (next(r for r in rows if r["clients"] == clients and (len(r["cpus"]) == 1) == o)
                       for o in (False, True))
        a, b = spread["store_cpu_ms_per_insert"], one["store_cpu_ms_per_insert"]
        ratios[str(clients)] = round(a / b, 2) if a and b else None
    console.print("store CPU per insert, spread ÷ on one CPU: "
                  + ", ".join(f"{n} client(s) {_shown(r, '.2f')}×" for n, r in ratios.items()))
    write_figures(args.json, {"seconds": args.seconds, "rows": rows, "cpu_per_insert_spread_over_one": ratios})


def _shown(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


if __name__ == "__main__":
    main()
