"""The gRPC edge's rules: lists of a bounded length; printable text everywhere, tabs and line
breaks in prose; a refusal that fits in a client's trailers."""

import base64
import urllib.parse

import pytest
from google.rpc import error_details_pb2, status_pb2

from secondlook.edge import MAX_ENTRIES, nfc, size_violations, text_problem, text_violations
from secondlook.errors import field_violations
from secondlook.v1 import intake_pb2, matching_pb2, review_pb2


@pytest.mark.parametrize("value", [
    "Ada\x00", "\x1b[31mred", "caf\x85e", "x\x7f", "line\nbreak", "tab\there",
    "abc\u202edcba", "\u2066isolate\u2069", "zero\u200bwidth", "\ue000private", "\ufffe",
    # A joiner anywhere but between two visible characters.
    "\u200c", "\u200cReza", "Reza\u200d", "Mohammad \u200cReza", "a\u200c\u200cb", "a\u200c\u200bb",
    "MRN-1002\u200d00", "1\u200c2", "acme-\u200dhealth", "acme\u200dhealth",  # ids that look alike
    "Mohammad\u200cReza", "h\u00f4\u200cpital", "u\u00e9\u200cx", "\u00e9\u200c\u0645",  # no Latin spelling needs one
])
def test_names_and_codes_are_printable_text_only(value):
    assert text_problem(value, prose=False) is not None


@pytest.mark.parametrize("value", ["Ada Lovelace", "Zoë O'Brien-Núñez", "李小龙", "Ελένη", "C50.911", "",
                                   "محمد\u200cرضا", "می\u200cخواهم", "क्\u200dष"])  # joiners inside words
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


def test_a_list_longer_than_any_request_needs_is_refused_by_its_path_before_its_entries_are_read():
    req = intake_pb2.SubmitCaseRequest(client_request_id="long-1")
    for i in range(MAX_ENTRIES + 1):
        req.patient.identifiers.add(system="urn:oid:1.2", value=str(i), type="MR")
    req.secondary_diagnoses.add(code="\x1b")  # unread: the size refusal comes first
    assert size_violations(req) == [("patient.identifiers", f"must have at most {MAX_ENTRIES} entries")]
    del req.patient.identifiers[-1]
    assert size_violations(req) == []


def test_a_refusal_lists_what_fits_in_a_clients_trailers_and_says_how_many_more():
    violations = [(f"secondary_diagnoses[{i}].code", "Ü is not an ICD-10-CM code " + "x" * 60) for i in range(20_000)]
    status = field_violations(*violations)
    trailers = dict(status.trailing_metadata)
    details = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
    bad = error_details_pb2.BadRequest()
    assert details.details[0].Unpack(bad)
    listed = len(bad.field_violations)
    assert 5 <= listed <= 20 and bad.field_violations[0].field == "secondary_diagnoses[0].code"
    assert status.details.endswith(f"; and {20_000 - listed} more violations (correct these and send it again)")
    # What goes on the wire: the message percent-encoded past ASCII, the details base64.
    wire = len(urllib.parse.quote(status.details, safe=" ")) + len(base64.b64encode(details.SerializeToString()))
    assert wire < 8 * 1024
    few = field_violations(("a", "is required"), ("b", "is required"))
    assert few.details == "a: is required; b: is required"


def test_a_file_may_open_with_a_byte_order_mark_as_a_spreadsheets_export_does_and_nothing_else_may():
    assert text_violations(matching_pb2.ImportSpecialistsRequest(csv="\ufeffspecialist_id,npi\r\nx,1\r\n")) == []
    assert text_violations(matching_pb2.ImportSpecialistsRequest(fhir_bundle="\ufeff{}")) == []
    # Prose that is no file: an invisible character that `strip` keeps, so "required" would pass.
    refused = review_pb2.AmendOpinionRequest(assignment_id="a", reason="\ufeff")
    assert [f for f, _ in text_violations(refused)] == ["reason"]
    assert text_problem("\ufeffAda", prose=False) is not None
    assert "U+FEFF at position 3" in text_problem("abc\ufeffdef", prose=True, document=True)


def test_every_text_is_put_in_normal_form_c_where_it_stands():
    req = intake_pb2.SubmitCaseRequest(
        client_request_id="Zoe\u0301-1",
        patient=intake_pb2.Patient(given_name="Zoe\u0301", identifiers=[
            intake_pb2.Identifier(system="urn:x", value="MRN-Zoe\u0301")]),
        attachments=[intake_pb2.Attachment(title="Re\u0301sume\u0301")],
    )
    req.patient.other_given_names.append("Ame\u0301lie")
    assert text_violations(req) == []
    assert req.client_request_id == "Zo\u00e9-1" and req.patient.given_name == "Zo\u00e9"
    assert req.patient.identifiers[0].value == "MRN-Zo\u00e9" and req.patient.other_given_names[0] == "Am\u00e9lie"
    assert req.attachments[0].title == "R\u00e9sum\u00e9"
    assert nfc("plain") == "plain" and nfc("\u212b") == "\u00c5"  # the angstrom sign is the letter Å
