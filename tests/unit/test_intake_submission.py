from datetime import date

import pytest

from secondlook.dev import clients
from secondlook.v1 import case_pb2
from services.intake.domain.submission import normalise_icd10, validate

TODAY = date(2026, 11, 26)


def _request(**changes):
    req = clients.sample_cases()[0]
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
