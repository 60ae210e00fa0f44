"""Every validation rule of a submission, each with an input that breaks it."""

from datetime import datetime, timedelta, timezone

import pytest

from devstack import clients
from secondlook.codes import normalise_icd10, npi_is_valid, procedure_code_problem
from secondlook.v1 import case_pb2, intake_pb2
from services.intake.domain.submission import validate

TODAY = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)  # validation's `now`
SHA = "ab" * 32


def _request(**changes):
    """The first sample case, with `changes` by dotted path ("a.b[0].c": value); a
    value of DELETE clears the field."""
    req = clients.sample_cases()[0]
    req.consent.granted_at.FromDatetime(TODAY - timedelta(days=1))
    for path, value in changes.items():
        target = req
        *parents, leaf = path.split(".")
        for p in parents:
            name, _, index = p.partition("[")
            target = getattr(target, name)
            if index:
                target = target[int(index.rstrip("]"))]
        if value is DELETE:
            target.ClearField(leaf)
        else:
            setattr(target, leaf, value)
    return req


DELETE = object()


def _violations(req):
    valid, violations = validate(req, TODAY)
    assert (valid is None) == bool(violations)
    return violations


def test_a_complete_submission_is_valid_and_normalised():
    req = _request(diagnosis_code="c50911", language="ES")
    req.attachments[0].sha256 = SHA.upper()
    req.attachments[0].media_type = "Application/PDF; charset=binary"
    valid, violations = validate(req, TODAY)
    assert violations == []
    assert valid.diagnosis.code == "C50.911" and valid.language == "es"
    assert valid.attachments[0].sha256 == SHA and valid.attachments[0].media_type == "application/pdf"
    assert valid.patient.mrns == (("https://hospital.example.org/mrn", "MRN-100200"),)
    assert valid.first_opinion.treatment_codes[0].code == "19303"
    assert valid.kind == case_pb2.CASE_KIND_SECOND_OPINION and valid.panel_requested and valid.blind_review_requested


RULES = [
    ({"client_request_id": ""}, "client_request_id", "required"),
    ({"client_request_id": "has spaces"}, "client_request_id", "characters"),
    ({"client_request_id": "pas:TX1"}, "client_request_id", "prior-authorization"),  # their keys
    ({"kind": case_pb2.CASE_KIND_PRIOR_AUTH}, "kind", "prior-authorization endpoint"),
    ({"kind": 7}, "kind", "CASE_KIND_SECOND_OPINION"),
    ({"patient": DELETE}, "patient", "required"),
    ({"patient.given_name": " ", "patient.family_name": ""}, "patient.family_name", "required"),
    ({"patient.family_name": "x" * 201}, "patient.family_name", "200"),
    ({"patient.birth_date": ""}, "patient.birth_date", "required"),
    ({"patient.birth_date": "12/04/1968"}, "patient.birth_date", "ISO 8601"),
    ({"patient.birth_date": "2030-01-01"}, "patient.birth_date", "past"),
    ({"patient.sex": 9}, "patient.sex", "ADMINISTRATIVE_SEX_"),
    ({"patient.identifiers[0].system": "hospital mrn"}, "patient.identifiers[0].system", "URI"),
    ({"patient.identifiers[0].value": ""}, "patient.identifiers[0].value", "required"),
    ({"patient.identifiers[0].type": "medical-record"}, "patient.identifiers[0].type", "HL7 v2"),
    ({"patient.email": "maria@"}, "patient.email", "e-mail"),
    ({"first_opinion.physician.email": "dr@@example.org"}, "first_opinion.physician.email", "e-mail"),
    ({"patient.phone": "555-0123"}, "patient.phone", "E.164"),  # no area code
    ({"patient.phone": "+1415555"}, "patient.phone", "E.164"),
    ({"diagnosis_code": ""}, "diagnosis_code", "required"),
    ({"diagnosis_code": "XYZ.1"}, "diagnosis_code", "ICD-10-CM"),
    ({"diagnosis_code": "C00-D49"}, "diagnosis_code", "ICD-10-CM"),
    ({"diagnosis_text": "x" * 501}, "diagnosis_text", "500"),
    ({"secondary_diagnoses[0].code": "nope"}, "secondary_diagnoses[0].code", "ICD-10-CM"),
    ({"secondary_diagnoses[0].code": "C50.911"}, "secondary_diagnoses[0].code", "given before"),
    ({"secondary_diagnoses[0].code": ""}, "secondary_diagnoses[0].code", "required"),
    ({"first_opinion": DELETE}, "first_opinion", "required"),
    ({"first_opinion.physician": DELETE}, "first_opinion.physician", "required"),
    ({"first_opinion.physician.npi": "1234567890"}, "first_opinion.physician.npi", "Luhn"),
    ({"first_opinion.physician.npi": "123456789"}, "first_opinion.physician.npi", "10-digit"),
    ({"first_opinion.physician.npi": ""}, "first_opinion.physician.npi", "required"),
    ({"first_opinion.physician.family_name": "", "first_opinion.physician.given_name": ""},
     "first_opinion.physician.family_name", "required"),
    ({"first_opinion.organization.name": ""}, "first_opinion.organization.name", "required"),
    ({"first_opinion.organization.npi": "1234567890"}, "first_opinion.organization.npi", "Luhn"),
    ({"first_opinion.diagnosis.code": "nope"}, "first_opinion.diagnosis.code", "ICD-10-CM"),
    ({"first_opinion.proposed_treatment.codes[0].code": "1930"},
     "first_opinion.proposed_treatment.codes[0].code", "CPT"),
    ({"first_opinion.proposed_treatment.codes[1].code": "9000J"},
     "first_opinion.proposed_treatment.codes[1].code", "HCPCS"),
    ({"first_opinion.proposed_treatment.codes[0].system": "ICD-10-PCS"},
     "first_opinion.proposed_treatment.codes[0].system", "CPT or HCPCS"),
    ({"first_opinion.proposed_treatment.text": "x" * 4001}, "first_opinion.proposed_treatment.text", "4000"),
    ({"proposed_treatment": "something else"}, "proposed_treatment", "deprecated"),
    ({"first_opinion.rationale": "x" * 4001}, "first_opinion.rationale", "4000"),
    ({"clinical_question": "  "}, "clinical_question", "required"),
    ({"urgency": case_pb2.URGENCY_UNSPECIFIED}, "urgency", "URGENCY_STANDARD"),
    ({"jurisdiction": ""}, "jurisdiction", "required"),
    ({"jurisdiction": "CA"}, "jurisdiction", "ISO 3166-2"),
    ({"jurisdiction": "US-XX"}, "jurisdiction", "ISO 3166-2"),
    ({"language": ""}, "language", "required"),
    ({"language": "spanish"}, "language", "BCP-47"),
    ({"language": "en_US"}, "language", "BCP-47"),
    ({"language": "und"}, "language", "names no language"),
    ({"language": "x-klingon"}, "language", "names no language"),
    ({"language": "qaa"}, "language", "names no language"),
    ({"patient.phone": "+14155550123;ext=3"}, "patient.phone", "extension"),
    ({"attachments[0].uri": "https://[::1/x"}, "attachments[0].uri", "host or port"),
    ({"attachments[0].uri": "http://records.example.org/x.pdf"}, "attachments[0].uri", "https"),
    ({"attachments[0].uri": "https://user:pw@records.example.org/x.pdf"}, "attachments[0].uri", "credentials"),
    ({"attachments[0].uri": ""}, "attachments[0].uri", "required"),
    ({"attachments[0].uri": "https://records.example.org/" + "x" * 2048}, "attachments[0].uri", "2048"),
    ({"attachments[0].media_type": "application/x-msdownload"}, "attachments[0].media_type", "application/pdf"),
    ({"attachments[0].size_bytes": 0}, "attachments[0].size_bytes", "between"),
    ({"attachments[0].size_bytes": 6 * 1024**3}, "attachments[0].size_bytes", "between"),
    ({"attachments[0].sha256": "abc"}, "attachments[0].sha256", "SHA-256"),
    ({"attachments[0].title": "x" * 201}, "attachments[0].title", "200"),
    ({"consent.granted": False}, "consent.granted", "consent"),
    ({"consent.granted_at": DELETE}, "consent.granted_at", "required"),
    ({"consent.scope": intake_pb2.CONSENT_SCOPE_UNSPECIFIED}, "consent.scope", "CONSENT_SCOPE_SECOND_OPINION"),
    ({"consent.recorded_by": ""}, "consent.recorded_by", "required"),
]


@pytest.mark.parametrize("changes, field, rule", RULES, ids=[r[1] + ":" + r[2] for r in RULES])
def test_each_rule_names_its_field(changes, field, rule):
    violations = _violations(_request(**changes))
    assert [f for f, _ in violations] == [field]
    assert rule in violations[0][1]


def test_treatment_needs_codes_or_text():
    req = _request(**{"first_opinion.proposed_treatment.text": ""})
    del req.first_opinion.proposed_treatment.codes[:]
    assert [f for f, _ in _violations(req)] == ["first_opinion.proposed_treatment"]


def test_the_deprecated_treatment_field_is_read_as_the_text():
    req = _request(**{"first_opinion.proposed_treatment.text": "", "proposed_treatment": "Lumpectomy."})
    valid, violations = validate(req, TODAY)
    assert violations == [] and valid.first_opinion.treatment_text == "Lumpectomy."


@pytest.mark.parametrize("path, item, limit", [
    ("secondary_diagnoses", intake_pb2.Diagnosis(code="I10"), 10),
    ("attachments", None, 50),
    ("patient.identifiers", None, 10),
    ("first_opinion.proposed_treatment.codes", intake_pb2.ProcedureCode(system="CPT", code="99213"), 20),
])
def test_lists_have_a_limit(path, item, limit):
    req = _request()
    target = req
    for part in path.split("."):
        target = getattr(target, part)
    for i in range(limit + 1 - len(target)):
        if item is None:
            new = target.add()
            new.CopyFrom(target[0])
            if path == "attachments":
                new.uri = f"https://records.example.org/{i}.pdf"
            else:
                new.value = f"MRN-{i}"
        else:
            target.add().CopyFrom(item)
    fields = [f for f, _ in _violations(req)]
    assert path in fields


def test_every_violation_is_reported_at_once():
    req = _request(diagnosis_code="nope", language="", jurisdiction="")
    req.ClearField("patient")
    req.first_opinion.physician.npi = "1"
    req.attachments[0].uri = "ftp://x"
    assert {f for f, _ in _violations(req)} == {
        "patient", "diagnosis_code", "language", "jurisdiction", "first_opinion.physician.npi", "attachments[0].uri"}


@pytest.mark.parametrize("tag", ["en", "es-MX", "en-US-x-private", "zh-Hant-TW", "sgn-BE-FR"])
def test_valid_bcp47_tags_are_accepted(tag):
    assert _violations(_request(language=tag)) == []


@pytest.mark.parametrize("subdivision", ["US-CA", "US-PR", "CA-ON", "GB-ENG"])
def test_any_iso_3166_2_subdivision_is_a_jurisdiction(subdivision):
    assert _violations(_request(jurisdiction=subdivision)) == []


def test_a_jurisdiction_is_stored_in_its_one_spelling():
    valid, violations = validate(_request(jurisdiction="us-ca"), TODAY)
    assert violations == [] and valid.jurisdiction == "US-CA"


def test_contacts_are_stored_in_one_form():
    valid, violations = validate(_request(**{"patient.email": "Maria.Testperson@EXAMPLE.org"}), TODAY)
    assert violations == [] and valid.patient.email == "Maria.Testperson@example.org"
    assert valid.patient.phone == "+14155550123"


@pytest.mark.parametrize("jurisdiction, phone, stored", [
    ("US-CA", "(415) 555-0123", "+14155550123"),  # as US records keep them
    ("US-NY", "1-212-555-0123", "+12125550123"),
    ("US-PR", "787-555-0123", "+17875550123"),
    ("GB-ENG", "020 7946 0958", "+442079460958"),  # read in the jurisdiction's country
])
def test_a_phone_without_its_country_code_is_read_in_the_jurisdictions_country(jurisdiction, phone, stored):
    valid, violations = validate(_request(jurisdiction=jurisdiction, **{"patient.phone": phone}), TODAY)
    assert violations == [] and valid.patient.phone == stored


def test_a_national_phone_with_no_jurisdiction_to_read_it_in_is_refused_with_the_jurisdiction():
    violations = _violations(_request(jurisdiction="", **{"patient.phone": "(415) 555-0123"}))
    assert [f for f, _ in violations] == ["patient.phone", "jurisdiction"]


def test_a_repeated_identifier_is_refused():
    req = _request()
    req.patient.identifiers.add().CopyFrom(req.patient.identifiers[0])
    assert [f for f, _ in _violations(req)] == ["patient.identifiers[1]"]


def test_icd10_normalisation():
    assert normalise_icd10("g35") == "G35"
    assert normalise_icd10("M5116") == "M51.16"
    assert normalise_icd10("Z99.999") is None


@pytest.mark.parametrize("code", ["B20", "Z66", "F99", "R99", "C50", "C7A", "D49", "Z68", "C34", "c50.9"])
def test_a_category_the_library_also_names_as_a_block_is_a_diagnosis(code):
    # B20 (HIV disease) is billable; C50 is a header: both are ICD-10-CM categories,
    # and the only one in a block named after them.
    assert normalise_icd10(code) == code.upper()


@pytest.mark.parametrize("code", ["C00-C14", "A00-B99", "01", "C50.99X", ""])
def test_chapters_blocks_and_unknown_codes_are_not_diagnoses(code):
    assert normalise_icd10(code) is None


@pytest.mark.parametrize("npi, valid", [
    ("1234567893", True),  # the standard's worked example
    ("1234567890", False), ("123456789", False), ("12345678931", False), ("123456789X", False),
    ("１２３４５６７８９３", False),  # full-width digits are digits to str.isdigit, not to the NPI
])
def test_npi_check_digit(npi, valid):
    assert npi_is_valid(npi) is valid


@pytest.mark.parametrize("system, code, ok", [
    ("CPT", "99213", True), ("CPT", "0001F", True), ("CPT", "0042T", True), ("CPT", "0001U", True),
    ("CPT", "9921", False), ("CPT", "J9355", False), ("HCPCS", "J9355", True), ("HCPCS", "W1234", False),
    ("HCPCS", "j9355", False), ("LOINC", "1234-5", False),
])
def test_procedure_code_shapes(system, code, ok):
    assert (procedure_code_problem(system, code) is None) is ok


@pytest.mark.parametrize("given, stored", [("1970-01-31", "1970-01-31"), ("19700131", "1970-01-31")])
def test_birth_dates_are_stored_in_one_form(given, stored):
    valid, violations = validate(_request(**{"patient.birth_date": given}), TODAY)
    assert violations == []
    assert valid.patient.birth_date == stored


@pytest.mark.parametrize("given", ["1970-W05-6", "1970-031", "1970-0131", "1970-02-30", "70-01-31", "1970-1-31"])
def test_other_date_forms_are_refused_not_guessed(given):
    assert [f for f, _ in _violations(_request(**{"patient.birth_date": given}))] == ["patient.birth_date"]


@pytest.mark.parametrize("granted_at", [
    datetime(9999, 12, 31, tzinfo=timezone.utc),
    datetime(1, 1, 1, tzinfo=timezone.utc),
    TODAY + timedelta(hours=1),
    TODAY - timedelta(days=6 * 366),
])
def test_consent_times_must_be_plausible(granted_at):
    req = _request()
    req.consent.granted_at.FromDatetime(granted_at)
    assert _violations(req) == [("consent.granted_at", "must be a time in the last 5 years, not in the future")]


def test_a_list_past_its_limit_is_refused_whole_and_its_other_entries_are_not_checked_one_by_one():
    req = _request()
    for _ in range(900):  # under the edge's bound, far past the rule's: the same identifier again and again
        req.patient.identifiers.add(system="urn:oid:1.2", value="same", type="MR")
    for _ in range(900):
        req.secondary_diagnoses.add(code="ZZZ")
    fields = [field for field, _ in validate(req, TODAY)[1]]
    assert "patient.identifiers" in fields and "secondary_diagnoses" in fields
    checked = [f for f in fields if f.startswith(("patient.identifiers[", "secondary_diagnoses["))]
    assert checked and all(int(f.split("[")[1].split("]")[0]) < 10 for f in checked)
    assert len(fields) < 40


def test_a_birth_date_is_in_the_future_only_after_the_latest_date_on_earth():
    late = datetime(2026, 11, 26, 22, 50, tzinfo=timezone.utc)  # already the 27th in Sydney (and to UTC+14)
    req = _request(**{"patient.birth_date": "2026-11-27"})
    req.consent.granted_at.FromDatetime(late - timedelta(hours=1))
    assert validate(req, late)[1] == []  # a newborn, born today where it was born
    req.patient.birth_date = "2026-11-28"
    assert [f for f, _ in validate(req, late)[1]] == ["patient.birth_date"]


@pytest.mark.parametrize("system, code, stored", [("HCPCS", " j9355 ", ("HCPCS", "J9355")),
                                                  ("HCPCS", "99213", ("CPT", "99213"))])
def test_a_procedure_code_is_kept_in_one_spelling(system, code, stored):
    req = _request()
    req.first_opinion.proposed_treatment.codes.add(system=system, code=code)
    valid, violations = validate(req, TODAY)
    assert violations == [] and (valid.first_opinion.treatment_codes[-1].system,
                                 valid.first_opinion.treatment_codes[-1].code) == stored


def test_spaces_around_a_jurisdiction_or_an_e_mail_address_are_not_part_of_it():
    valid, violations = validate(_request(**{"jurisdiction": " us-ca ", "patient.email": " ada@example.org "}), TODAY)
    assert violations == [] and valid.jurisdiction == "US-CA" and valid.patient.email == "ada@example.org"


@pytest.mark.parametrize("uri", ["https://records.example.org/my file.pdf", "https://records.example.org/a<b>.pdf",
                                 "https://records.example.org/x.pdf\t",
                                 # beyond ASCII: normalised at the edge it would name another file
                                 "https://records.example.org/Ame\u0301lie.pdf",
                                 "https://records.example.org/x/a%zzb.pdf", "https://records.example.org/a%2",
                                 "https://records.example.org/a#b#c", "https://records.example.org/a[1].pdf",
                                 "https://records.example.org:99999/a", "https://records.example.org%40evil.com/a",
                                 "https://records.example.org:0/a.pdf"])
def test_an_attachment_uri_is_a_uri(uri):
    req = _request()
    req.attachments[0].uri = uri
    assert [f for f, _ in _violations(req)] == ["attachments[0].uri"]
    req.attachments[0].uri = "https://records.example.org/my%20file.pdf"
    assert _violations(req) == []


@pytest.mark.parametrize("uri", ["https://169.254.169.254/latest/meta-data/iam/security-credentials/",
                                 "https://127.0.0.1:8443/admin", "https://localhost/x.pdf", "https://LOCALHOST./x.pdf",
                                 "https://records.localhost/x.pdf", "https://10.0.0.5/x.pdf", "https://[::1]/x.pdf",
                                 "https://2130706433/x.pdf", "https://0x7f.1/x.pdf", "https://[::ffff:10.0.0.5]/x.pdf",
                                 "https://192.168.1.20/x.pdf", "https://100.64.0.1/x.pdf",
                                 # names of no public host: a private-use domain, a cluster's own, one label
                                 "https://kubernetes.default.svc/x", "https://mongo.db.svc.cluster.local/x",
                                 "https://metadata.google.internal/x", "https://nas.local/x.pdf",
                                 "https://files.home.arpa/x.pdf", "https://fileserver/x.pdf", "https://instance-data/x"])
def test_an_attachment_on_an_internal_address_is_refused_a_reviewers_client_would_fetch_it(uri):
    req = _request()
    req.attachments[0].uri = uri
    [(field, rule)] = _violations(req)
    assert field == "attachments[0].uri" and any(w in rule for w in ("not public", "localhost", "public host")), rule
    host = uri.split("/")[2].lower()
    assert host not in rule.lower() or host == "localhost", rule  # never echoed: a URI may carry anything
    req.attachments[0].uri = "https://93.184.215.14/x.pdf"  # a public address is a place like any
    assert _violations(req) == []


def test_an_attachment_given_twice_in_one_request_is_kept_once():
    req = _request()
    held = len(req.attachments)
    req.attachments.append(req.attachments[0])
    req.attachments[-1].sha256 = req.attachments[0].sha256.upper()  # the same digest, spelled otherwise
    valid, violations = validate(req, TODAY)
    assert violations == [] and len(valid.attachments) == held
    assert valid.attachments[0].title == req.attachments[0].title  # the first of the two, in its place
    req.attachments[-1].size_bytes += 1  # the same record said to be of another size: a contradiction
    assert _violations(req) == [(f"attachments[{held}]", "is attachments[0] again (the same URI and SHA-256) "
                                                         "with another size or media type: give each record once")]
    req.attachments[-1].sha256 = "0" * 64  # the same place, another content: another record
    assert len(validate(req, TODAY)[0].attachments) == held + 1


@pytest.mark.parametrize("given, family", [("", "Sukarno"), ("Sukarno", "")])
def test_a_patient_with_one_name_only_is_accepted_as_either_part(given, family):
    valid, violations = validate(_request(**{"patient.given_name": given, "patient.family_name": family}), TODAY)
    assert violations == [] and (valid.patient.given_name, valid.patient.family_name) == (given, family)


@pytest.mark.parametrize("given, family", [("", "Suharto"), ("Suharto", "")])
def test_a_physician_with_one_name_only_is_accepted_as_a_patient_is(given, family):
    valid, violations = validate(_request(**{"first_opinion.physician.given_name": given,
                                             "first_opinion.physician.family_name": family}), TODAY)
    assert violations == []
    assert (valid.first_opinion.physician_given_name, valid.first_opinion.physician_family_name) == (given, family)


@pytest.mark.parametrize("system, ok", [("urn:ietf:rfc:3986", True), ("urn:oid:1.2.3", True),
                                        ("https://placer.example.org/orders", True), ("", True),
                                        ("not a uri", False), ("orders", False), ("https://x.org/" + "a" * 250, False),
                                        (" urn:oid:1.2.3", False), ("urn:oid:1.2.3 ", False), ("   ", False)])
def test_a_keys_system_is_any_absolute_uri(system, ok):
    assert (_violations(_request(client_request_system=system)) == []) is ok


@pytest.mark.parametrize("name", ["\u0301", "\u3164", "\u2800", "\u115f\u1160"])
def test_a_name_nobody_can_read_is_no_name(name):
    fields = [f for f, _ in _violations(_request(**{"patient.given_name": name, "patient.family_name": ""}))]
    assert fields == ["patient.given_name"]
