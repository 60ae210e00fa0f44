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
            p.given_name, p.family_name, f"Middle{mark}", p.email, f"MRN{mark}", request.diagnosis_text,
            f"Secondary {mark}", f.physician.given_name, f.physician.family_name, f.proposed_treatment.text,
            f.rationale, request.clinical_question, request.attachments[0].title, request.attachments[0].uri,
            request.consent.recorded_by, mark]
