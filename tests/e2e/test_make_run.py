"""Acceptance: `make run` (the `secondlook run` command it calls) shows the sample
cases reaching DELIVERED, also when its output goes to a file, and Ctrl-C or
SIGTERM leaves no process behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from devstack.clients import sample_cases
from devstack.stack import ROOT, leftovers, wait_for

pytestmark = pytest.mark.e2e


def _delivered_lines(output) -> set[str]:
    """Cases the demo's own output (not a terminal here) reported DELIVERED."""
    return set(re.findall(r"case (\S+) \(.*\) DELIVERED \+[0-9.]+s after submit", output.read_text()))


@contextmanager
def demo_running(tmp_path):
    """`make run`'s command with its output to a file (not a terminal), up and
    showing its services; killed if a test leaves it running."""
    home, output = tmp_path / "demo", tmp_path / "demo.out"
    with open(output, "wb") as out:
        demo = subprocess.Popen([sys.executable, "-m", "devstack", "run", "--home", str(home)],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ROOT)
    try:
        wait_for(lambda: "services up in" in output.read_text(), 90, "the demo's services to be up")
        assert len(leftovers(home)) == 6  # broker, store and the four services
        yield demo, home, output
    finally:
        if demo.poll() is None:
            demo.kill()


def test_the_demo_delivers_the_sample_cases_and_ctrl_c_stops_everything(tmp_path):
    with demo_running(tmp_path) as (demo, home, output):
        # The sample cases, and the payer's prior-authorization request (its ClaimResponse delivered).
        refs = {req.client_request_id.split("-", 1)[1] for req in sample_cases()} | {"pas-trastuzumab"}
        # The acceptance is a minute on an idle machine (it takes seconds); CI shares
        # its two cores with the rest of the suite, hence the margin.
        wait_for(lambda: _delivered_lines(output) >= refs, 120, f"{len(refs)} sample cases DELIVERED in the output")
        # The e-mail notices reached the local SMTP sink: every sample's patient and referring physician.
        mail = home / "logs" / "mail.txt"
        addresses = {a for req in sample_cases() for a in (req.patient.email, req.first_opinion.physician.email)}
        wait_for(lambda: mail.exists() and all(f"To: {a}".encode() in mail.read_bytes() for a in addresses), 60,
                 "an e-mail to every sample's patient and physician in the sink's file")
        assert "e-mails in" in output.read_text()
        # Still running, it says so once every case is settled, with the summary.
        wait_for(lambda: "all cases settled · the platform keeps running" in output.read_text(), 60,
                 "the summary once every sample case is settled")
        assert re.search(r"cases DELIVERED in [0-9.]+s; ", output.read_text())
        assert {f"summary case {ref} DELIVERED" for ref in refs} <= {
            " ".join(line.split()[:4]) for line in output.read_text().splitlines() if line.startswith("summary case")}
        # Each case told its own people: the FHIR sample's patient has an address of its own.
        counted = {line.split()[2]: line.rsplit("e-mails=", 1)[1] for line in output.read_text().splitlines()
                   if line.startswith("summary case")}
        assert counted["fhir-breast-onc"] != "·" and counted["breast-onc-001"] != "·", counted
        assert 'export SECONDLOOK_JWT_SECRET="$(cat ' in output.read_text()  # for the README's examples
        # A service killed is said and started again, as Kubernetes would.
        [matching] = [pid for pid in leftovers(home)
                      if b"services.matching" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        os.kill(matching, signal.SIGKILL)
        wait_for(lambda: "matching restarted and serving" in output.read_text(), 90, "matching restarted by the demo")
        assert "matching exited (code -9)" in output.read_text() and len(leftovers(home)) == 6
        # So is the store, on its data folder: the platform answers again.
        [store] = [pid for pid in leftovers(home) if b"secantus" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        os.kill(store, signal.SIGKILL)
        wait_for(lambda: "the store restarted" in output.read_text(), 90, "the store restarted by the demo")
        assert store not in leftovers(home) and len(leftovers(home)) == 6
        demo.send_signal(signal.SIGINT)  # what Ctrl-C delivers
        code = demo.wait(timeout=90)
    text = output.read_text()
    assert code == 0, text[-3000:]
    assert "all processes stopped" in text, text[-3000:]
    assert leftovers(home) == []
    # The first sample's simulated reviewer asked for more records; the demo sent them.
    first = sample_cases()[0].client_request_id.split("-", 1)[1]
    assert re.search(rf"case {re.escape(first)} \(.*\) NEEDS_INFO \+", text), text[-3000:]


def test_sigterm_stops_every_process_it_started(tmp_path):
    """What a supervisor, a container runtime or a CI timeout sends."""
    with demo_running(tmp_path) as (demo, home, output):
        # A second run from the same home is refused: it would delete the first one's store and keys.
        secret = (home / "jwt-secret").read_text()
        second = subprocess.run([sys.executable, "-m", "devstack", "run", "--home", str(home)], capture_output=True,
                                text=True, timeout=60, cwd=ROOT, stdin=subprocess.DEVNULL)
        assert second.returncode == 2 and "already running" in second.stdout, second.stdout + second.stderr
        assert (home / "jwt-secret").read_text() == secret and len(leftovers(home)) == 6
        demo.send_signal(signal.SIGTERM)
        demo.send_signal(signal.SIGTERM)  # as `make` passes on the signal its process group got too
        code = demo.wait(timeout=90)
    assert code == 0, output.read_text()[-3000:]
    assert "all processes stopped" in output.read_text()
    assert leftovers(home) == []


def test_sigterm_from_make_and_its_process_group_while_starting_stops_cleanly(tmp_path):
    """`make` passes on the SIGTERM its process group got: the launcher sees it twice at once."""
    home, output = tmp_path / "demo", tmp_path / "demo.out"
    with open(output, "wb") as out:
        demo = subprocess.Popen([sys.executable, "-m", "devstack", "run", "--home", str(home)],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ROOT)
    try:
        wait_for(lambda: (home / "logs" / "notify.log").exists(), 60, "the demo to be starting its services")
        assert "services up in" not in output.read_text()  # still starting
        demo.send_signal(signal.SIGTERM)
        time.sleep(0.1)  # make's own copy comes a moment after the group's (not a wait on a condition)
        demo.send_signal(signal.SIGTERM)
        code = demo.wait(timeout=90)
    finally:
        if demo.poll() is None:
            demo.kill()
    assert code == 0, output.read_text()[-3000:]
    assert "all processes stopped" in output.read_text()
    assert leftovers(home) == []
