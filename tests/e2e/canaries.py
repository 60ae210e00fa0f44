"""Unique markers planted in every PHI field of a case, to look for wherever PHI must not be."""

from __future__ import annotations

import random
import uuid

from secondlook.v1 import intake_pb2


def plant_canaries(request: intake_pb2.SubmitCaseRequest) -> list[str]:
    """A unique marker in every PHI field of the request (kept valid); returns them."""
    mark = "q" + uuid.uuid4().hex[:10]
    p, f = request.patient, request.first_opinion
    p.given_name, p.family_name = f"Given{mark}", f"Family{mark}"
    p.other_given_names[:] = [f"Middle{mark}"]
    p.email = f"patient.{mark}@example.org"
    f.physician.email = f"physician.{mark}@example.org"
    p.identifiers[0].value = f"MRN{mark}"
    request.diagnosis_text = f"Diagnosis text {mark}"
    request.secondary_diagnoses[0].text = f"Secondary {mark}"
    f.physician.given_name, f.physician.family_name = f"Doc{mark}", f"Tor{mark}"
    f.proposed_treatment.text = f"Treatment {mark}"
    f.rationale = f"Rationale {mark}"
    request.clinical_question = f"Question {mark}?"
    request.attachments[0].title = f"Title {mark}"
    request.attachments[0].uri = f"https://records.example.org/{mark}/report.pdf"
    request.consent.recorded_by = f"Recorder {mark}"
    f.proposed_treatment.codes[0].display = f"Display {mark}"
    p.identifiers[0].system = f"https://hospital.example.org/{mark}/mrn"
    # Numbers and dates cannot carry the mark: values no sample case uses.
    p.phone = f"+1415555{random.randint(150, 189):04d}"
    p.birth_date = f"1931-{random.randint(1, 12):02d}-{random.randint(10, 28):02d}"
    return [p.phone, p.birth_date, f"Display {mark}", p.identifiers[0].system,
            p.given_name, p.family_name, f"Middle{mark}", p.email, f.physician.email, f"MRN{mark}",
            request.diagnosis_text,
            f"Secondary {mark}", f.physician.given_name, f.physician.family_name, f.proposed_treatment.text,
            f.rationale, request.clinical_question, request.attachments[0].title, request.attachments[0].uri,
            request.consent.recorded_by, mark]


def _resources(bundle: dict, kind: str) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def plant_fhir_canaries(bundle: dict) -> list[str]:
    """A unique marker in every PHI element of data/sample_bundle.fhir.json's shape
    (kept valid); returns them."""
    mark = "f" + uuid.uuid4().hex[:10]
    [request], [patient], [plan], [physician], [consent] = (
        _resources(bundle, k) for k in ("ServiceRequest", "Patient", "CarePlan", "Practitioner", "Consent"))
    patient["name"][0].update(family=f"Family{mark}", given=[f"Given{mark}", f"Middle{mark}"])
    patient["identifier"][0].update(system=f"https://hospital.example.org/{mark}/mrn", value=f"MRN{mark}")
    phone = f"+1415555{random.randint(190, 229):04d}"
    patient["telecom"] = [{"system": "email", "value": f"patient.{mark}@example.org"},
                          {"system": "phone", "value": phone}]
    patient["birthDate"] = f"1932-{random.randint(1, 12):02d}-{random.randint(10, 28):02d}"
    primary, secondary = _resources(bundle, "Condition")
    primary["code"]["text"], secondary["code"]["text"] = f"Diagnosis text {mark}", f"Secondary {mark}"
    request["note"] = [{"text": f"Question {mark}?"}]
    plan["description"], plan["note"] = f"Treatment {mark}", [{"text": f"Rationale {mark}"}]
    plan["activity"][0]["detail"]["code"]["coding"][0]["display"] = f"Display {mark}"
    physician["name"] = [{"family": f"Tor{mark}", "given": [f"Doc{mark}"]}]
    attachment = _resources(bundle, "DocumentReference")[0]["content"][0]["attachment"]
    attachment.update(title=f"Title {mark}", url=f"https://records.example.org/{mark}/report.pdf")
    consent["performer"] = [{"display": f"Recorder {mark}"}]
    return [phone, patient["birthDate"], f"Family{mark}", f"Given{mark}", f"Middle{mark}", f"MRN{mark}",
            f"patient.{mark}@example.org", f"Diagnosis text {mark}", f"Secondary {mark}", f"Question {mark}?",
            f"Treatment {mark}", f"Rationale {mark}", f"Display {mark}", f"Tor{mark}", f"Doc{mark}",
            f"Title {mark}", f"Recorder {mark}", mark]
