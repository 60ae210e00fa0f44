"""Matching at directory scale: how long choosing a specialist for a case takes
from a directory of 100,000 synthetic specialists (`secondlook directory
generate`), through the index (domain/index.py: buckets by specialty and licence,
best first, scoring only as many as it takes), side by side with a naive scan that
applies the rules and the score to the whole directory, in the same run.

Measured in one process, in memory: the hard rules, the score and the ranking up to
the first candidate, which is what matching does before its reservation (a store
write, not counted here). `--json PATH` writes `p50_ms`, `p99_ms`, `naive_p99_ms`,
`speedup` (naive p50 over indexed p50), `directory_size` and the rest.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import date

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from benchmarks.pipeline import percentile, write_figures
from secondlook import directorygen
from secondlook.v1.case_pb2 import CaseKind, Urgency
from services.matching import reference
from services.matching.domain.index import DirectoryIndex
from services.matching.domain.matcher import CaseFacts, rank, wanted_for
from services.matching.specialistdoc import specialist_from_doc

console = Console()
# Diagnoses second opinions are asked for (tests/unit/test_matching_reference.py's areas).
DIAGNOSES = ["C50.911", "C34.90", "C61", "C18.9", "C71.9", "C83.30", "I25.10", "I48.91", "I50.9", "G35",
             "G40.909", "I63.9", "M51.16", "M17.11", "M06.9", "K50.90", "N18.4", "E11.9", "J44.9", "D64.9", "Q21.1"]


def _cases(n: int, rng: random.Random, orgs: list[dict]) -> list[CaseFacts]:
    states = directorygen.STATES
    out = []
    for i in range(n):
        org = rng.choice(orgs)
        out.append(CaseFacts(
            case_id=f"bench-{i}", diagnosis_code=rng.choice(DIAGNOSES),
            jurisdiction=rng.choices([s for s, _ in states], weights=[w for _, w in states])[0],
            language=rng.choices(["en", "es", "zh"], weights=[80, 15, 5])[0], tenant_id=f"tenant-{i % 7}",
            kind=CaseKind.CASE_KIND_SECOND_OPINION,
            urgency=Urgency.URGENCY_EXPEDITED if rng.random() < 0.2 else Urgency.URGENCY_STANDARD,
            first_opinion_organization=org["name"], first_opinion_organization_npi=org["npi"]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--specialists", type=int, default=100_000, help="directory size")
    parser.add_argument("--cases", type=int, default=3000, help="cases matched through the index")
    parser.add_argument("--naive-cases", type=int, default=60, help="cases matched by scanning the whole directory")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", metavar="PATH", help="also write the figures to PATH as JSON")
    args = parser.parse_args()

    today = date.today()
    rng = random.Random(args.seed)
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=console, transient=True)
    with progress:
        task = progress.add_task("generating the directory", total=args.specialists)
        directory = []
        for entry in directorygen.specialists(args.specialists, seed=args.seed, today=today):
            directory.append(specialist_from_doc({**entry, "_id": entry["specialist_id"]}))
            progress.advance(task)
    with console.status("building the index"):
        started = time.perf_counter()
        index = DirectoryIndex(directory)
        build_s = time.perf_counter() - started
    lookup = reference.specialty_map().specialties_for
    cases = _cases(args.cases, rng, directorygen.organizations(random.Random(args.seed)))

    indexed, scored, matched = [], [], 0
    with progress:
        task = progress.add_task("matching through the index", total=len(cases))
        for facts in cases:
            started = time.perf_counter()
            wanted = wanted_for(facts, lookup)
            first = next(index.best_first(facts, wanted, today), None)
            if first is None:
                index.why_not(facts, wanted, today)  # what matching does when nobody can take the case
            indexed.append(time.perf_counter() - started)
            scored.append(index.last_scored)
            matched += first is not None
            progress.advance(task)
        naive, agree = [], 0
        task = progress.add_task("matching by scanning the whole directory", total=args.naive_cases)
        for facts in cases[:args.naive_cases]:
            started = time.perf_counter()
            wanted = wanted_for(facts, lookup)
            ranked, _ = rank(facts, wanted, directory, today)
            naive.append(time.perf_counter() - started)
            expected = ranked[0].specialist.specialist_id if ranked else None
            got = next(index.best_first(facts, wanted, today), None)
            agree += (got.specialist.specialist_id if got else None) == expected
            progress.advance(task)

    figures = {
        "directory_size": len(directory), "cases": len(indexed), "naive_cases": len(naive),
        "index_build_s": round(build_s, 2), "matched_share": round(matched / len(indexed), 3),
        "p50_ms": round(percentile(indexed, 0.5) * 1000, 3), "p99_ms": round(percentile(indexed, 0.99) * 1000, 3),
        "throughput_per_s": round(len(indexed) / sum(indexed), 1),
        "scored_per_case_p50": percentile(scored, 0.5), "scored_per_case_p99": percentile(scored, 0.99),
        "naive_p50_ms": round(percentile(naive, 0.5) * 1000, 1), "naive_p99_ms": round(percentile(naive, 0.99) * 1000, 1),
        "naive_agrees": f"{agree}/{len(naive)}",
    }
    figures["speedup"] = round(figures["naive_p50_ms"] / figures["p50_ms"], 1)
    figures["speedup_p99"] = round(figures["naive_p99_ms"] / figures["p99_ms"], 1)

    table = Table(title=f"Matching · {len(directory):,} synthetic specialists · one process · one run",
                  title_justify="left")
    table.add_column("measure")
    table.add_column("index", justify="right")
    table.add_column("naive scan", justify="right")
    table.add_row("cases matched", f"{len(indexed):,}", f"{len(naive):,}")
    table.add_row("choice latency p50 (ms)", f"{figures['p50_ms']:.2f}", f"{figures['naive_p50_ms']:.0f}")
    table.add_row("choice latency p99 (ms), aim < 5", f"{figures['p99_ms']:.2f}", f"{figures['naive_p99_ms']:.0f}")
    table.add_row("speed-up p50 / p99, aim ≥ 20×", f"{figures['speedup']:.0f}× / {figures['speedup_p99']:.0f}×", "")
    table.add_row("throughput (cases/s, one core)", f"{figures['throughput_per_s']:,.0f}",
                  f"{len(naive) / sum(naive):,.1f}")
    table.add_row("specialists scored per case p50 / p99", f"{figures['scored_per_case_p50']} / "
                  f"{figures['scored_per_case_p99']}", f"{len(directory):,}")
    table.add_row("same first choice as the naive scan", figures["naive_agrees"], "")
    table.add_row("cases someone could take", f"{figures['matched_share']:.1%}", "")
    table.add_row("index build (s)", f"{build_s:.2f}", "")
    console.print(table)
    write_figures(args.json, figures)


if __name__ == "__main__":
    main()
