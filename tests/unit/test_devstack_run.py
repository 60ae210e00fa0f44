"""`make run`'s launcher refuses what would break another platform: a second run from
the same home, and a fixed port another program holds."""

from __future__ import annotations

import socket

from devstack import demo


def test_one_run_holds_a_home_at_a_time(tmp_path):
    home = tmp_path / "state"
    first = demo._claim(home)
    assert first is not None and demo._claim(home) is None
    first.close()
    again = demo._claim(home)
    assert again is not None
    again.close()


def test_a_fixed_port_in_use_is_refused_before_anything_starts(tmp_path, capsys):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        assert demo.run(home=tmp_path / "state", ports={"kafka_port": port}) == 2
    out = capsys.readouterr().out
    assert f"--kafka-port {port}" in out and "in use" in out
    assert not (tmp_path / "state").exists()  # nothing was started or written
