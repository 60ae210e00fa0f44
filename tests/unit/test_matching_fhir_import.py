"""Importing a directory from a FHIR R4 Bundle of Practitioner, PractitionerRole and
Organization resources: read into the API's message as a CSV row is, checked as
UpsertSpecialist checks one; what cannot be read named by its FHIRPath."""

from __future__ import annotations

import json
from datetime import date

from secondlook import directorygen
from services.matching import reference
from services.matching.domain.fhirimport import (
    NOTICE_LANGUAGE_EXT,
    NPI_SYSTEM,
    NUCC_SYSTEM,
    QUALIFICATION_EXT,
    read_fhir,
    write_fhir,
)
from services.matching.domain.registration import validate_specialist
from services.matching.specialistdoc import specialist_from_doc

TODAY = date(2026, 11, 27)


def test_a_generated_directory_survives_the_round_trip_through_fhir():
    entries = list(directorygen.specialists(120, seed=9, today=TODAY))
    rows, problems = read_fhir(json.dumps(write_fhir(entries)))
    assert problems == [] and len(rows) == 120
    for (where, msg), entry in zip(rows, entries, strict=True):
        entity, violations = validate_specialist(msg, reference.taxonomy())
        assert violations == [], (where, violations)
        # What FHIR has no place for is the directory's own: the rest is carried whole.
        expected = specialist_from_doc({**entry, "_id": entry["specialist_id"], "focus": [],
                                        "declared_conflicts": [], "case_kinds": ["SECOND_OPINION"]})
        assert entity == expected, where
    assert rows[0][0] == f"Bundle.entry[0](Practitioner/{entries[0]['specialist_id']})"
    # Saved by an editor that opens the file with a byte-order mark: the same directory.
    assert read_fhir("\ufeff" + json.dumps(write_fhir(entries))) == (rows, [])


def _plan_net_bundle() -> dict:
    """Shaped as Da Vinci PDex Plan-Net publishes a directory (references by Type/id, a
    licence valid in Illinois, a board certification coded in NUCC)."""
    practitioner = {
        "resourceType": "Practitioner", "id": "susie-smith",
        "identifier": [{"system": NPI_SYSTEM, "value": "1234567893"}],
        "name": [{"family": "Smith", "given": ["Susie"], "prefix": ["Dr."]}],
        "communication": [{"coding": [{"system": "urn:ietf:bcp:47", "code": "ru"}]},
                          {"coding": [{"system": "urn:ietf:bcp:47", "code": "en-US"}]}],
        "qualification": [
            {"code": {"text": "Physician licence"}, "issuer": {"display": "State of Illinois"},
             "period": {"start": "2015-01-01", "end": "2099-12-31"},
             "extension": [{"url": QUALIFICATION_EXT, "extension": [
                 {"url": "status", "valueCode": "active"},
                 {"url": "whereValid", "valueCodeableConcept": {"coding": [
                     {"system": "https://www.usps.com/", "code": "IL"}]}}]}]},
            {"code": {"coding": [{"system": NUCC_SYSTEM, "code": "207RX0202X"}], "text": "Medical Oncology"},
             "issuer": {"display": "ABIM"}, "period": {"end": "2099-06-30"}},
        ],
    }
    role = {"resourceType": "PractitionerRole", "id": "susie-at-acme", "active": True,
            "practitioner": {"reference": "Practitioner/susie-smith"},
            "organization": {"reference": "Organization/acme"},
            "specialty": [{"coding": [{"system": NUCC_SYSTEM, "code": "207RX0202X"},
                                      {"system": "http://snomed.info/sct", "code": "394593009"}]}],
            "notAvailable": [{"description": "Sabbatical", "during": {"start": "2099-01-01", "end": "2099-02-01"}}]}
    org = {"resourceType": "Organization", "id": "acme", "name": "Acme Cancer Institute",
           "identifier": [{"system": NPI_SYSTEM, "value": "1316000003"}]}
    return {"resourceType": "Bundle", "type": "searchset",
            "entry": [{"resource": practitioner}, {"resource": role}, {"resource": org}]}


def test_a_plan_net_directory_maps_to_a_specialist():
    [(where, msg)], problems = read_fhir(json.dumps(_plan_net_bundle()))
    assert problems == [] and where == "Bundle.entry[0](Practitioner/susie-smith)"
    entity, violations = validate_specialist(msg, reference.taxonomy())
    assert violations == []
    assert (entity.specialist_id, entity.npi, entity.display_name) == ("susie-smith", "1234567893", "Dr. Susie Smith")
    assert [(licence.jurisdiction, licence.expires) for licence in entity.licences] == [("US-IL", date(2099, 12, 31))]
    assert [(c.board, c.specialty) for c in entity.certifications] == [("ABIM", "207RX0202X")]
    assert entity.specialties == ("207RX0202X",)  # the SNOMED coding is not a NUCC code: not read
    assert entity.languages == frozenset({"ru", "en-US"})
    assert [(a.organization_id, a.name, a.npi) for a in entity.affiliations] == [
        ("acme", "Acme Cancer Institute", "1316000003")]
    assert [(a.first, a.last) for a in entity.out_of_office] == [(date(2099, 1, 1), date(2099, 2, 1))]
    assert entity.capacity == 5 and entity.accepting  # no capacity extension: the documented default


def test_a_board_certification_carrying_plan_nets_qualification_extension_stays_a_certification():
    # As the IG's own example practitioners have it: every qualification, the board
    # certifications too, carries status and whereValid.
    bundle = _plan_net_bundle()
    qualifications = bundle["entry"][0]["resource"]["qualification"]
    where_valid = qualifications[0]["extension"]
    qualifications[1]["extension"] = where_valid
    qualifications.append({"code": {"coding": [{"system": NUCC_SYSTEM, "code": "207RC0000X"}]},
                           "issuer": {"display": "ABIM"}, "period": {"end": "2099-06-30"}, "extension": where_valid})
    qualifications.append(dict(qualifications[0]))  # listed twice: one licence
    qualifications.append({**qualifications[1], "extension": [{"url": QUALIFICATION_EXT, "extension": [
        {"url": "status", "valueCode": "inactive"}]}]})  # lapsed: not held
    [(_, msg)], problems = read_fhir(json.dumps(bundle))
    entity, violations = validate_specialist(msg, reference.taxonomy())
    assert problems == [] and violations == []
    assert [licence.jurisdiction for licence in entity.licences] == ["US-IL"]
    assert [(c.board, c.specialty) for c in entity.certifications] == [("ABIM", "207RX0202X"), ("ABIM", "207RC0000X")]


def test_a_role_whose_practitioner_is_contained_in_it_is_refused_not_dropped():
    bundle = _plan_net_bundle()
    role = bundle["entry"][1]["resource"]
    role["contained"] = [{"resourceType": "Practitioner", "id": "px"}]
    role["practitioner"] = {"reference": "#px"}
    _, problems = read_fhir(json.dumps(bundle))
    assert ("Bundle.entry[1].resource.practitioner", "must reference a Practitioner entry of the bundle") in problems


def test_a_roles_contained_organization_is_its_affiliation():
    bundle = _plan_net_bundle()
    role = bundle["entry"][1]["resource"]
    role["contained"] = [{"resourceType": "Organization", "id": "org1", "name": "Lakeside Clinic"}]
    role["organization"] = {"reference": "#org1"}
    [(_, msg)], problems = read_fhir(json.dumps(bundle))
    assert problems == [] and [(a.organization_id, a.name) for a in msg.affiliations] == [("org1", "Lakeside Clinic")]


def test_what_cannot_be_read_is_named_by_its_fhirpath_and_the_rules_by_entry_and_field():
    bundle = _plan_net_bundle()
    bundle["entry"][1]["resource"]["practitioner"]["reference"] = "Practitioner/nobody"
    bundle["entry"].append({"resource": {"resourceType": "Patient", "id": "p1"}})
    bundle["entry"][0]["resource"]["extension"] = [
        {"url": "https://secondlook.example/fhir/StructureDefinition/review-capacity", "valueDecimal": 2.5}]
    del bundle["entry"][0]["resource"]["identifier"]
    [(where, msg)], problems = read_fhir(json.dumps(bundle))
    assert set(problems) == {
        ("Bundle.entry[1].resource.practitioner", "must reference a Practitioner entry of the bundle"),
        ("Bundle.entry[3].resource.resourceType", "Patient is not part of a directory: Practitioner, "
                                                  "PractitionerRole and Organization are read (and Endpoint, "
                                                  "HealthcareService, InsurancePlan, Location, OperationOutcome, "
                                                  "OrganizationAffiliation passed over)"),
        ("Bundle.entry[0].resource.extension('https://secondlook.example/fhir/StructureDefinition/review-capacity')"
         ".valueInteger", "must be an integer"),
    }
    _, violations = validate_specialist(msg, reference.taxonomy())
    assert {path for path, _ in violations} >= {"npi", "specialties"}  # no NPI; no role: no specialty


def test_odd_bodies_are_refused_never_with_an_error():
    for body, expected in (("", "Bundle"), ("[]", "Bundle"), ('{"resourceType": "Practitioner"}', "Bundle.resourceType"),
                           ('{"resourceType": "Bundle", "type": "collection"}', "Bundle.entry"),
                           ('{"resourceType": "Bundle", "type": "collection", "entry": [{"resource": '
                            '{"resourceType": "Practitioner", "birthDate": "yesterday"}}]}',
                            "Bundle.entry[0].resource.birthDate")):
        rows, problems = read_fhir(body)
        assert rows == [] and problems and problems[0][0] == expected, (body, problems)


def test_real_world_shapes_are_read_as_a_directory_engineer_means_them():
    bundle = _plan_net_bundle()
    practitioner = bundle["entry"][0]["resource"]
    dar = {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "masked"}]}
    practitioner["name"] = [{"use": "old", "family": "Jones", "given": ["Susie"]},
                            {"use": "official", "family": "Smith", "given": [None, "Susie"], "_given": [dar, None]}]
    licence, board = practitioner["qualification"]
    del licence["period"]  # Plan-Net's sample data dates the licence's identifier instead
    licence["identifier"] = [{"value": "036-000001", "period": {"end": "2099-06"}}]
    revoked = json.loads(json.dumps(licence))
    revoked["extension"][0]["extension"][0]["valueCode"] = "inactive"
    revoked["extension"][0]["extension"][1]["valueCodeableConcept"]["coding"][0]["code"] = "NY"
    canada = json.loads(json.dumps(licence))
    canada["extension"][0]["extension"][1]["valueCodeableConcept"]["coding"][0] = {
        "system": "urn:iso:std:iso:3166", "code": "CA"}
    board["period"]["end"] = "2099"
    practitioner["qualification"] = [licence, revoked, canada, board]
    bundle["entry"][1]["resource"]["notAvailable"] = [{"description": "Leave", "during": {"start": "2099-03-01"}}]
    bundle["entry"].append({"resource": {"resourceType": "Location", "id": "clinic"}})  # a search's _include
    [(_, msg)], problems = read_fhir(json.dumps(bundle))
    assert problems == []
    assert msg.display_name == "Susie Smith"  # the official name; the masked given name left out
    assert [(x.jurisdiction, x.expires) for x in msg.licences] == [("US-IL", "2099-06-30"), ("CA", "2099-06-30")]
    assert [c.expires for c in msg.certifications] == ["2099-12-31"]
    assert [(a.first, a.last) for a in msg.out_of_office] == [("2099-03-01", "9999-12-31")]
    _, violations = validate_specialist(msg, reference.taxonomy())
    assert [path for path, _ in violations] == ["licences[1].jurisdiction"]  # Canada is no US subdivision


def test_what_would_change_the_meaning_is_refused():
    bundle = _plan_net_bundle()
    practitioner = bundle["entry"][0]["resource"]
    practitioner["qualification"][0]["modifierExtension"] = [{"url": "https://example.org/negated",
                                                              "valueBoolean": True}]
    url = "https://secondlook.example/fhir/StructureDefinition/review-capacity"
    practitioner["extension"] = [{"url": url, "valueInteger": 1}, {"url": url, "valueInteger": 900}]
    bundle["entry"][2]["resource"]["modifierExtension"] = [{"url": "https://example.org/x", "valueBoolean": True}]
    _, problems = read_fhir(json.dumps(bundle))
    assert {path for path, _ in problems} == {
        "Bundle.entry[0].resource.qualification[0].modifierExtension", f"Bundle.entry[0].resource.extension('{url}')",
        "Bundle.entry[2].resource.modifierExtension"}


def test_contact_details_come_from_telecom_and_the_notice_language_from_its_extension():
    bundle = _plan_net_bundle()
    practitioner, role = bundle["entry"][0]["resource"], bundle["entry"][1]["resource"]
    practitioner["telecom"] = [
        {"system": "email", "value": "susie@old.example", "use": "old"},  # no longer in use
        {"system": "email", "value": "susie@home.example", "use": "home"},
        {"system": "phone", "value": "+13125550100", "use": "work"},  # an office line: no texts
    ]
    role["telecom"] = [{"system": "email", "value": "s.smith@acme.example", "use": "work", "rank": 2},
                       {"system": "email", "value": "oncology@acme.example", "use": "work", "rank": 1},
                       {"system": "phone", "value": "+1 415 555 2671", "use": "mobile"}]
    practitioner["extension"] = [{"url": NOTICE_LANGUAGE_EXT, "valueCode": "en-us"}]
    [(_, msg)], problems = read_fhir(json.dumps(bundle))
    assert problems == []
    entity, violations = validate_specialist(msg, reference.taxonomy())
    assert violations == []
    assert (entity.email, entity.phone, entity.notice_language) == ("oncology@acme.example", "+14155552671", "en-US")
    role["telecom"] = [{"system": "sms", "value": "+14155550199"}, *role["telecom"]]  # sms before a mobile
    practitioner["extension"] = [{"url": NOTICE_LANGUAGE_EXT, "valueCode": "en"}] * 2
    [(_, msg)], problems = read_fhir(json.dumps(bundle))
    assert msg.phone == "+14155550199"
    assert problems == [(f"Bundle.entry[0].resource.extension('{NOTICE_LANGUAGE_EXT}')", "must appear at most once")]
    del practitioner["telecom"], role["telecom"], practitioner["extension"]
    [(_, msg)], _ = read_fhir(json.dumps(bundle))
    assert (msg.email, msg.phone, msg.notice_language) == ("", "", "")  # all optional


def test_plan_net_as_its_first_examples_and_time_unlimited_certificates_have_it():
    bundle = _plan_net_bundle()
    qualifications = bundle["entry"][0]["resource"]["qualification"]
    qualifications[0]["extension"][0]["url"] = (  # VHDir's URL, as Practitioner-practitioner1 carries it
        "http://hl7.org/fhir/uv/vhdir/StructureDefinition/practitioner-qualification")
    del qualifications[1]["period"]  # a board certificate issued without an end
    [(_, msg)], problems = read_fhir(json.dumps(bundle))
    entity, violations = validate_specialist(msg, reference.taxonomy())
    assert problems == [] and violations == []
    assert [licence.jurisdiction for licence in entity.licences] == ["US-IL"]
    assert [(c.specialty, c.expires) for c in entity.certifications] == [("207RX0202X", date(9999, 12, 31))]


def test_a_licence_that_does_not_say_when_it_ends_is_named_at_its_qualification():
    bundle = _plan_net_bundle()
    del bundle["entry"][0]["resource"]["qualification"][0]["period"]
    [(_, msg)], problems = read_fhir(json.dumps(bundle))
    assert [path for path, _ in problems] == ["Bundle.entry[0].resource.qualification[0].period.end"]
    assert not msg.licences


def test_certifications_differing_only_in_case_are_one():
    bundle = _plan_net_bundle()
    qualifications = bundle["entry"][0]["resource"]["qualification"]
    lower = json.loads(json.dumps(qualifications[1]))
    lower["code"]["coding"][0]["code"] = "207rx0202x"
    qualifications.append(lower)
    [(_, msg)], problems = read_fhir(json.dumps(bundle))
    assert problems == [] and [c.specialty for c in msg.certifications] == ["207RX0202X"]
