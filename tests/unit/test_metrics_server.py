"""The metrics endpoint: /metrics only."""

import socket
import urllib.error
import urllib.request

import pytest

from secondlook import metrics


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_metrics_are_served_at_their_path_and_nothing_else_reads_healthy():
    port = _free_port()
    assert metrics.start_metrics_server(port) is not None
    page = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5)
    text = page.read()
    assert page.status == 200 and b"secondlook_" in text and b"_created" not in text
    for path in ("/healthz", "/", "/metrics/x"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5)
        assert refused.value.code == 404, path
    assert metrics.start_metrics_server(0) is None  # 0: no endpoint
