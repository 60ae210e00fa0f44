"""Da Vinci PAS request bundles (the Inferno PAS test kit's, tests/data/fhir/pas) as
prior-authorization requests: conformant ones give the right items and diagnoses,
imperfect data is accepted where a decision can do without it (and said so), and a
bundle that breaks a rule is refused with each problem at its element."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path

import pytest

from secondlook.fhir.bundle import read_bundle
from services.intake.domain.priorauth import X12_SERVICE_TYPE
from services.intake.fhir.pas import translate_pas

DATA = Path(__file__).resolve().parents[1] / "data" / "fhir" / "pas"


def _load(name: str) -> dict:
    return json.loads((DATA / name).read_text())


def _translate(bundle: dict):
    read, problems = read_bundle(json.dumps(bundle).encode(), expected="a PAS request Bundle")
    assert problems == [], problems  # an R4 bundle: the profile rules are the platform's
    return translate_pas(read, today=date.today())


@pytest.mark.parametrize("name", ["conformant_pas_bundle_v110.json", "conformant_pas_bundle_v110_uuid.json"])
def test_a_conformant_request_becomes_a_prior_auth_request(name):
    done = _translate(_load(name))
    assert done.problems == []
    request = done.request
    assert request.submission_id == "A12345" and request.claim_identifier == "111099"
    assert request.diagnoses == ("G89.4",)
    [item] = request.items
    assert (item.sequence, item.system, item.code, item.quantity, item.unit, item.trace_number) == (
        1, X12_SERVICE_TYPE, "3", 1.0, "{visit}", "1122334")
    assert request.expedited  # level of service U (urgent), though priority is normal
    assert request.jurisdiction == "US-MA"  # no patient address: the Claim identifier's jurisdiction
    assert request.member_id == "12345678901"
    assert request.payer.name == "MARYLAND CAPITAL INSURANCE COMPANY"
    assert (request.payer.npi, request.payer.identifier) == ("", "789312")  # "NPI" of 6 digits: not one
    assert request.requesting_provider.name == "SUSAN WATSON" and request.requesting_provider.npi == ""
    assert request.requesting_organization.name == "DR. JOE SMITH CORPORATION"
    assert (request.patient_family_name, request.patient_given_names, request.patient_birth_date) == (
        "SMITH", ("JOE",), "")
    assert {path.rsplit(".identifier", 1)[0] for path, _ in done.notes} >= {"Bundle.entry[2].resource"}
    assert all("check digit" in note for _, note in done.notes)


def test_items_with_one_sequence_are_told_apart_by_their_trace_numbers():
    done = _translate(_load("conformant_pas_bundle_v110_multiple_items.json"))
    assert done.problems == []
    assert [(i.key, i.code) for i in done.request.items] == [("1:1122334", "3"), ("1:11223349", "3")]


def test_items_with_one_sequence_and_no_trace_numbers_are_refused():
    bundle = _load("conformant_pas_bundle_v110_multiple_items.json")
    for item in bundle["entry"][0]["resource"]["item"]:
        item["extension"] = [e for e in item["extension"] if not e["url"].endswith("itemTraceNumber")]
    done = _translate(bundle)
    assert done.request is None
    assert [p.expression for p in done.problems] == ["Bundle.entry[0].resource.item[0].sequence",
                                                     "Bundle.entry[0].resource.item[1].sequence"]


def test_a_missing_referenced_resource_is_named_and_nothing_comes_of_it():
    done = _translate(_load("missing_referenced_resource_request_bundle.json"))
    assert done.request is None
    assert [(p.expression, p.code) for p in done.problems] == [
        ("Bundle.entry[0].resource.careTeam[0].provider.reference", "not-found")]


def test_a_bundle_without_a_claim_is_refused():
    done = _translate(_load("nonconformant_pas_bundle_v110.json"))
    assert done.request is None
    assert [(p.expression, p.code) for p in done.problems] == [("Bundle.entry[0].resource", "required")]


def test_every_broken_rule_is_named_at_its_element():
    bundle = copy.deepcopy(_load("conformant_pas_bundle_v110.json"))
    bundle["type"] = "transaction"
    del bundle["identifier"]
    claim = bundle["entry"][0]["resource"]
    claim["use"] = "claim"
    claim["diagnosis"][0]["diagnosisCodeableConcept"]["coding"][0]["code"] = "Q99.99"
    claim["item"][0]["productOrService"] = {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "99"}]}
    claim["insurer"] = {"reference": "Organization/Nowhere"}
    bundle["entry"][3]["fullUrl"] = "Coverage/InsuranceExample"
    done = _translate(bundle)
    assert done.request is None
    found = {p.expression for p in done.problems}
    assert found >= {
        "Bundle.type", "Bundle.identifier.value", "Bundle.entry[3].fullUrl", "Bundle.entry[0].resource.use",
        "Bundle.entry[0].resource.diagnosis[0].diagnosisCodeableConcept.coding[0].code",
        "Bundle.entry[0].resource.item[0].productOrService.coding[0].code",
        "Bundle.entry[0].resource.insurer.reference"}, found
    assert all("Q99.99" not in p.diagnostics and "Nowhere" not in p.diagnostics for p in done.problems)


@pytest.mark.parametrize("system, code, name", [
    ("http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets", "J9355", "HCPCS"),  # THO's canonical URL
    ("urn:oid:2.16.840.1.113883.6.285", "J9355", "HCPCS"),
    ("urn:oid:2.16.840.1.113883.6.12", "96413", "CPT"),
    # HCPCS Level I is CPT: the IG's MedicalServicesAuthorizationBundleExample codes 99212 so.
    ("http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets", "99212", "CPT"),
    ("https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets", "j9355", "HCPCS"),  # one spelling
])
def test_a_requested_service_is_read_by_its_code_systems_other_names(system, code, name):
    bundle = _load("conformant_pas_bundle_v110.json")
    bundle["entry"][0]["resource"]["item"][0]["productOrService"] = {"coding": [{"system": system, "code": code}]}
    done = _translate(bundle)
    assert done.problems == [] and [(s.system, s.code) for s in done.request.items][:1] == [(name, code.upper())]


def test_a_diagnosis_is_read_by_the_icd_10_cm_oid_too():
    bundle = _load("conformant_pas_bundle_v110.json")
    coding = bundle["entry"][0]["resource"]["diagnosis"][0]["diagnosisCodeableConcept"]["coding"][0]
    coding["system"] = "urn:oid:2.16.840.1.113883.6.90"
    done = _translate(bundle)
    assert done.problems == [] and done.request.diagnoses == ("G89.4",)


def test_the_patients_address_in_use_decides_the_jurisdiction():
    bundle = _load("conformant_pas_bundle_v110.json")
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    patient["address"] = [{"use": "temp", "state": "TX", "period": {"end": "2020-01-01"}},
                          {"use": "billing", "state": "NJ"}, {"use": "home", "state": "NY"}]
    assert _translate(bundle).request.jurisdiction == "US-NY"
    for country, jurisdiction in (("PR", "US-PR"), ("Puerto Rico", "US-PR"), ("GUM", "US-GU")):
        patient["address"] = [{"country": country, "city": "x"}]  # a territory ISO 3166-1 lists as a country
        assert _translate(bundle).request.jurisdiction == jurisdiction, country


def test_a_member_id_no_longer_in_use_is_not_read():
    bundle = _load("conformant_pas_bundle_v110.json")
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    member = {"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MB"}]}}
    patient["identifier"] = [dict(member, use="old", value="OLD-111"), dict(member, value="NEW-222")]
    assert _translate(bundle).request.member_id == "NEW-222"


def test_a_contained_coverage_of_another_contained_patient_is_refused():
    bundle = _load("conformant_pas_bundle_v110.json")
    claim = bundle["entry"][0]["resource"]
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    coverage = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Coverage")
    claim["contained"] = [dict(patient, id="p"), dict(patient, id="q", name=[{"family": "Else"}]),
                          dict(coverage, id="cov", beneficiary={"reference": "#q"})]
    claim["patient"] = {"reference": "#p"}
    claim["insurance"][0]["coverage"] = {"reference": "#cov"}
    problems = {p.expression: p.diagnostics for p in _translate(bundle).problems}
    assert "another person" in problems["Bundle.entry[0].resource.contained[2].beneficiary.reference"]


def test_the_first_entry_must_be_the_claim():
    bundle = _load("conformant_pas_bundle_v110.json")
    bundle["entry"].append(bundle["entry"].pop(0))
    done = _translate(bundle)
    assert [(p.expression, p.code) for p in done.problems] == [("Bundle.entry[0].resource", "invalid")]


def test_a_patient_address_decides_the_jurisdiction_and_a_bad_state_is_named():
    bundle = _load("conformant_pas_bundle_v110.json")
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    patient["address"] = [{"state": "NY", "country": "US"}]
    assert _translate(bundle).request.jurisdiction == "US-NY"
    patient["address"] = [{"state": "Atlantis", "country": "US"}]
    [problem] = _translate(bundle).problems
    assert problem.expression.endswith(".address[0].state")


def _entry(bundle: dict, resource_type: str) -> dict:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type)


def test_a_coverage_of_another_person_is_refused():
    bundle = _load("conformant_pas_bundle_v110.json")
    other = copy.deepcopy(next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"))
    other["fullUrl"] = other["fullUrl"].replace("SubscriberExample", "SomeoneElse")
    other["resource"]["id"] = "SomeoneElse"
    bundle["entry"].append(other)
    _entry(bundle, "Coverage")["beneficiary"] = {"reference": "Patient/SomeoneElse"}
    assert [p.expression for p in _translate(bundle).problems] == [
        "Bundle.entry[3].resource.beneficiary.reference"]


def test_an_mrn_is_not_a_member_id_and_a_quantity_must_be_sane():
    bundle = _load("conformant_pas_bundle_v110.json")
    _entry(bundle, "Patient")["identifier"] = [{"system": "https://hospital.example/administrative-mrn",
                                                "value": "MRN-1"}]
    claim = bundle["entry"][0]["resource"]
    claim["item"][0]["quantity"] = {"value": -3}
    found = {p.expression for p in _translate(bundle).problems}
    assert found == {"Bundle.entry[4].resource.identifier", "Bundle.entry[0].resource.item[0].quantity.value"}
    _entry(bundle, "Patient")["identifier"][0]["type"] = {"coding": [{"code": "MB"}]}
    claim["item"][0]["quantity"] = {"value": 3, "code": "{visit}"}
    done = _translate(bundle)
    assert done.request.member_id == "MRN-1" and done.request.items[0].quantity == 3.0


def test_a_wrong_procedure_code_is_named_without_echoing_it_and_both_x12_urls_are_read():
    bundle = _load("conformant_pas_bundle_v110.json")
    item = bundle["entry"][0]["resource"]["item"][0]
    item["productOrService"]["coding"][0]["system"] = "https://codesystem.x12.org/005010/1365"
    assert _translate(bundle).request.items[0].code == "3"
    item["productOrService"] = {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "SMITH"}]}
    [problem] = _translate(bundle).problems
    assert problem.expression.endswith("productOrService.coding[0].code") and "SMITH" not in problem.diagnostics


def test_a_practitioner_name_with_a_missing_given_part_is_read_not_a_crash():
    bundle = _load("conformant_pas_bundle_v110.json")
    practitioner = _entry(bundle, "Practitioner")
    practitioner["name"] = [{"family": "WATSON", "given": [None], "_given": [{"extension": [
        {"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "unknown"}]}]}]
    assert _translate(bundle).request.requesting_provider.name == "WATSON"


@pytest.mark.parametrize("code", ["ABC", "3;", "\u202e3", "x" * 5000])
def test_an_x12_service_type_is_of_its_shape(code):
    bundle = _load("conformant_pas_bundle_v110.json")
    bundle["entry"][0]["resource"]["item"][0]["productOrService"]["coding"][0]["code"] = code
    found = _translate(bundle)
    assert found.request is None
    assert [p.expression for p in found.problems] == [
        "Bundle.entry[0].resource.item[0].productOrService.coding[0].code"]
    assert code not in found.problems[0].diagnostics


def test_diagnoses_are_at_most_eleven_and_none_repeats():
    bundle = _load("conformant_pas_bundle_v110.json")
    claim = bundle["entry"][0]["resource"]
    first = claim["diagnosis"][0]
    claim["diagnosis"] = [first, {**first, "sequence": 2}]
    found = _translate(bundle)
    assert [p.expression for p in found.problems] == [
        "Bundle.entry[0].resource.diagnosis[1].diagnosisCodeableConcept.coding[0].code"]
    claim["diagnosis"] = [first] * 12
    assert [p.expression for p in _translate(bundle).problems] == ["Bundle.entry[0].resource.diagnosis"]


def test_what_the_request_says_is_never_dropped_unread():
    """A second Claim, an extension of the IG's with a value of another type (an urgent
    request read as standard), and a Claim created in the future are refused."""
    bundle = _load("conformant_pas_bundle_v110.json")
    claim = bundle["entry"][0]["resource"]
    second = copy.deepcopy(bundle["entry"][0])
    second["fullUrl"] = "urn:uuid:5b1b3e1c-0d7f-4a55-9b1e-2f0d4f0e9a11"
    bundle["entry"].append(second)
    level = next(e for e in claim["extension"] if e["url"].endswith("extension-levelOfServiceCode"))
    level.pop("valueCodeableConcept")
    level["valueString"] = "U"
    trace = next(e for e in claim["item"][0]["extension"] if e["url"].endswith("extension-itemTraceNumber"))
    trace["valueString"] = trace.pop("valueIdentifier")["value"]
    claim["created"] = "2999-01-01T00:00:00Z"
    found = {p.expression: p.diagnostics for p in _translate(bundle).problems}
    n = len(bundle["entry"]) - 1
    assert f"Bundle.entry[{n}].resource" in found and "second Claim" in found[f"Bundle.entry[{n}].resource"]
    assert "Bundle.entry[0].resource.created" in found
    assert any(p.startswith("Bundle.entry[0].resource.extension[") and "valueCodeableConcept" in d
               for p, d in found.items())
    assert any(p.startswith("Bundle.entry[0].resource.item[0].extension[") and "valueIdentifier" in d
               for p, d in found.items())


def test_a_repeated_extension_and_a_claim_created_hours_ahead_are_refused():
    from datetime import datetime, timedelta, timezone

    bundle = _load("conformant_pas_bundle_v110.json")
    claim = bundle["entry"][0]["resource"]
    level = next(e for e in claim["extension"] if e["url"].endswith("extension-levelOfServiceCode"))
    claim["extension"].append(copy.deepcopy(level))  # standard, then urgent: one is left unread
    now = datetime(2026, 11, 28, 22, 0, tzinfo=timezone.utc)
    claim["created"] = (now + timedelta(hours=2)).isoformat()
    read, _ = read_bundle(json.dumps(bundle).encode(), expected="a PAS request Bundle")
    found = {p.expression: p.diagnostics for p in translate_pas(read, today=now.date(), now=now).problems}
    assert "Bundle.entry[0].resource.created" in found
    assert any("repeats" in d for p, d in found.items() if p.startswith("Bundle.entry[0].resource.extension["))
    claim["created"] = (now + timedelta(minutes=2)).isoformat()  # a clock a little ahead
    claim["extension"].pop()
    read, _ = read_bundle(json.dumps(bundle).encode(), expected="a PAS request Bundle")
    assert translate_pas(read, today=now.date(), now=now).problems == []


def test_a_claim_contained_in_the_claim_is_refused_not_left_unread():
    bundle = _load("conformant_pas_bundle_v110.json")
    claim = bundle["entry"][0]["resource"]
    inner = copy.deepcopy(claim)
    inner.pop("contained", None)
    inner["id"] = "inner"
    claim.setdefault("contained", []).append(inner)
    found = [p.expression for p in _translate(bundle).problems]
    assert any(p.startswith("Bundle.entry[0].resource.contained[") for p in found), found


@pytest.mark.parametrize("change, expression, says", [
    (lambda c: c["priority"]["coding"][0].update(code="urgent"), ".priority", "no processpriority code"),
    (lambda c: c["extension"][0]["valueCodeableConcept"]["coding"][0].update(code="ZZ"), ".extension",
     "no X12 1338 level"),
    (lambda c: c["item"][0]["extension"].append(copy.deepcopy(c["extension"][0])), ".item[0].extension",
     "read on the Claim"),
    (lambda c: c["item"][0].update(modifier=[{"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "50"}]}]),
     ".item[0].modifier", "not read in this version"),
])
def test_an_urgency_or_a_modifier_that_would_be_read_as_nothing_is_refused_at_its_element(change, expression, says):
    # An urgent request read as standard gets 7 days for 72 hours; a bilateral one reviewed as one side.
    bundle = _load("conformant_pas_bundle_v110.json")
    change(bundle["entry"][0]["resource"])
    done = _translate(bundle)
    assert done.request is None
    [problem] = done.problems
    assert problem.expression == "Bundle.entry[0].resource" + expression and says in problem.diagnostics


@pytest.mark.parametrize("priority, level, expedited", [("stat", "E", True), ("normal", "03", True),
                                                        ("normal", "E", False), ("deferred", "U", True)])
def test_every_known_priority_and_level_of_service_is_read(priority, level, expedited):
    bundle = _load("conformant_pas_bundle_v110.json")
    claim = bundle["entry"][0]["resource"]
    claim["priority"]["coding"][0]["code"] = priority
    claim["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] = level
    done = _translate(bundle)
    assert done.problems == [] and done.request.expedited is expedited


def _coverage_of(bundle: dict) -> dict:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Coverage")


@pytest.mark.parametrize("change, expression, says", [
    (lambda b: b["entry"][0]["resource"]["item"][0].update(diagnosisSequence=[5]),
     "Bundle.entry[0].resource.item[0].diagnosisSequence[0]", "points at none"),
    (lambda b: b["entry"][0]["resource"]["item"][0].update(careTeamSequence=[9]),
     "Bundle.entry[0].resource.item[0].careTeamSequence[0]", "points at none"),
    (lambda b: _coverage_of(b).update(status="cancelled"), ".status", "must be active"),
    (lambda b: b["meta"].update(profile=["http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"]),
     "Bundle.meta.profile", "PAS request Bundle profile"),
])
def test_a_reference_to_nothing_a_cancelled_coverage_and_another_profile_are_refused(change, expression, says):
    bundle = _load("conformant_pas_bundle_v110.json")
    change(bundle)
    done = _translate(bundle)
    assert done.request is None
    [problem] = done.problems
    assert problem.expression.endswith(expression) and says in problem.diagnostics


def test_a_bundle_naming_no_profile_or_a_versioned_pas_one_is_read():
    bundle = _load("conformant_pas_bundle_v110.json")
    bundle["meta"]["profile"] = [bundle["meta"]["profile"][0] + "|2.0.1"]
    assert _translate(bundle).problems == []
    del bundle["meta"]
    assert _translate(bundle).problems == []


def test_a_senders_own_coding_beside_the_bound_one_is_its_own_and_a_level_without_a_code_is_refused():
    bundle = _load("conformant_pas_bundle_v110.json")
    claim = bundle["entry"][0]["resource"]
    claim["priority"]["coding"].append({"system": "http://example.org/local", "code": "URG"})
    claim["extension"][0]["valueCodeableConcept"]["coding"].append({"system": "http://snomed.info/sct",
                                                                     "code": "103391001"})
    done = _translate(bundle)
    assert done.problems == [] and done.request.expedited
    claim["extension"][0]["valueCodeableConcept"] = {"text": "urgent"}  # words only: read as nothing, so refused
    [problem] = _translate(bundle).problems
    assert problem.expression.endswith(".extension") and "no X12 1338 level of service" in problem.diagnostics
