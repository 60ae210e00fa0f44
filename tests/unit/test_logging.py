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


EXCEPTION_SCRIPT = """
import logging
from secondlook.logging import configure_logging
configure_logging("intake")
def handle():
    raise ValueError("Jane Canary-Doe, born 1970-01-01")
try:
    handle()
except ValueError:
    logging.getLogger("aiohttp.server").exception("Error handling request")
"""


def test_a_librarys_line_with_an_exception_names_its_type_and_frame_never_its_text():
    out = subprocess.run([sys.executable, "-c", EXCEPTION_SCRIPT], capture_output=True, text=True, timeout=60,
                         check=True)
    [line] = [json.loads(line) for line in out.stdout.splitlines()]
    assert (line["event"], line["error"], line["level"]) == ("Error handling request", "ValueError", "error")
    assert line["at"].endswith(":6") and "Canary" not in out.stdout and "traceback" not in out.stdout
