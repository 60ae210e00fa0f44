"""Acceptance: `make run` (the `secondlook run` command it calls) shows the sample
cases reaching DELIVERED, and Ctrl-C leaves no process behind."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from secondlook.dev.clients import sample_cases
from secondlook.dev.stack import ROOT, leftovers, wait_for

pytestmark = pytest.mark.e2e


def _delivered(home) -> int:
    try:
        lines = (home / "logs" / "intake.log").read_text().splitlines()
    except FileNotFoundError:
        return 0
    return sum('"status": "DELIVERED"' in line for line in lines)


def test_the_demo_delivers_the_sample_cases_and_ctrl_c_stops_everything(tmp_path):
    home = tmp_path / "demo"
    output = tmp_path / "demo.out"
    with open(output, "wb") as out:
        demo = subprocess.Popen([sys.executable, "-m", "secondlook.cli", "run", "--home", str(home)],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ROOT)
    try:
        wait_for(lambda: "services up in" in output.read_text(), 90, "the demo's services to be up")
        assert len(leftovers(home)) == 6  # broker, store and the four services
        cases = len(sample_cases())
        # The acceptance is a minute on an idle machine (it takes seconds); CI shares
        # its two cores with the rest of the suite, hence the margin.
        wait_for(lambda: _delivered(home) >= cases, 120, f"{cases} sample cases DELIVERED")
        demo.send_signal(signal.SIGINT)  # what Ctrl-C delivers
        assert demo.wait(timeout=90) == 0
    finally:
        if demo.poll() is None:
            demo.kill()
    text = output.read_text()
    assert "all processes stopped" in text, text[-2000:]
    assert leftovers(home) == []
