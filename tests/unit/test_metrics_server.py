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


def test_metrics_bind_the_address_given_not_every_interface():
    port = _free_port()
    assert metrics.start_metrics_server(port, "127.0.0.1") is not None
    with socket.socket() as probe:  # the port is taken on 127.0.0.1 only: 0.0.0.0 is still free
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)
        probe.bind(("127.0.0.2", port))
    assert urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).status == 200
