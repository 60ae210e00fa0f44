"""`make run`: the whole platform on the embedded stack, with cases flowing.

Starts broker, store and the four services as processes (state and logs under
.secondlook/), registers a webhook receiver for the demo tenant, submits the
sample cases, lets a clearly labelled simulated reviewer answer them through
the real review API, and shows each case moving stage by stage: a live table
in a terminal, one line per stage change otherwise (a file, a CI log, a
supervisor). Ctrl-C or SIGTERM stops every process it started; a second signal
kills them at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import shutil
import signal
import time
from datetime import datetime
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from devstack import clients
from devstack.receiver import WebhookReceiver, registered_receiver
from devstack.simreviewer import SimulatedReviewer
from devstack.smtpsink import SmtpSink
from devstack.stack import ROOT, Stack, health_status, leftovers, port_open
from secondlook.settings import Settings
from secondlook.v1 import case_pb2, intake_pb2

TENANT = "demo-hospital"
STAGES = ["SUBMITTED", "MATCHING", "OFFERED", "ASSIGNED", "IN_REVIEW", "NEEDS_INFO", "OPINION_READY", "DELIVERED"]
SHORT = {"SUBMITTED": "sub", "MATCHING": "match", "OFFERED": "offer", "ASSIGNED": "assign",
         "IN_REVIEW": "review", "NEEDS_INFO": "info", "OPINION_READY": "opinion", "DELIVERED": "deliv"}
STYLE = {"DELIVERED": "bold green", "UNMATCHED": "bold red", "OPINION_READY": "cyan", "NEEDS_INFO": "magenta"}
# The record the demo's "hospital" sends when the reviewer asks for more (synthetic, like every sample).
ANSWER = intake_pb2.Attachment(uri="https://records.example.org/demo/imaging-report", media_type="application/pdf",
                               size_bytes=48_213, sha256="5" * 64, title="Imaging report (synthetic)")


def _emails(mail: SmtpSink, c: dict) -> str:
    """How many e-mails the case's patient and physician received (matched by address)."""
    return str(sum(m["To"] in c.get("addresses", ()) for m in mail.delivered()) or "·")


def _table(cases: list[dict], started: float, receiver: WebhookReceiver, mail: SmtpSink, hold: bool,
           texts=lambda: ()) -> Table:
    table = Table(title=f"secondlook · {len(cases)} sample cases · {time.monotonic() - started:5.1f}s · seconds after submit",
                  title_justify="left")
    table.add_column("case", no_wrap=True)
    table.add_column("dx", no_wrap=True)
    table.add_column("specialist", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for stage in STAGES:  # seconds after submission at which the stage happened
        table.add_column(SHORT[stage], justify="right", no_wrap=True)
    table.add_column("e-mails", justify="right", no_wrap=True)
    for c in cases:
        reached = c.get("reached", {})
        status = c.get("status", "…")
        table.add_row(c["ref"], c["diagnosis"], c.get("specialist", ""), f"[{STYLE.get(status, 'yellow')}]{status}[/]",
                      *(f"{reached[s]:.1f}" if s in reached else "·" for s in STAGES), _emails(mail, c))
    table.caption = (f"webhooks received and verified: {len(receiver.verified)}"
                     f" · rejected: {receiver.rejected} · e-mails received: {mail.count()} (local SMTP"
                     f" sink) · texts: {len(texts())} · reviews by the SIMULATED reviewer")
    if hold and cases and all(c.get("status") in ("DELIVERED", "UNMATCHED") for c in cases):
        table.caption += "\n[bold green]all cases settled[/] · the platform keeps running · Ctrl-C stops everything"
    return table


async def _demo(stack: Stack, console: Console, hold: bool, mail: SmtpSink) -> int:
    settings = Settings(jwt_secret=stack.jwt_secret)
    receiver = await registered_receiver(settings, stack.target("notify"), TENANT)
    intake, intake_auth = clients.submitter(settings, stack.target("intake"), TENANT)
    reviewer = SimulatedReviewer(settings, stack.target("review"), stack.specialist_ids(), think_seconds=2.0).start()
    started = time.monotonic()
    cases = []
    run_id = int(time.time())
    for req in clients.sample_cases(prefix=f"{run_id}-"):
        sent = time.monotonic()
        r = await intake.SubmitCase(req, metadata=intake_auth.metadata, timeout=10)
        cases.append({"id": r.case_id, "ref": req.client_request_id.split("-", 2)[2], "sent": sent,
                      "diagnosis": req.diagnosis_code,
                      "addresses": {req.patient.email, req.first_opinion.physician.email} - {""}})
        if len(cases) == 1:  # the reviewer of the first sample case asks for more records, which the demo sends
            reviewer.ask_more_info_on(r.case_id)
    # One more the way a hospital's FHIR system sends it: a transaction Bundle over HTTP.
    sent = time.monotonic()
    bundle = clients.sample_bundle(f"{run_id}-fhir-breast-onc")
    for entry in bundle["entry"]:  # the same fictional patient as the first sample case: an address of
        for point in entry["resource"].get("telecom", []):  # its own, so the table counts each case's e-mails
            if point.get("system") == "email":
                point["value"] = point["value"].replace("@", "+fhir@")
    status, reply, _ = await clients.submit_bundle(settings, stack.fhir_base(), TENANT, bundle)
    if status != 201:
        raise RuntimeError(f"the FHIR sample was refused ({status}): {reply}")
    case_id = reply["entry"][0]["response"]["location"].split("/")[1]
    cases.append({"id": case_id, "ref": "fhir-breast-onc", "sent": sent, "diagnosis": "C50.911",
                  "addresses": clients.bundle_emails(bundle)})
    # And a payer's prior-authorization request (Da Vinci PAS): decided item by item, its
    # ClaimResponse delivered to the same webhook receiver.
    sent = time.monotonic()
    status, reply = await clients.submit_pas(settings, stack.fhir_base(), TENANT,
                                             clients.sample_pas_request(f"{run_id}-pas"))
    if status != 200:
        raise RuntimeError(f"the PAS sample was refused ({status}): {reply}")
    cases.append({"id": reply["entry"][0]["resource"]["preAuthRef"], "ref": "pas-trastuzumab", "sent": sent,
                  "diagnosis": "C50.921"})
    def summary() -> None:  # once every case is settled, also when the platform keeps running
        elapsed = time.monotonic() - started
        delivered = sum(c.get("status") == "DELIVERED" for c in cases)
        console.print(f"[bold green]{delivered}/{len(cases)} cases DELIVERED[/] in {elapsed:.1f}s; "
                      f"{len(receiver.verified)} signed webhooks verified; {mail.count()} e-mails received "
                      f"(readable in {mail.log_file}); {len(stack.texts())} text messages (in {stack.sms_file}).")
        if not console.is_terminal:
            for c in cases:
                reached = c.get("reached", {})
                console.print(f"summary case {c['ref']} {c.get('status', '?')} "
                              + " ".join(f"{SHORT[s]}={reached[s]:.2f}s" for s in STAGES if s in reached)
                              + f" e-mails={_emails(mail, c)}")
            if hold:
                console.print("all cases settled · the platform keeps running · SIGTERM or Ctrl-C stops it")

    watchdog = asyncio.create_task(_supervise(stack, console))
    try:
        if console.is_terminal:
            with Live(_table(cases, started, receiver, mail, hold, stack.texts), console=console, refresh_per_second=4) as live:
                await _follow(intake, intake_auth, cases, hold,
                              lambda: live.update(_table(cases, started, receiver, mail, hold, stack.texts)),
                              summary)
        else:
            await _follow(intake, intake_auth, cases, hold, lambda: _print_changes(console, cases), summary)
        return 0 if all(c.get("status") == "DELIVERED" for c in cases) else 1
    finally:
        watchdog.cancel()
        await asyncio.gather(watchdog, return_exceptions=True)
        await reviewer.stop()
        await intake_auth.close()
        await receiver.stop()


MAX_RESTARTS = 5  # of one service within RESTART_WINDOW_SECONDS, before the demo stops restarting it
RESTART_WINDOW_SECONDS = 600.0


async def _supervise(stack: Stack, console: Console) -> None:
    """What Kubernetes does for a pod: a service that exits (a crash, a kill -9) is
    said and started again, up to MAX_RESTARTS times in ten minutes; so are the broker
    (empty: the services make their topics again and carry on from the store) and the
    store (on its data folder)."""
    restarts: dict[str, list[float]] = {}
    told: set[str] = set()
    while True:
        await asyncio.sleep(1.0)
        for name, proc in list(stack.services.items()):
            if proc.alive or name in told:
                continue
            code = proc.popen.returncode if proc.popen is not None else None
            log = proc.log_path.relative_to(ROOT) if proc.log_path.is_relative_to(ROOT) else proc.log_path
            recent = [t for t in restarts.get(name, []) if time.monotonic() - t < RESTART_WINDOW_SECONDS]
            if len(recent) >= MAX_RESTARTS:
                told.add(name)
                console.print(f"[red]{name} exited (code {code}) again: not restarting it after {MAX_RESTARTS} "
                              f"restarts · its log: {log}[/]", highlight=False, soft_wrap=True)
                continue
            restarts[name] = [*recent, time.monotonic()]
            console.print(f"[yellow]{name} exited (code {code}) · its log: {log} · restarting it[/]",
                          highlight=False, soft_wrap=True)
            try:
                stack.start_service(name)
                await _serving(stack, name)
                console.print(f"[green]✓[/] {name} restarted and serving; its cases carry on", highlight=False)
            except Exception as exc:  # it exited again during start: the next look says so
                console.print(f"[red]{name} did not come back: {exc}[/]", highlight=False, soft_wrap=True)
        for infra, restart in ((stack.broker, stack.start_broker),
                               (stack.store, stack.start_store if stack.persistent_store else None)):
            if infra is None or infra.alive or infra.name in told:
                continue
            recent = [t for t in restarts.get(infra.name, []) if time.monotonic() - t < RESTART_WINDOW_SECONDS]
            if restart is None or len(recent) >= MAX_RESTARTS:
                told.add(infra.name)
                console.print(f"[red]the {infra.name} exited (code {infra.popen.returncode}): the services wait for "
                              f"it · its log: {infra.log_path}[/]", highlight=False, soft_wrap=True)
                continue
            restarts[infra.name] = [*recent, time.monotonic()]
            console.print(f"[yellow]the {infra.name} exited (code {infra.popen.returncode}) · its log: "
                          f"{infra.log_path} · restarting it[/]", highlight=False, soft_wrap=True)
            try:
                await asyncio.to_thread(restart)
                console.print(f"[green]✓[/] the {infra.name} restarted; the services reconnect and carry on",
                              highlight=False)
            except Exception as exc:  # it did not come up: the next look tries again, up to MAX_RESTARTS
                console.print(f"[red]the {infra.name} did not come back: {exc}[/]", highlight=False, soft_wrap=True)


async def _serving(stack: Stack, name: str, timeout: float = 60.0) -> None:
    """Until the restarted service reports SERVING; a stop meanwhile cancels the wait
    at once (a thread waiting on it would hold the demo's exit)."""
    deadline = time.monotonic() + timeout
    while await asyncio.to_thread(health_status, stack.target(name)) != health_pb2.HealthCheckResponse.SERVING:
        if not stack.services[name].alive:
            raise RuntimeError(f"{name} exited again while starting")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not report SERVING within {timeout:.0f} s")
        await asyncio.sleep(0.5)


async def _follow(intake, auth, cases: list[dict], hold: bool, show, settled) -> None:
    """Reads every case's timeline until all are settled (or forever, with `hold`),
    calling `settled` once when they are: one ListCases page of summaries a look (no
    PHI, so nothing for the access audit)."""
    by_id = {c["id"]: c for c in cases}
    told = False
    while True:
        try:
            page = await intake.ListCases(intake_pb2.ListCasesRequest(page_size=200), metadata=auth.metadata,
                                          timeout=5)
        except grpc.aio.AioRpcError:
            page = intake_pb2.ListCasesResponse()
        for case in page.cases:
            c = by_id.get(case.case_id)
            if c is None:
                continue
            if case.status == case_pb2.CASE_STATUS_NEEDS_INFO and not c.get("answered"):
                c["answered"] = await _answer(intake, auth, case.case_id)
            c["status"] = case_pb2.CaseStatus.Name(case.status).removeprefix("CASE_STATUS_")
            c["specialist"] = case.specialist_id
            reached: dict[str, float] = {}
            for e in case.timeline:  # when each stage was first reached (a panel's offers repeat OFFERED)
                at = e.occurred_at.ToDatetime().timestamp() - cases_submitted_at(case)
                stage = case_pb2.CaseStatus.Name(e.status).removeprefix("CASE_STATUS_")
                reached[stage] = min(at, reached.get(stage, at))
            c["reached"] = reached
        show()
        if not told and all(c.get("status") in ("DELIVERED", "UNMATCHED") for c in cases):
            told = True
            settled()
            if not hold:
                return
        await asyncio.sleep(0.25)


async def _answer(intake, auth, case_id: str) -> bool:
    """The hospital's side of a request for more information: read the questions
    (GetCase) and send a record (AddDocuments), which brings the case back to review."""
    try:
        case = await intake.GetCase(intake_pb2.GetCaseRequest(case_id=case_id), metadata=auth.metadata, timeout=5)
        if not any(not r.HasField("answered_at") for r in case.info_requests):
            return False  # the request is not confirmed yet: look again
        await intake.AddDocuments(intake_pb2.AddDocumentsRequest(case_id=case_id, attachments=[ANSWER]),
                                  metadata=auth.metadata, timeout=5)
        return True
    except grpc.aio.AioRpcError:
        return False  # tried again on the next look


def _print_changes(console: Console, cases: list[dict]) -> None:
    """One line per stage a case reached since the last look, in the order they happened."""
    new = []
    for c in cases:
        shown = c.setdefault("shown", set())
        for stage, seconds in c.get("reached", {}).items():
            if stage not in shown:
                shown.add(stage)
                new.append((seconds, c, stage))
    for seconds, c, stage in sorted(new, key=lambda n: (n[1]["ref"], n[0])):
        console.print(f"{datetime.now():%H:%M:%S} case {c['ref']} ({c['diagnosis']}) {stage} "
                      f"+{seconds:.2f}s after submit", highlight=False)


def cases_submitted_at(case: intake_pb2.Case) -> float:
    return case.submitted_at.ToDatetime().timestamp()


def _until_signalled(coro) -> int | None:
    """Runs `coro` in an event loop that SIGINT and SIGTERM stop by cancelling it
    (so its clients close and the loop winds down in order); None when a signal
    stopped it. A KeyboardInterrupt raised at an arbitrary point inside the loop,
    which is what the default handlers do, can leave the loop's own shutdown
    waiting for good."""

    async def main() -> int | None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        signalled = False
        before = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}

        def stop() -> None:
            nonlocal signalled
            signalled = True
            SIGNALLED.append(time.monotonic())
            task.cancel()

        for signum in before:
            loop.add_signal_handler(signum, stop)
        try:
            return await coro
        except asyncio.CancelledError:
            if signalled:
                return None
            raise
        finally:
            for signum, handler in before.items():
                loop.remove_signal_handler(signum)  # which leaves SIGTERM to its default: killed at once
                signal.signal(signum, handler)

    return asyncio.run(main())


def run(home: Path | None = None, hold: bool = True, fresh: bool = True, ports: dict[str, int] | None = None,
        synthetic_specialists: int = 0) -> int:
    console = Console()
    if not console.is_terminal:  # a file or a log: long lines, no wrapping at 80 columns
        console = Console(width=240, soft_wrap=True)
    home = (home or ROOT / ".secondlook").resolve()
    # One platform per home: a second run would delete the first one's store and keys
    # under its feet (and its processes would be the second's leftovers).
    lock = _claim(home)
    if lock is None or leftovers(home):
        running = leftovers(home)
        if lock is not None:
            lock.close()
        if lock is None:
            console.print(f"[red]a platform is already running from {home}[/]"
                          + (f" (pids {' '.join(map(str, running))})" if running else "")
                          + ": stop it first (Ctrl-C where it runs), or start this one with ARGS=\"--home OTHER_DIR\"",
                          highlight=False, soft_wrap=True)
        else:  # its launcher is gone, some of its processes are not
            console.print(f"[red]processes of an earlier run from {home} are still alive (pids "
                          f"{' '.join(map(str, running))})[/]: end them (kill {' '.join(map(str, running))}) first",
                          highlight=False, soft_wrap=True)
        return 2
    busy = [f"--{name.replace('_', '-')} {port}" for name, port in (ports or {}).items()
            if port and any(port_open(p) for p in range(port, port + (4 if name.endswith("_base") else 1)))]
    if busy:
        lock.close()
        console.print(f"[red]port already in use: {', '.join(busy)}[/] (another platform, or another program): "
                      "choose free ports, or leave them out to have free ones picked", highlight=False, soft_wrap=True)
        return 2
    if fresh:
        shutil.rmtree(home, ignore_errors=True)
    (home / "logs").mkdir(parents=True, exist_ok=True)
    mail = SmtpSink(log_file=home / "logs" / "mail.txt").start()  # the e-mail notices land here
    stack = Stack(home, persistent_store=True, overrides={
        "SECONDLOOK_SWEEPER_STUCK_AFTER_SECONDS": "20", "SECONDLOOK_LOG_LEVEL": "INFO", **mail.overrides(),
    }, synthetic_specialists=synthetic_specialists, **(ports or {}))
    # SIGTERM (a supervisor, a container runtime, a CI timeout) stops everything
    # the way Ctrl-C does.
    def interrupted(signum, frame):
        SIGNALLED.append(time.monotonic())
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)
    console.print(Panel.fit(
        "[bold]secondlook[/] · medical second opinions, end to end\n"
        f"state and logs: {home}  ·  Ctrl-C stops everything", border_style="blue"))
    code = 1
    try:
        began = time.monotonic()
        with console.status("starting") as status:
            stack.start(on_step=lambda step: status.update(f"starting {step}…"))
        console.print(f"[green]✓[/] broker 127.0.0.1:{stack.kafka_port} · store 127.0.0.1:{stack.mongo_port} · "
                      f"services up in {time.monotonic() - began:.1f}s")
        grid = Table.grid(padding=(0, 2))
        for name in stack.services:
            grid.add_row(name, f"gRPC {stack.target(name)}", f"metrics http://127.0.0.1:{stack.metrics_ports[name]}/metrics",
                         f"log {stack.services[name].log_path.relative_to(ROOT) if stack.services[name].log_path.is_relative_to(ROOT) else stack.services[name].log_path}")
            if name in stack.fhir_ports:
                grid.add_row("", f"FHIR {stack.fhir_base(name)}", "", "")
        console.print(Group(grid))
        console.print(f"SMTP sink 127.0.0.1:{mail.port} · e-mails in {mail.log_file}")
        console.print(f"for the secondlook CLI (audit, report): SECONDLOOK_MONGO_URI='{stack.mongo_uri}'",
                      highlight=False, soft_wrap=True)
        console.print(f"for tokens (make token, the README's examples): "
                      f"export SECONDLOOK_JWT_SECRET=\"$(cat {stack.jwt_secret_file})\"", highlight=False, soft_wrap=True)
        result = _until_signalled(_demo(stack, console, hold, mail))
        if result is None:
            raise KeyboardInterrupt
        code = result
        if hold:
            console.print("platform still running · Ctrl-C to stop")
    except KeyboardInterrupt:
        code = 0
    finally:
        def force(signum, frame):  # a second signal: no more waiting
            # ... but not the same request twice: `make` passes its own SIGTERM on to its
            # child, which the process group's already reached a moment before.
            if SIGNALLED and time.monotonic() - SIGNALLED[0] < DUPLICATE_SIGNAL_SECONDS:
                return
            for proc in stack.processes():
                proc.kill()
            # Said before the exit, so a log piped to a file ends on what happened (a raw
            # write: the console may be mid-line in the interrupted code).
            with contextlib.suppress(OSError):  # a closed or broken stdout must not keep it alive
                os.write(1, b"\nsecond signal: every process killed (SIGKILL), nothing waited for\n")
            os._exit(130)

        signal.signal(signal.SIGINT, force)
        signal.signal(signal.SIGTERM, force)
        with console.status("stopping every process"):
            stack.stop()
            mail.stop()
        alive = leftovers(home)
        console.print("[green]✓[/] all processes stopped" if not alive else f"[red]still running: pids {alive}[/]")
        lock.close()
        # Done: a copy of the stop signal arriving while Python winds down (which puts
        # the default handlers back) would end the process as killed, code -15.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    return code


SIGNALLED: list[float] = []  # when the stop signals came
DUPLICATE_SIGNAL_SECONDS = 0.5  # make's copy arrives within milliseconds; a person's second Ctrl-C later


def _claim(home: Path):
    """The home's lock (a file beside it, held while this run lives; the kernel lets
    go of it when the process ends, however it ends), or None when another run holds it."""
    path = home.with_name(home.name + ".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle
