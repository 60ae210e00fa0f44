"""Identifier systems both services read from FHIR, under every name real records give them."""

NPI = "http://hl7.org/fhir/sid/us-npi"
# The NPI as HL7 names it, with the trailing slash some systems write, and its OID.
NPI_SYSTEMS = frozenset({NPI, NPI + "/", "urn:oid:2.16.840.1.113883.4.6"})
