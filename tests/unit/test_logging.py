"""The one logging setup: every line JSON, naming its service, also a library's
line written from a thread of its own (kafka-python's heartbeat and sender)."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import logging, threading
from secondlook.logging import configure_logging, get_logger
configure_logging("intake")
get_logger("x").info("ours", case_id="c1")
t = threading.Thread(target=lambda: logging.getLogger("kafka.coordinator").warning("Heartbeat failed"))
t.start(); t.join()
"""


def test_every_line_is_json_and_names_its_service_also_a_librarys_from_its_own_thread():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=True)
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(line["event"], line["service"]) for line in lines] == [("ours", "intake"), ("Heartbeat failed", "intake")]
    assert lines[1]["level"] == "warning" and lines[0]["case_id"] == "c1"
