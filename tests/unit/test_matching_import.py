"""Importing a directory from CSV: rows read into the API's message and checked as
UpsertSpecialist checks one; the file's shape errors named by row and column."""

from __future__ import annotations

import dataclasses
from datetime import date

from secondlook import directorygen
from secondlook.clock import FakeClock
from services.matching import reference, usecases
from services.matching.domain.csvimport import read_csv, write_csv
from services.matching.domain.registration import validate_specialist
from services.matching.specialistdoc import specialist_from_doc
from tests.fakes.matching import matching_transact

TODAY = date(2026, 11, 27)
HEADER = "specialist_id,npi,specialties,licences,languages,capacity"


def test_a_generated_directory_survives_the_round_trip_through_csv():
    entries = list(directorygen.specialists(200, seed=5, today=TODAY))
    rows, problems = read_csv(write_csv(entries))
    assert problems == [] and len(rows) == 200
    for (where, msg), entry in zip(rows, entries, strict=True):
        entity, violations = validate_specialist(msg, reference.taxonomy())
        assert violations == [], (where, violations)
        expected = specialist_from_doc({**entry, "_id": entry["specialist_id"]})
        assert entity == expected, where
    assert rows[0][0] == "rows[2]"  # the header is line 1


def test_the_file_s_shape_errors_name_the_row_and_column():
    text = (f"{HEADER},accepting,focus,case_kinds\n"
            "a,1234567893,207RX0202X,US-CA|2099-01-01,en,three,maybe,C50|C50|C51,SECOND_OPINION;PANEL\n"
            "b,1234567893,207RX0202X,US-CA,en,2,,,\n")
    rows, problems = read_csv(text)
    assert set(problems) == {
        ("rows[2].capacity", "'three' is not an integer"), ("rows[2].accepting", "must be true or false"),
        ("rows[2].focus[0]", "must be an ICD-10-CM code, or first|last"),
        ("rows[2].case_kinds[1]", "'PANEL' is not SECOND_OPINION or PRIOR_AUTH"),
        ("rows[3].licences[0]", "must be jurisdiction|expires, e.g. US-CA|2027-06-30"),
    }


def test_a_header_in_any_case_and_a_bare_state_code_read_as_a_directory_admin_writes_them():
    text = ("Specialist_ID,NPI,Specialties,Licences,Languages,Capacity\n"
            "a,1234567893,207RX0202X,ca|2099-01-01;US-NY|2099-01-01;PR|2099-01-01,en,2\n")
    [(_, msg)], problems = read_csv(text)
    assert problems == [] and msg.npi == "1234567893"
    assert [lic.jurisdiction for lic in msg.licences] == ["US-CA", "US-NY", "US-PR"]
    entity, violations = validate_specialist(msg, reference.taxonomy())
    assert violations == [] and entity is not None


def test_a_header_missing_or_naming_unknown_columns_is_refused():
    assert read_csv("")[1] == [("header", "the file is empty: the first line names the columns")]
    _, problems = read_csv("specialist_id,npi,speciality\n")
    assert [p for p, _ in problems] == ["header", "header"]
    assert "specialties" in problems[0][1] and "speciality" in problems[1][1]
    assert read_csv(HEADER + "\n")[1] == [("rows", "the file has a header and no specialist")]


async def test_an_import_creates_and_updates_in_batches_and_a_dry_run_writes_nothing():
    entries = list(directorygen.specialists(250, seed=8, today=TODAY))
    proposed = [validate_specialist(msg, reference.taxonomy())[0] for _, msg in read_csv(write_csv(entries))[0]]
    transact = matching_transact()
    now = FakeClock().now()
    assert await usecases.import_specialists(transact, proposed, now, dry_run=True) == (250, 0, 0)
    assert transact.state.specialists == {} and transact.committed == []
    assert await usecases.import_specialists(transact, proposed, now) == (250, 0, 0)
    assert transact.transactions == 3 + 3  # the dry run's and the import's batches of 100
    # The same file again changes nothing; ten rows with a new capacity are ten new versions.
    assert await usecases.import_specialists(transact, proposed, now, dry_run=True) == (0, 0, 250)
    assert await usecases.import_specialists(transact, proposed, now) == (0, 0, 250)
    assert transact.state.specialists[proposed[0].specialist_id].version == 1
    changed = [dataclasses.replace(s, capacity=s.capacity + 1) for s in proposed[:10]]
    assert await usecases.import_specialists(transact, changed, now, dry_run=True) == (0, 10, 0)
    assert await usecases.import_specialists(transact, changed, now) == (0, 10, 0)
    assert transact.state.specialists[proposed[0].specialist_id].version == 2
    assert len([e for e in transact.committed if e.type == "specialist.changed"]) == 260


def test_odd_files_are_refused_by_row_never_with_an_error():
    rows, problems = read_csv("\ufeff" + HEADER + "\nbom-1,1234567893,207RX0202X,US-CA|2099-01-01,en,99999999999\n")
    assert problems == [("rows[2].capacity", "'99999999999' is out of range")]  # the mark is no column
    _, problems = read_csv(HEADER + ",npi\n")
    assert problems == [("header", "names column(s) npi twice")]
    _, problems = read_csv(HEADER + "\nbig," + "x" * 200_000 + ",207RX0202X,US-CA|2099-01-01,en,2\n")
    assert problems and problems[0][0] == "rows[2]" and "is not CSV" in problems[0][1]
    rows, problems = read_csv(HEADER.replace(",", ",") + "\rcr-1,1234567893,207RX0202X,US-CA|2099-01-01,en,2\r")
    assert problems == [] and [m.specialist_id for _, m in rows] == ["cr-1"]  # old Mac line ends


def test_a_spreadsheets_export_with_empty_trailing_columns_and_rows_reads_as_its_specialists():
    entries = list(directorygen.specialists(3, seed=8, today=TODAY))
    header, *lines = write_csv(entries).strip().split("\n")
    excel = "\ufeff" + "\r\n".join([header + ",,", *(line + ",," for line in lines), ",,,,,,,,", ",,,,,,,,"]) + "\r\n"
    rows, problems = read_csv(excel)
    assert problems == [] and [msg.specialist_id for _, msg in rows] == [e["specialist_id"] for e in entries]
    for unnamed in (",", ",,"):  # a value under any column the header leaves unnamed, the last or not
        _, problems = read_csv(header + unnamed + "\n" + lines[0] + ",stray" + unnamed[1:] + "\n")
        assert problems == [("rows[2]", "has a value in a column the header does not name")]
