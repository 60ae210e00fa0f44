from datetime import datetime, timedelta, timezone

import pytest

from devstack import clients
from secondlook.v1 import case_pb2
from services.intake.domain.submission import normalise_icd10, validate

TODAY = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)  # validation's `now`


def _request(**changes):
    req = clients.sample_cases()[0]
    req.consent.granted_at.FromDatetime(TODAY - timedelta(days=1))
    for path, value in changes.items():
        target = req
        *parents, leaf = path.split(".")
        for p in parents:
            target = getattr(target, p)
        setattr(target, leaf, value)
    return req


def test_a_complete_submission_is_valid_and_normalised():
    valid, violations = validate(_request(diagnosis_code="c50911"), TODAY)
    assert violations == []
    assert valid.diagnosis_code == "C50.911"


@pytest.mark.parametrize("changes, field, rule", [
    ({"client_request_id": ""}, "client_request_id", "required"),
    ({"client_request_id": "has spaces"}, "client_request_id", "characters"),
    ({"patient.given_name": " "}, "patient.given_name", "required"),
    ({"patient.birth_date": "12/04/1968"}, "patient.birth_date", "ISO 8601"),
    ({"patient.birth_date": "2030-01-01"}, "patient.birth_date", "past"),
    ({"diagnosis_code": "XYZ.1"}, "diagnosis_code", "ICD-10-CM"),
    ({"diagnosis_code": "C00-D49"}, "diagnosis_code", "ICD-10-CM"),
    ({"proposed_treatment": ""}, "proposed_treatment", "required"),
    ({"proposed_treatment": "x" * 4001}, "proposed_treatment", "4000"),
    ({"urgency": case_pb2.URGENCY_UNSPECIFIED}, "urgency", "URGENCY_STANDARD"),
    ({"jurisdiction": "CA"}, "jurisdiction", "ISO 3166-2"),
    ({"jurisdiction": "GB-ENG"}, "jurisdiction", "US"),
    ({"language": "spanish"}, "language", "BCP-47"),
    ({"consent.granted": False}, "consent.granted", "consent"),
])
def test_each_rule_names_its_field(changes, field, rule):
    valid, violations = validate(_request(**changes), TODAY)
    assert valid is None
    assert [f for f, _ in violations] == [field]
    assert rule in violations[0][1]


def test_every_violation_is_reported_at_once():
    req = _request(diagnosis_code="nope", language="", jurisdiction="")
    req.ClearField("patient")
    _, violations = validate(req, TODAY)
    assert {f for f, _ in violations} == {"patient", "diagnosis_code", "language", "jurisdiction"}


def test_icd10_normalisation():
    assert normalise_icd10("g35") == "G35"
    assert normalise_icd10("M5116") == "M51.16"
    assert normalise_icd10("Z99.999") is None


@pytest.mark.parametrize("given, stored", [("1970-01-31", "1970-01-31"), ("19700131", "1970-01-31")])
def test_birth_dates_are_stored_in_one_form(given, stored):
    valid, violations = validate(_request(**{"patient.birth_date": given}), TODAY)
    assert violations == []
    assert valid.birth_date == stored


@pytest.mark.parametrize("given", ["1970-W05-6", "1970-031", "1970-0131", "1970-02-30", "70-01-31", "1970-1-31"])
def test_other_date_forms_are_refused_not_guessed(given):
    _, violations = validate(_request(**{"patient.birth_date": given}), TODAY)
    assert [f for f, _ in violations] == ["patient.birth_date"]


@pytest.mark.parametrize("granted_at", [
    datetime(9999, 12, 31, tzinfo=timezone.utc),
    datetime(1, 1, 1, tzinfo=timezone.utc),
    TODAY + timedelta(hours=1),
    TODAY - timedelta(days=6 * 366),
])
def test_consent_times_must_be_plausible(granted_at):
    req = _request()
    req.consent.granted_at.FromDatetime(granted_at)
    _, violations = validate(req, TODAY)
    assert violations == [("consent.granted_at", "must be a time in the last 5 years, not in the future")]
