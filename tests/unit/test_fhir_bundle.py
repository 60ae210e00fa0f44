"""FHIR R4 bundles to SubmitCaseRequests: the mapping, and every refusal at the
FHIRPath of the element that caused it. The HL7 examples are in tests/data/fhir/."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome

from secondlook.v1 import case_pb2, intake_pb2
from services.intake.domain.submission import validate
from services.intake.fhir import responses
from services.intake.fhir import vocabulary as v
from services.intake.fhir.outcome import operation_outcome
from services.intake.fhir.submission import Refusal, explain, read_submission
from services.intake.fhir.translate import Translation

DATA = Path(__file__).parents[1] / "data" / "fhir"
SAMPLE = Path(__file__).parents[2] / "data" / "sample_bundle.fhir.json"
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
SR, PT, C1, C2, CP, ROLE, PR, ORG, D1, D2, CS = range(11)  # entries of data/sample_bundle.fhir.json


def _bundle() -> dict:
    return json.loads(SAMPLE.read_text())


def _read(bundle: dict | bytes) -> Translation | Refusal:
    return read_submission(bundle if isinstance(bundle, bytes) else json.dumps(bundle).encode(), NOW)


def _refused(bundle, status: int = 422) -> dict[str, tuple[str, str]]:
    """FHIRPath -> (issue code, diagnostics) of the refusal, which must have `status`."""
    result = _read(bundle)
    assert isinstance(result, Refusal), "the bundle was accepted"
    assert result.status == status, result.problems
    return {p.expression: (p.code, p.diagnostics) for p in result.problems}


def _res(bundle: dict, i: int) -> dict:
    return bundle["entry"][i]["resource"]


def test_the_hand_written_bundle_is_a_complete_valid_second_opinion_request():
    result = _read(_bundle())
    assert isinstance(result, Translation), getattr(result, "problems", None)
    req = result.request
    assert validate(req, NOW)[1] == []
    assert (req.client_request_id, req.kind, req.urgency) == (
        "fhir-breast-onc-001", case_pb2.CASE_KIND_SECOND_OPINION, case_pb2.URGENCY_EXPEDITED)
    assert (req.jurisdiction, req.language, req.diagnosis_code) == ("US-CA", "es", "C50.911")
    assert [d.code for d in req.secondary_diagnoses] == ["Z80.3"]
    p = req.patient
    assert (p.given_name, list(p.other_given_names), p.family_name, p.birth_date, p.sex) == (
        "Maria", ["Elena"], "Testperson", "1968-04-12", intake_pb2.ADMINISTRATIVE_SEX_FEMALE)
    assert [(i.system, i.type) for i in p.identifiers] == [("https://hospital.example.org/mrn", "MR")]
    assert (p.email, p.phone) == ("maria.testperson@example.org", "+14155550123")
    f = req.first_opinion
    assert (f.physician.npi, f.physician.family_name, f.organization.npi) == ("1234567893", "Synthcare", "1750000006")
    assert [(c.system, c.code) for c in f.proposed_treatment.codes] == [("CPT", "19301"), ("HCPCS", "J9000")]
    assert not f.HasField("diagnosis")  # the CarePlan addresses the primary Condition
    assert f.proposed_treatment.text and f.rationale and req.clinical_question
    assert [(a.media_type, a.size_bytes, a.sha256[:8]) for a in req.attachments] == [
        ("application/pdf", 184233, "6918fc79"), ("application/dicom", 52428800, "ca070d0e")]
    assert req.attachments[1].title == "Breast MRI"  # the document's description, the attachment has no title
    c = req.consent
    assert c.granted and c.scope == intake_pb2.CONSENT_SCOPE_SECOND_OPINION_REVIEW
    assert c.recorded_by == "coordinator@example.org" and c.granted_at.ToDatetime().year == 2025
    assert req.panel_requested and req.blind_review_requested


def test_relative_references_resolve_against_restful_full_urls_and_type_and_id():
    bundle = _bundle()
    urls = {e["fullUrl"]: f"https://ehr.example.org/fhir/{e['resource']['resourceType']}/e{i}"
            for i, e in enumerate(bundle["entry"])}
    text = json.dumps(bundle)
    for old, new in urls.items():
        text = text.replace(f'"{old}"', f'"{new.split("/fhir/")[1]}"')  # references become Type/id
    rewritten = json.loads(text)
    for i, entry in enumerate(rewritten["entry"]):
        entry["fullUrl"] = f"https://ehr.example.org/fhir/{entry['resource']['resourceType']}/e{i}"
    assert isinstance(_read(rewritten), Translation)
    for i, entry in enumerate(rewritten["entry"]):  # no fullUrl at all: the resource's own type and id
        del entry["fullUrl"]
        entry["resource"]["id"] = f"e{i}"
    assert isinstance(_read(rewritten), Translation)
    rewritten["entry"][PT]["resource"]["id"] = "elsewhere"
    assert _refused(rewritten)["Bundle.entry[0].resource.subject.reference"][0] == "not-found"


# --- the official HL7 examples -------------------------------------------------------
def _hl7(name: str) -> dict:
    return json.loads((DATA / "hl7-r4" / f"{name}.json").read_text())


def _official_bundle() -> dict:
    """The HL7 R4 examples as one transaction. What the examples do not say is
    added, and only that: the links of a second-opinion request (reasonReference,
    supportingInfo), the references that point at other example patients (xcda,
    f001) moved to Patient/example, and a CarePlan (hand-written: no HL7 example
    is a first opinion) authored by PractitionerRole/example."""
    sr, patient, condition = _hl7("servicerequest-example"), _hl7("patient-example"), _hl7("condition-example")
    role, practitioner = _hl7("practitionerrole-example"), _hl7("practitioner-example")
    organization, document, consent = (_hl7("organization-example-f001-burgers"), _hl7("documentreference-example"),
                                       _hl7("consent-example"))
    sr["reasonReference"] = [{"reference": "Condition/example"}]
    sr["supportingInfo"] = [{"reference": "CarePlan/first-opinion"}, {"reference": "DocumentReference/example"},
                            {"reference": "Consent/consent-example-basic"}]
    document["subject"] = {"reference": "Patient/example"}
    consent["patient"] = {"reference": "Patient/example"}
    careplan = {"resourceType": "CarePlan", "id": "first-opinion", "status": "active", "intent": "proposal",
                "subject": {"reference": "Patient/example"}, "author": {"reference": "PractitionerRole/example"},
                "addresses": [{"reference": "Condition/example"}], "description": "Debridement and dressing."}
    resources = [sr, patient, condition, careplan, role, practitioner, organization, document, consent]
    return {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": f"http://hl7.org/fhir/{r['resourceType']}/{r['id']}", "resource": r,
         "request": {"method": "POST", "url": r["resourceType"]}} for r in resources]}


def test_the_official_examples_parse_as_r4b_but_are_refused_with_each_reason_at_its_element():
    problems = _refused(_official_bundle())
    e = "Bundle.entry[{}].resource".format
    assert set(problems) == {
        f"{e(0)}.status",  # completed: not a request to act on
        f"{e(0)}.identifier",  # no identifier: no idempotency key
        f"{e(0)}.note",  # no clinical question
        f"{e(1)}.telecom[2].value",  # the mobile for texts, (03) 3410 5613: national, and no country to read it in
        f"{e(1)}.communication",  # no preferred language
        f"{e(1)}.address[0].country",  # Vic, but no country
        f"{e(2)}.code",  # SNOMED only: no ICD-10-CM
        f"{e(5)}.identifier",  # no NPI
        f"{e(7)}.content[0].attachment.url",  # http, not https
        f"{e(7)}.content[0].attachment.extension('{v.EXT_SHA256}')",  # only R4's SHA-1 hash
        f"{e(8)}.dateTime",  # 2016: older than five years
        f"{e(8)}.category",  # a consent to something else
        f"{e(8)}.performer",  # nobody recorded
    }
    assert problems[f"{e(2)}.code"][1].startswith("needs an ICD-10-CM coding")
    assert "E.164" in problems[f"{e(1)}.telecom[2].value"][1]
    assert problems[f"{e(1)}.address[0].country"][0] == "required"
    assert "3410" not in json.dumps(problems)  # the submitted number is not echoed


def test_the_official_examples_with_what_a_safe_case_needs_are_accepted():
    bundle = _official_bundle()
    sr, patient, condition, _, _, practitioner, _, document, consent = (_res(bundle, i) for i in range(9))
    sr.update(status="active", priority="routine", identifier=[{"value": "hl7-example-1"}],
              note=[{"text": "Is surgery needed?"}])
    patient["telecom"][1]["value"] = "+61355556473"
    patient["communication"] = [{"language": {"coding": [{"system": v.BCP47, "code": "en-AU"}]}, "preferred": True}]
    patient["address"][0]["country"] = "AU"
    condition["code"]["coding"].append({"system": v.ICD10CM, "code": "T20.02XA"})
    practitioner["identifier"].append({"system": v.NPI, "value": "1234567893"})
    attachment = document["content"][0]["attachment"]
    attachment["url"] = attachment["url"].replace("http:", "https:")
    attachment["extension"] = [{"url": v.EXT_SHA256, "valueString": "ab" * 32}]
    consent.update(dateTime="2025-12-01", performer=[{"display": "Coordinator"}],
                   category=[{"coding": [{"system": v.CONSENT_CATEGORY, "code": v.SECOND_OPINION_REVIEW}]}])
    result = _read(bundle)
    assert isinstance(result, Translation), getattr(result, "problems", None)
    assert validate(result.request, NOW)[1] == []
    assert (result.request.jurisdiction, result.request.patient.identifiers[0].type) == ("AU-VIC", "MR")
    assert result.request.first_opinion.organization.name == "Burgers University Medical Center"


# --- refusals ------------------------------------------------------------------------
@pytest.mark.parametrize("body", [b"", b"{", b"not json", b"\xff\xfe", b"[1, 2]", b'"Bundle"', b"NaN",
                                  b'{"resourceType": "Bundle", "total": Infinity}', b"[" * 100_000])
def test_a_body_that_is_not_a_json_resource_is_a_400_at_the_bundle(body):
    problems = _refused(body, 400)
    assert set(problems) <= {"Bundle", "Bundle.resourceType"}
    assert all(code == "structure" for code, _ in problems.values())


@pytest.mark.parametrize("body, says", [
    (b"[" * 100_000, "nests deeper than"),
    (b'{"resourceType": "Bundle", "total": NaN}', "NaN is not a JSON number"),
    (b'{"resourceType": "Bundle", "total": ' + b"9" * 5000 + b"}", "too many digits"),
    (b"{", "is not JSON"),
])
def test_each_way_a_body_is_no_json_resource_is_named(body, says):
    assert says in _refused(body, 400)["Bundle"][1]


def test_a_key_given_twice_in_one_object_is_refused_at_its_path_never_read_as_the_last():
    text = json.dumps(_bundle())
    family = '"family": '
    at = text.index(family)
    twice = text[:at] + '"family": "EVIL", ' + text[at:]
    problems = _refused(twice.encode(), 400)
    [(path, (code, says))] = problems.items()
    assert path.startswith("Bundle.entry[") and path.endswith(".family") and code == "structure"
    assert "twice" in says
    assert set(_refused(b'{"resourceType": "Bundle", "type": "collection", "type": "transaction"}', 400)) == {
        "Bundle.type"}


def test_a_resource_that_is_not_a_bundle_is_a_400_at_its_resource_type():
    assert _refused(_hl7("patient-example"), 400) == {
        "Bundle.resourceType": ("structure", "must be Bundle: POST /fhir/Bundle takes a transaction Bundle")}


def test_a_wrong_or_unknown_resource_type_is_refused_at_its_path():
    bundle = _bundle()
    _res(bundle, PT)["resourceType"] = "Pateint"
    bundle["entry"][D1]["resource"]["contained"] = [{"resourceType": "HumanName", "id": "x"}]
    problems = _refused(bundle, 400)
    assert set(problems) == {"Bundle.entry[1].resource.resourceType",
                             "Bundle.entry[8].resource.contained[0].resourceType"}
    bundle = _bundle()
    bundle["entry"].append({"fullUrl": "urn:uuid:obs", "resource": {
        "resourceType": "Observation", "status": "final", "code": {"text": "x"}},
        "request": {"method": "POST", "url": "Observation"}})
    assert _refused(bundle)["Bundle.entry[11].resource.resourceType"][0] == "not-supported"


def test_model_errors_are_400_at_the_element_without_the_value():
    bundle = _bundle()
    _res(bundle, PT)["birthDate"] = "Maria-born-1968"
    _res(bundle, PT)["name"][0]["family"] = 1968
    _res(bundle, SR)["unknownElement"] = "Testperson"
    problems = _refused(bundle, 400)
    assert set(problems) == {"Bundle.entry[1].resource.birthDate", "Bundle.entry[1].resource.name[0].family",
                             "Bundle.entry[0].resource.unknownElement"}
    text = json.dumps(problems)
    assert "Maria" not in text and "1968" not in text and "Testperson" not in text and "input_value" not in text


def test_a_missing_referenced_resource_is_not_found_at_the_reference():
    bundle = _bundle()
    del bundle["entry"][CS]
    problems = _refused(bundle)
    assert problems["Bundle.entry[0].resource.supportingInfo[3].reference"][0] == "not-found"
    assert "Bundle.entry[0].resource.supportingInfo" in problems  # and so the case has no consent


def test_a_reference_to_the_wrong_type_or_to_another_patient_is_refused():
    bundle = _bundle()
    _res(bundle, SR)["subject"] = {"reference": bundle["entry"][C1]["fullUrl"]}
    assert _refused(bundle)["Bundle.entry[0].resource.subject.reference"] == (
        "invalid", "must reference a Patient, not a Condition")
    bundle = _bundle()
    other = copy.deepcopy(bundle["entry"][PT])
    other["fullUrl"] = "urn:uuid:another-patient"
    bundle["entry"].append(other)
    _res(bundle, D2)["subject"] = {"reference": "urn:uuid:another-patient"}
    assert _refused(bundle)["Bundle.entry[9].resource.subject.reference"][1].startswith(
        "must be the ServiceRequest's subject")


def test_the_bundle_must_be_one_transaction_request_with_every_entry_read():
    bundle = _bundle()
    bundle["type"] = "collection"
    bundle["entry"][ORG]["request"] = {"method": "DELETE", "url": "Organization/1"}
    bundle["entry"].append(copy.deepcopy(bundle["entry"][C2]) | {"fullUrl": "urn:uuid:unread"})
    problems = _refused(bundle)
    assert set(problems) == {"Bundle.type", "Bundle.entry[7].request", "Bundle.entry[11]"}
    bundle = _bundle()
    bundle["entry"].append(copy.deepcopy(bundle["entry"][SR]) | {"fullUrl": "urn:uuid:second-request"})
    assert set(_refused(bundle)) == {"Bundle.entry"}


def test_a_domain_rule_is_reported_at_the_element_the_field_came_from():
    bundle = _bundle()
    _res(bundle, PR)["identifier"][0]["value"] = "1234567890"  # check digit wrong
    _res(bundle, D1)["content"][0]["attachment"]["url"] = "ftp://records.example.org/x.pdf"
    _res(bundle, SR)["priority"] = "whenever"
    _res(bundle, PT)["address"][0]["state"] = "Atlantis"
    problems = _refused(bundle)
    assert set(problems) == {"Bundle.entry[6].resource.identifier[0].value",
                             "Bundle.entry[8].resource.content[0].attachment.url",
                             "Bundle.entry[0].resource.priority", "Bundle.entry[1].resource.address[0].state"}
    assert "Luhn" in problems["Bundle.entry[6].resource.identifier[0].value"][1]
    assert "https" in problems["Bundle.entry[8].resource.content[0].attachment.url"][1]


def test_text_checks_of_the_grpc_edge_apply_and_no_submitted_value_is_echoed():
    bundle = _bundle()
    patient = _res(bundle, PT)
    patient["name"][0]["given"][0] = "Ma\u202eria"
    patient["telecom"][0]["value"] = "maria.testperson@@example.org"
    patient["identifier"][0]["system"] = "hospital mrn Testperson"
    _res(bundle, SR)["identifier"][0]["value"] = "Maria Testperson 1968"
    problems = _refused(bundle)
    assert set(problems) == {"Bundle.entry[1].resource.name[0].given[0]", "Bundle.entry[1].resource.telecom[0].value",
                             "Bundle.entry[1].resource.identifier[0].system",
                             "Bundle.entry[0].resource.identifier[0].value"}
    assert "bidirectional" in problems["Bundle.entry[1].resource.name[0].given[0]"][1]
    text = json.dumps(problems)
    for value in ("Maria", "Testperson", "example.org", "1968"):
        assert value not in text
    bundle = _bundle()
    _res(bundle, C1)["code"]["coding"][0]["code"] = "2"  # one character is not quoted either
    translation = _read(bundle)  # (the domain's rules run as the submission is made)
    [problem] = explain(translation, validate(translation.request, NOW)[1])
    assert "'2'" not in problem.diagnostics and "the value is not an ICD-10-CM" in problem.diagnostics


# --- what answers --------------------------------------------------------------------
def test_an_operation_outcome_is_a_valid_r4_resource_with_the_fhirpath_of_each_issue():
    refusal = _read(b"{")
    outcome = operation_outcome(refusal.problems)
    assert OperationOutcome.model_validate(outcome).issue[0].expression == ["Bundle"]
    assert outcome["issue"][0]["severity"] == "error" and outcome["issue"][0]["code"] == "structure"


@pytest.mark.parametrize("status, fhir", [
    (case_pb2.CASE_STATUS_SUBMITTED, "active"), (case_pb2.CASE_STATUS_IN_REVIEW, "active"),
    (case_pb2.CASE_STATUS_NEEDS_INFO, "on-hold"), (case_pb2.CASE_STATUS_UNMATCHED, "on-hold"),
    (case_pb2.CASE_STATUS_DELIVERED, "completed"), (case_pb2.CASE_STATUS_CLOSED, "completed"),
    (case_pb2.CASE_STATUS_WITHDRAWN, "revoked"), (case_pb2.CASE_STATUS_UNSPECIFIED, "unknown")])
def test_every_case_status_reads_as_a_service_request_status(status, fhir):
    assert set(case_pb2.CaseStatus.values()) == set(responses.REQUEST_STATUS) | {case_pb2.CASE_STATUS_UNSPECIFIED}

    class Case:
        case_id, client_request_id, urgency = "c-1", "k-1", case_pb2.URGENCY_STANDARD
        client_request_system = ""
        submitted_at = updated_at = NOW
        timeline = ()

    Case.status = status
    resource = responses.service_request(Case)
    assert (resource["status"], resource["priority"], resource["extension"][0]["valueCode"]) == (
        fhir, "routine", case_pb2.CaseStatus.Name(status).removeprefix("CASE_STATUS_"))


def test_the_transaction_response_answers_each_entry_in_order():
    class Case:
        case_id, submitted_at, updated_at, timeline = "c-1", NOW, NOW, ("submitted",)

    bundle = _bundle()
    response = responses.transaction_response(bundle, Case, created=True)
    Bundle.model_validate(response)
    assert response["type"] == "transaction-response" and len(response["entry"]) == len(bundle["entry"])
    assert response["entry"][0]["response"]["location"] == "ServiceRequest/c-1/_history/1"
    assert response["entry"][0]["response"]["status"] == "201 Created"


def test_a_bundle_with_too_many_entries_is_refused_before_the_models_read_it():
    bundle = _bundle()
    bundle["entry"] = bundle["entry"] * 20
    read = _read(bundle)
    assert isinstance(read, Refusal) and read.status == 400
    assert [(p.expression, p.diagnostics) for p in read.problems] == [("Bundle.entry", "must have at most 200 entries")]


def test_the_referring_physicians_email_comes_from_the_role_before_the_practitioner():
    bundle = _bundle()
    _res(bundle, PR)["telecom"] = [{"system": "email", "value": "home.doctor@example.org"}]
    result = _read(bundle)
    assert isinstance(result, Translation), result.problems
    assert result.request.first_opinion.physician.email == "home.doctor@example.org"
    _res(bundle, ROLE)["telecom"] = [{"system": "phone", "value": "+14155550100"},
                                     {"system": "email", "value": "old@example.org", "use": "old"},
                                     {"system": "email", "value": "work.doctor@example.org"}]
    result = _read(bundle)
    assert result.request.first_opinion.physician.email == "work.doctor@example.org"
    # A wrong address is the domain's to refuse (as SubmitCase does), at the element it came from.
    _res(bundle, ROLE)["telecom"][2]["value"] = "work.doctor@@example.org"
    result = _read(bundle)
    _, violations = validate(result.request, NOW)
    assert [path for path, _ in violations] == ["first_opinion.physician.email"]
    assert result.locate("first_opinion.physician.email") == f"Bundle.entry[{ROLE}].resource.telecom[2].value"


def test_what_the_model_library_says_is_put_in_words_a_sender_can_act_on():
    bundle = _bundle()
    bundle["entry"][C1] = "a string where an entry goes"
    assert _refused(bundle, 400) == {f"Bundle.entry[{C1}]": ("structure", "must be a JSON object (a FHIR element)")}
    bundle = _bundle()
    _res(bundle, PT)["birthDate"] = "1968-13-45"
    code, said = _refused(bundle, 400)[f"Bundle.entry[{PT}].resource.birthDate"]
    assert said == "must be a FHIR date: YYYY, YYYY-MM or YYYY-MM-DD, a real calendar date"
    bundle = _bundle()
    bundle["entry"][PT]["resource"] = None
    refused = _refused(bundle)
    assert refused[f"Bundle.entry[{PT}].resource"][0] == "required"
    assert refused[f"Bundle.entry[{SR}].resource.subject.reference"] == (
        "invalid", "must reference a Patient, not an entry without a resource")


@pytest.mark.parametrize("telecom, phone", [
    # As US records keep them: no +1.
    ([{"system": "phone", "value": "(415) 555-0199", "use": "mobile"}], "+14155550199"),
    ([{"system": "phone", "value": "tel:+1-415-555-0199"}], "+14155550199"),
    # The point a text reaches: sms, a mobile, then an unlabelled phone, then home; never work or old.
    ([{"system": "phone", "value": "415-555-0100", "use": "work"},
      {"system": "phone", "value": "415-555-0101", "use": "home"},
      {"system": "phone", "value": "415-555-0102", "use": "mobile"}], "+14155550102"),
    ([{"system": "phone", "value": "415-555-0101", "use": "home"},
      {"system": "phone", "value": "415-555-0103"}], "+14155550103"),
    ([{"system": "phone", "value": "415-555-0101", "use": "home"}], "+14155550101"),
    ([{"system": "phone", "value": "415-555-0104", "use": "mobile", "rank": 2},
      {"system": "sms", "value": "415-555-0105"}], "+14155550105"),
    ([{"system": "phone", "value": "415-555-0100", "use": "work"},
      {"system": "phone", "value": "415-555-0106", "use": "old"}], ""),
])
def test_the_patients_phone_for_texts_is_chosen_and_read_as_dialled_in_their_country(telecom, phone):
    bundle = _bundle()
    _res(bundle, PT)["telecom"] = [{"system": "email", "value": "maria.testperson@example.org"}, *telecom]
    result = _read(bundle)
    assert isinstance(result, Translation), getattr(result, "problems", None)
    assert validate(result.request, NOW)[0].patient.phone == phone


@pytest.mark.parametrize("addresses, jurisdiction", [
    # An ended stay and an old address say nothing of where the patient lives now.
    ([{"use": "temp", "state": "TX", "country": "US", "period": {"end": "2020-01-01"}},
      {"state": "CA", "country": "US"}], "US-CA"),
    ([{"use": "old", "state": "TX", "country": "US"}, {"use": "work", "state": "NV", "country": "US"},
      {"state": "CA", "country": "US"}], "US-CA"),
    ([{"use": "billing", "state": "TX", "country": "US"}, {"use": "temp", "state": "AZ", "country": "US"}],
     "US-AZ"),
    ([{"use": "home", "state": "OR", "country": "US", "period": {"end": "2099"}}], "US-OR"),
    # A move not made yet: where they live is still the other.
    ([{"use": "home", "state": "NY", "country": "US", "period": {"start": "2030-01-01"}},
      {"use": "home", "state": "TX", "country": "US"}], "US-TX"),
    # Territories ISO 3166-1 also lists as countries, and spaces around a state.
    ([{"state": "PR", "country": "PR"}], "US-PR"),
    ([{"country": "GU"}], "US-GU"),
    ([{"state": " NY ", "country": "US"}], "US-NY"),
])
def test_the_jurisdiction_is_where_the_patient_lives_now(addresses, jurisdiction):
    bundle = _bundle()
    _res(bundle, PT)["address"] = addresses
    result = _read(bundle)
    assert isinstance(result, Translation), getattr(result, "problems", None)
    assert result.request.jurisdiction == jurisdiction


def test_a_patient_with_only_ended_addresses_is_refused_at_the_address():
    bundle = _bundle()
    _res(bundle, PT)["address"] = [{"use": "home", "state": "CA", "country": "US", "period": {"end": "2024-06"}}]
    code, says = _refused(bundle)[f"Bundle.entry[{PT}].resource.address"]
    assert code == "required" and "period not ended" in says


@pytest.mark.parametrize("cpt, hcpcs", [
    ("urn:oid:2.16.840.1.113883.6.12", "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"),
    ("http://www.ama-assn.org/go/cpt", "urn:oid:2.16.840.1.113883.6.285"),
])
def test_procedure_code_systems_are_read_by_their_other_names_too(cpt, hcpcs):
    bundle = _bundle()
    activity = _res(bundle, CP)["activity"]
    activity[0]["detail"]["code"]["coding"][0]["system"] = cpt
    activity[1]["detail"]["code"]["coding"][0]["system"] = hcpcs
    result = _read(bundle)
    assert isinstance(result, Translation), getattr(result, "problems", None)
    assert [(c.system, c.code) for c in result.request.first_opinion.proposed_treatment.codes] == [
        ("CPT", "19301"), ("HCPCS", "J9000")]


def test_a_contained_resource_is_read_where_its_container_refers_to_it():
    bundle = _bundle()
    practitioner = dict(_res(bundle, PR), id="p1")
    _res(bundle, ROLE)["contained"] = [practitioner]
    _res(bundle, ROLE)["practitioner"] = {"reference": "#p1"}
    del bundle["entry"][PR]
    result = _read(bundle)
    assert isinstance(result, Translation), getattr(result, "problems", None)
    assert result.request.first_opinion.physician.npi == "1234567893"
    _res(bundle, ROLE)["practitioner"] = {"reference": "#p2"}  # no such contained resource
    assert _refused(bundle)[f"Bundle.entry[{ROLE}].resource.practitioner.reference"][0] == "not-found"


def test_a_reference_nothing_is_read_through_may_point_outside_the_bundle():
    bundle = _bundle()
    _res(bundle, SR)["requester"] = {"reference": "https://ehr.example.org/fhir/Practitioner/999"}
    _res(bundle, SR)["performer"] = [{"reference": "Organization/elsewhere"}, {"display": "Tumour board"}]
    assert isinstance(_read(bundle), Translation)
    _res(bundle, SR)["requester"] = {"reference": bundle["entry"][ROLE]["fullUrl"]}
    _res(bundle, SR)["performer"] = [{"reference": bundle["entry"][CS]["fullUrl"]}]  # into the bundle: a Consent
    assert _refused(bundle)[f"Bundle.entry[{SR}].resource.performer[0].reference"][0] == "invalid"
    # A urn: or a contained reference can only mean this bundle: one to nothing is said.
    _res(bundle, SR)["performer"] = [{"reference": "urn:uuid:00000000-0000-4000-8000-000000000099"}, {"reference": "#x"}]
    problems = _refused(bundle)
    assert {f"Bundle.entry[{SR}].resource.performer[{i}].reference" for i in (0, 1)} <= set(problems)


def test_identifiers_no_longer_in_use_or_without_a_system_are_not_read_and_the_npi_oid_is_the_npi():
    bundle = _bundle()
    patient, practitioner = _res(bundle, PT), _res(bundle, PR)
    patient["identifier"] = [{"value": "LOCAL-7"}, {"use": "old", "system": "https://old.example.org/mrn",
                                                   "value": "OLD-1"}, *patient["identifier"]]
    practitioner["identifier"] = [{"use": "old", "system": "http://hl7.org/fhir/sid/us-npi", "value": "1245319599"},
                                  {"system": "urn:oid:2.16.840.1.113883.4.6", "value": "1234567893"}]
    result = _read(bundle)
    assert isinstance(result, Translation), getattr(result, "problems", None)
    assert [i.value for i in result.request.patient.identifiers] == ["MRN-100200"]
    assert result.request.first_opinion.physician.npi == "1234567893"
    assert result.sources["patient.identifiers[0].value"] == f"Bundle.entry[{PT}].resource.identifier[2].value"


def test_a_contained_record_of_another_patient_never_joins_the_case():
    bundle = _bundle()
    other = dict(_res(bundle, PT), id="b", name=[{"family": "Else", "given": ["Somebody"]}])
    record = dict(_res(bundle, D1), id="d", subject={"reference": "#b"})
    _res(bundle, SR)["contained"] = [other, record]
    _res(bundle, SR)["supportingInfo"].append({"reference": "#d"})
    problems = _refused(bundle)
    assert f"Bundle.entry[{SR}].resource.contained[1].subject.reference" in problems
    record["subject"] = {"reference": bundle["entry"][PT]["fullUrl"]}  # the case's own patient: accepted
    _res(bundle, SR)["contained"] = [record]
    result = _read(bundle)
    assert isinstance(result, Translation), getattr(result, "problems", None)
    assert len(result.request.attachments) == 3


def test_a_resource_with_more_contained_resources_than_records_have_is_refused_at_its_list():
    bundle = _bundle()
    _res(bundle, SR)["contained"] = [{"resourceType": "Patient", "id": f"a{i}"} for i in range(51)]
    _res(bundle, SR)["performer"] = [{"reference": "#a50"}] * 1000
    code, says = _refused(bundle)[f"Bundle.entry[{SR}].resource.contained"]
    assert code == "invalid" and "at most 50" in says


def test_a_record_or_another_patient_named_where_nothing_is_read_is_refused_not_dropped():
    bundle = _bundle()
    _res(bundle, CS)["performer"] = [{"reference": bundle["entry"][D2]["fullUrl"]}]  # a record, not a person
    assert f"Bundle.entry[{CS}].resource.performer[0].reference" in _refused(bundle)
    bundle = _bundle()
    other = {"fullUrl": "urn:uuid:5f0c1a2e-0000-4000-8000-000000000099",
             "resource": dict(_res(bundle, PT), name=[{"family": "Else", "given": ["Somebody"]}]),
             "request": {"method": "POST", "url": "Patient"}}
    bundle["entry"].append(other)
    _res(bundle, SR)["performer"] = [{"reference": other["fullUrl"]}]
    assert f"Bundle.entry[{SR}].resource.performer[0].reference" in _refused(bundle)


@pytest.mark.parametrize("ensure_ascii", [True, False])  # accents escaped (\u0301) or written as UTF-8
def test_texts_are_read_in_normal_form_c_however_the_sender_composed_them(ensure_ascii):
    bundle = _bundle()
    patient = _res(bundle, PT)
    patient["name"][0]["given"] = ["Zoe\u0301"]  # a list's strings
    patient["name"][0]["family"] = "Nun\u0303ez"  # a string
    result = _read(json.dumps(bundle, ensure_ascii=ensure_ascii).encode())
    assert isinstance(result, Translation), getattr(result, "problems", None)
    assert (result.request.patient.given_name, result.request.patient.family_name) == ("Zo\u00e9", "Nu\u00f1ez")


@pytest.mark.parametrize("where, element, value, says", [
    (PT, "birthDate", 946080000, "a JSON string"),  # epoch seconds: read as 1999-12-25 before
    (PT, "birthDate", 0, "a JSON string"),
    (PT, "active", "yes", "a JSON boolean"),
    (PT, "active", 1, "a JSON boolean"),
    (CS, "dateTime", 1764000000, "a JSON string"),
])
def test_an_element_of_another_json_type_is_refused_never_coerced(where, element, value, says):
    bundle = _bundle()
    _res(bundle, where)[element] = value
    code, rule = _refused(bundle, 400)[f"Bundle.entry[{where}].resource.{element}"]
    assert code == "structure" and rule.startswith(f"must be {says}")


def test_an_extensions_boolean_and_an_attachments_size_are_of_their_json_types():
    bundle = _bundle()
    _res(bundle, SR)["extension"][0]["valueBoolean"] = "yes"
    _res(bundle, D1)["content"][0]["attachment"]["size"] = True
    problems = _refused(bundle, 400)
    assert set(problems) == {f"Bundle.entry[{SR}].resource.extension[0].valueBoolean",
                             f"Bundle.entry[{D1}].resource.content[0].attachment.size"}


def test_no_priority_is_routine_and_icd_10_cm_is_read_by_its_oid_too():
    bundle = _bundle()
    _res(bundle, SR).pop("priority")
    _res(bundle, C1)["code"]["coding"][0]["system"] = "urn:oid:2.16.840.1.113883.6.90"
    result = _read(bundle)
    assert isinstance(result, Translation), getattr(result, "problems", None)
    assert result.request.urgency == case_pb2.URGENCY_STANDARD
    assert result.request.diagnosis_code == _res(_bundle(), C1)["code"]["coding"][0]["code"]


def test_a_consent_dated_today_where_it_was_given_is_not_in_the_future():
    evening = datetime(2026, 1, 1, 20, 0, tzinfo=timezone.utc)  # already the 2nd from Sydney eastwards
    bundle = _bundle()
    for dated, future in (("2026-01-02", False), ("2026-01-03", True)):
        _res(bundle, CS)["dateTime"] = dated
        result = read_submission(json.dumps(bundle).encode(), evening)
        assert isinstance(result, Translation), getattr(result, "problems", None)
        violations = validate(result.request, evening)[1]
        assert (("consent.granted_at", "must be a time in the last 5 years, not in the future") in violations) is future
    # a date alone is its first moment anywhere: 00:00 at UTC+14
    assert result.request.consent.granted_at.ToDatetime(tzinfo=timezone.utc) == datetime(2026, 1, 2, 10, 0,
                                                                                         tzinfo=timezone.utc)


@pytest.mark.parametrize("state", ["Québec", "quebec", "QC"])
def test_a_state_is_read_by_its_code_or_its_name_with_or_without_accents(state):
    bundle = _bundle()
    _res(bundle, PT)["address"] = [{"use": "home", "state": state, "country": "CA"}]
    result = _read(bundle)
    assert isinstance(result, Translation), getattr(result, "problems", None)
    assert result.request.jurisdiction == "CA-QC"


def test_an_empty_string_is_refused_never_read_as_absent():
    bundle = _bundle()
    _res(bundle, SR)["identifier"][0]["system"] = ""  # read as "no system" it would be another key
    problems = _refused(bundle, 400)
    assert problems[f"Bundle.entry[{SR}].resource.identifier[0].system"][1].startswith("must not be empty")
