"""A prior-authorization request (Da Vinci PAS): what a payer's pipeline asks a
qualified specialist to decide, item by item. Pure values, no I/O.

Each requested service is one item the decision answers (X12 review action per
item). Items are told apart by their sequence and, where a submitter repeats a
sequence (public examples do), by their trace number.
"""

from __future__ import annotations

from dataclasses import dataclass

# How a requested service is coded: CPT and HCPCS procedure codes, or an X12
# service type code (element 1365, e.g. "3" Consultation) when no procedure is named.
CPT, HCPCS, X12_SERVICE_TYPE = "CPT", "HCPCS", "X12-1365"


@dataclass(frozen=True)
class RequestedService:
    sequence: int
    system: str  # CPT, HCPCS or X12_SERVICE_TYPE
    code: str
    quantity: float = 1.0
    unit: str = ""  # UCUM, e.g. "{visit}"
    trace_number: str = ""  # the submitter's itemTraceNumber

    @property
    def key(self) -> str:
        """How the decision names this item."""
        return f"{self.sequence}:{self.trace_number}" if self.trace_number else str(self.sequence)


@dataclass(frozen=True)
class Party:
    """A requesting provider, or the payer: a name and an identifier."""
    name: str = ""
    npi: str = ""  # only a valid NPI (check digit); anything else is in `identifier`
    identifier: str = ""  # the identifier as sent, when it is not a valid NPI


@dataclass(frozen=True)
class PriorAuthRequest:
    submission_id: str  # the submitter's transaction identifier (Bundle.identifier): the idempotency key
    claim_identifier: str  # the submitter's trace number of the request (Claim.identifier)
    expedited: bool  # CMS-0057-F: 72 hours, else 7 calendar days
    diagnoses: tuple[str, ...]  # ICD-10-CM, the primary first
    items: tuple[RequestedService, ...]
    member_id: str
    plan: str
    payer: Party
    requesting_provider: Party  # the practitioner who asks (care team), else the provider organisation
    requesting_organization: Party
    jurisdiction: str  # ISO 3166-2, where the patient is: the reviewer's licence must cover it
    patient_family_name: str
    patient_given_names: tuple[str, ...]
    patient_birth_date: str  # may be empty: public examples carry none
    patient_sex: str
    claim_type: str = "professional"  # FHIR claim-type: professional, institutional, ...
