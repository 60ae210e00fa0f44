"""ListCases' request rules and page tokens."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from secondlook.v1 import case_pb2, intake_pb2
from services.intake.domain.listing import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, page_token, parse_query

READABLE = frozenset({"t1"})
T = datetime(2026, 11, 27, 10, 0, 0, 250000, tzinfo=timezone.utc)


def _request(**fields) -> intake_pb2.ListCasesRequest:
    req = intake_pb2.ListCasesRequest(**{k: v for k, v in fields.items() if k not in ("after", "before")})
    if "after" in fields:
        req.submitted_after.FromDatetime(fields["after"])
    if "before" in fields:
        req.submitted_before.FromDatetime(fields["before"])
    return req


def test_defaults_list_the_callers_tenants_a_page_of_fifty_summaries():
    query, violations = parse_query(_request(), frozenset({"t2", "t1"}))
    assert violations == []
    assert (query.tenants, query.page_size, query.full, query.after) == (("t1", "t2"), DEFAULT_PAGE_SIZE, False, None)
    assert parse_query(_request(page_size=10_000), READABLE)[0].page_size == MAX_PAGE_SIZE


@pytest.mark.parametrize("fields, path", [
    ({"tenant_id": "t2"}, "tenant_id"),
    ({"statuses": [case_pb2.CASE_STATUS_UNSPECIFIED]}, "statuses"),
    ({"statuses": [99]}, "statuses"),
    ({"kinds": [7]}, "kinds"),
    ({"urgencies": [5]}, "urgencies"),
    ({"page_size": -1}, "page_size"),
    ({"view": 9}, "view"),
    ({"after": T, "before": T}, "submitted_before"),
    ({"page_token": "not-a-token"}, "page_token"),
    ({"page_token": "eyJ2IjoxfQ"}, "page_token"),  # valid base64 JSON, no cursor in it
])
def test_each_rule_names_its_field(fields, path):
    query, violations = parse_query(_request(**fields), READABLE)
    assert query is None and [f for f, _ in violations] == [path]


def test_a_page_token_reads_back_only_with_the_filters_it_was_given_for():
    first, _ = parse_query(_request(statuses=[case_pb2.CASE_STATUS_DELIVERED]), READABLE)
    token = page_token(first, T, "case-9")
    again, violations = parse_query(_request(statuses=[case_pb2.CASE_STATUS_DELIVERED], page_token=token), READABLE)
    assert violations == [] and (again.after.submitted_at, again.after.case_id) == (T, "case-9")
    _, violations = parse_query(_request(statuses=[case_pb2.CASE_STATUS_SUBMITTED], page_token=token), READABLE)
    assert [f for f, _ in violations] == ["page_token"]
    _, violations = parse_query(_request(statuses=[case_pb2.CASE_STATUS_DELIVERED], page_token=token,
                                         view=intake_pb2.CASE_VIEW_FULL), READABLE)
    assert [f for f, _ in violations] == ["page_token"]


def test_a_patient_identifier_needs_both_parts_and_its_tokens_carry_no_trace_of_the_number():
    _, violations = parse_query(intake_pb2.ListCasesRequest(patient_identifier=intake_pb2.Identifier(value="1")),
                                frozenset({"t1"}))
    assert [f for f, _ in violations] == ["patient_identifier.system"]
    _, violations = parse_query(intake_pb2.ListCasesRequest(
        patient_identifier=intake_pb2.Identifier(system="https://h.example.org/mrn", value="x" * 201)),
        frozenset({"t1"}))
    assert [f for f, _ in violations] == ["patient_identifier.value"]
    queries = [parse_query(intake_pb2.ListCasesRequest(patient_identifier=intake_pb2.Identifier(
        system="https://h.example.org/mrn", value=mrn)), frozenset({"t1"}))[0] for mrn in ("MRN-1", "MRN-2")]
    assert queries[0].patient == ("https://h.example.org/mrn", "MRN-1")
    assert queries[0].fingerprint() == queries[1].fingerprint()  # a flag, not a hash of the number
    assert queries[0].fingerprint() != parse_query(intake_pb2.ListCasesRequest(), frozenset({"t1"}))[0].fingerprint()
