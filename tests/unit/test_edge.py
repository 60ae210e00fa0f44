"""The gRPC edge's text rules: printable text everywhere, tabs and line breaks in prose."""

import pytest

from secondlook.edge import text_problem, text_violations
from secondlook.v1 import intake_pb2, review_pb2


@pytest.mark.parametrize("value", [
    "Ada\x00", "\x1b[31mred", "caf\x85e", "x\x7f", "line\nbreak", "tab\there",
    "abc\u202edcba", "\u2066isolate\u2069", "zero\u200bwidth", "\ue000private", "\ufffe",
])
def test_names_and_codes_are_printable_text_only(value):
    assert text_problem(value, prose=False) is not None


@pytest.mark.parametrize("value", ["Ada Lovelace", "Zoë O'Brien-Núñez", "李小龙", "Ελένη", "C50.911", ""])
def test_printable_text_in_any_script_passes(value):
    assert text_problem(value, prose=False) is None


def test_prose_may_have_tabs_and_line_breaks_but_nothing_else_invisible():
    assert text_problem("Line one.\r\n\tLine two.", prose=True) is None
    assert "bidirectional" in text_problem("dose \u202e01 mg", prose=True)
    assert "U+001B" in text_problem("\x1b[2J", prose=True)


def test_every_offending_field_is_named_by_its_path():
    req = intake_pb2.SubmitCaseRequest(
        client_request_id="ok-1",
        patient=intake_pb2.Patient(given_name="Ada\x1b", family_name="Love\nlace"),
        proposed_treatment="Lumpectomy.\nThen radiotherapy.",  # prose: line breaks are fine
        language="en\u202e",
    )
    fields = [f for f, _ in text_violations(req)]
    assert fields == ["patient.given_name", "patient.family_name", "language"]


def test_prose_fields_are_declared_in_the_contracts():
    opinion = review_pb2.SubmitOpinionRequest(
        assignment_id="a\n1", opinion=review_pb2.Opinion(narrative="Para one.\n\nPara two.", recommendation="Do X.\n"))
    assert [f for f, _ in text_violations(opinion)] == ["assignment_id"]
