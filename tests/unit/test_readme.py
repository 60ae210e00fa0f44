"""The README's settings table is the documentation of Settings: keep them equal."""

import re
from pathlib import Path

from secondlook.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_documented_and_nothing_else():
    documented = set(re.findall(r"^\| `(SECONDLOOK_[A-Z_]+)` \|", README.read_text(), re.M))
    actual = {f"SECONDLOOK_{name.upper()}" for name in Settings.model_fields}
    assert documented == actual


def test_readme_starts_with_the_two_commands():
    text = README.read_text()
    assert text.index("make run") < text.index("## Architecture")
    assert text.index("make test") < text.index("## Architecture")


def test_the_topics_table_is_the_topology():
    from services.topology import CONSUMES, PRODUCES, SERVICES

    rows = re.findall(r"^\| `(secondlook\.[a-z.0-9]+)` \| ([^|]+) \| ([^|]+) \|$", README.read_text(), re.M)
    table = {topic: (producer.strip(), consumers.strip()) for topic, producer, consumers in rows}
    for service in SERVICES:
        topic = PRODUCES[service]
        readers = [s for s in SERVICES if topic in CONSUMES[s]]
        assert table[topic] == (service, ", ".join(readers)), topic
    assert set(table) == {*PRODUCES.values(), "secondlook.control.redrive.v1", "secondlook.deadletter.v1"}
