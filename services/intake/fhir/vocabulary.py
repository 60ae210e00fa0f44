"""Code systems read from a bundle, and the URLs this platform defines for what
FHIR R4 has no element for. The secondlook URLs are identifiers, not pages that
must resolve."""

from __future__ import annotations

from secondlook.fhir import systems

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
# ICD-10-CM by its URL and by its OID (FHIR converted from C-CDA names systems by OID).
ICD10CM_SYSTEMS = frozenset({ICD10CM, "urn:oid:2.16.840.1.113883.6.90"})
NPI, NPI_SYSTEMS = systems.NPI, systems.NPI_SYSTEMS
CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
# Each system also goes by other names in real records: its OID, and for HCPCS the
# http form HL7's terminology (THO) gives as its canonical URL.
PROCEDURE_SYSTEMS = {
    CPT: "CPT", "urn:oid:2.16.840.1.113883.6.12": "CPT",
    HCPCS: "HCPCS", "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets": "HCPCS",
    "urn:oid:2.16.840.1.113883.6.285": "HCPCS", "urn:oid:2.16.840.1.113883.6.14": "HCPCS",
}
IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"  # MR, PLAC, ...
BCP47 = "urn:ietf:bcp:47"

# Under a reserved .example domain until the project owns a domain to publish them at.
BASE = "https://secondlook.example/fhir"
# On the second-opinion ServiceRequest, valueBoolean.
EXT_PANEL = f"{BASE}/StructureDefinition/panel-requested"
EXT_BLIND = f"{BASE}/StructureDefinition/blind-review-requested"
# On Attachment, valueString: the lower-case hex SHA-256 of the content. R4's
# Attachment.hash is a base64 SHA-1, which this platform does not accept.
EXT_SHA256 = f"{BASE}/StructureDefinition/attachment-sha256"
# On a ServiceRequest read back, valueCode: the case's own status (CASE_STATUS_ without the prefix).
EXT_CASE_STATUS = f"{BASE}/StructureDefinition/case-status"
# Consent.category: what makes a Consent a consent to this platform's review.
CONSENT_CATEGORY = f"{BASE}/CodeSystem/consent-category"
SECOND_OPINION_REVIEW = "second-opinion-review"
