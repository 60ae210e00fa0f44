"""The synthetic directory: what matching would accept, the same for the same seed,
and shaped like a real one."""

from __future__ import annotations

import collections
import json
from datetime import date

from secondlook import cli, directorygen
from secondlook.codes import npi_is_valid
from services.matching import reference
from services.matching.domain.registration import validate_specialist
from services.matching.grpc_api import message_of
from services.matching.specialistdoc import specialist_from_doc

TODAY = date(2026, 11, 27)


def test_every_generated_specialist_passes_the_directory_api_s_own_checks():
    entries = list(directorygen.specialists(400, seed=11, today=TODAY))
    for e in entries:
        entity = specialist_from_doc({**e, "_id": e["specialist_id"]})
        _, violations = validate_specialist(message_of(entity), reference.taxonomy())
        assert violations == [], (e["specialist_id"], violations)
    assert len({e["specialist_id"] for e in entries}) == len({e["npi"] for e in entries}) == 400
    assert all(npi_is_valid(e["npi"]) for e in entries)


def test_the_same_seed_and_day_give_the_same_directory_and_another_seed_another():
    first = list(directorygen.specialists(50, seed=3, today=TODAY))
    assert first == list(directorygen.specialists(50, seed=3, today=TODAY))
    assert first != list(directorygen.specialists(50, seed=4, today=TODAY))


def test_the_directory_is_shaped_like_a_real_one():
    entries = list(directorygen.specialists(3000, seed=2, today=TODAY))
    by_specialty = collections.Counter(e["specialties"][0] for e in entries)
    assert by_specialty["207RX0202X"] > by_specialty["2080P0202X"] * 4  # oncologists outnumber paediatric cardiologists
    by_home = collections.Counter(e["licences"][0]["jurisdiction"] for e in entries)
    assert by_home.most_common(1)[0][1] < len(entries) / 4  # spread over the states
    spanish = sum("es" in e["languages"] for e in entries) / len(entries)
    assert 0.12 < spanish < 0.3
    assert all("en" in e["languages"] for e in entries)
    expired = sum(any(lic["expires"] < TODAY.isoformat() for lic in e["licences"]) for e in entries)
    assert 0 < expired < len(entries) * 0.05  # a few, as in life


def test_the_command_writes_json_a_seed_can_load(tmp_path, capsys):
    out = tmp_path / "directory.json"
    assert cli.main(["directory", "generate", "--count", "25", "--seed", "9", "--out", str(out)]) == 0
    loaded = json.loads(out.read_text())
    assert len(loaded) == 25 and loaded[0]["specialist_id"] == "syn-000000"
    assert "wrote 25 synthetic specialists" in capsys.readouterr().err
    assert cli.main(["directory", "generate", "--count", "2"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2
