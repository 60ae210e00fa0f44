"""Which NUCC taxonomy specialties cover an ICD-10-CM diagnosis.

A deliberately small, explicit table by ICD-10-CM category ranges: enough for
the hard rule "specialty covers the diagnosis". The first specialty of a range
is the best fit and scores highest.
"""

from __future__ import annotations

MEDICAL_ONCOLOGY = "207RX0202X"
HEMATOLOGY_ONCOLOGY = "207RH0003X"
CARDIOLOGY = "207RC0000X"
NEUROLOGY = "2084N0400X"
NEUROSURGERY = "207T00000X"
ORTHOPAEDIC_SURGERY = "207X00000X"
RHEUMATOLOGY = "207RR0500X"
GASTROENTEROLOGY = "207RG0100X"
UROLOGY = "208800000X"
NEPHROLOGY = "207RN0300X"
ENDOCRINOLOGY = "207RE0101X"

NAMES = {
    MEDICAL_ONCOLOGY: "Medical Oncology",
    HEMATOLOGY_ONCOLOGY: "Hematology & Oncology",
    CARDIOLOGY: "Cardiovascular Disease",
    NEUROLOGY: "Neurology",
    NEUROSURGERY: "Neurological Surgery",
    ORTHOPAEDIC_SURGERY: "Orthopaedic Surgery",
    RHEUMATOLOGY: "Rheumatology",
    GASTROENTEROLOGY: "Gastroenterology",
    UROLOGY: "Urology",
    NEPHROLOGY: "Nephrology",
    ENDOCRINOLOGY: "Endocrinology",
}

# (first category, last category, specialties best-first); categories are the
# first three characters of the code. More specific ranges come first.
_RANGES: list[tuple[str, str, tuple[str, ...]]] = [
    ("C60", "C68", (UROLOGY, MEDICAL_ONCOLOGY)),
    ("C70", "C72", (NEUROSURGERY, MEDICAL_ONCOLOGY)),
    ("C81", "C96", (HEMATOLOGY_ONCOLOGY, MEDICAL_ONCOLOGY)),
    ("C00", "D49", (MEDICAL_ONCOLOGY, HEMATOLOGY_ONCOLOGY)),
    ("D50", "D89", (HEMATOLOGY_ONCOLOGY,)),
    ("E00", "E89", (ENDOCRINOLOGY,)),
    ("G00", "G99", (NEUROLOGY, NEUROSURGERY)),
    ("I00", "I99", (CARDIOLOGY,)),
    ("K00", "K95", (GASTROENTEROLOGY,)),
    ("M05", "M14", (RHEUMATOLOGY, ORTHOPAEDIC_SURGERY)),
    ("M30", "M36", (RHEUMATOLOGY,)),
    ("M00", "M99", (ORTHOPAEDIC_SURGERY, RHEUMATOLOGY)),
    ("N00", "N29", (NEPHROLOGY, UROLOGY)),
    ("N30", "N53", (UROLOGY,)),
    ("S00", "S99", (ORTHOPAEDIC_SURGERY,)),
]


def specialties_for(diagnosis_code: str) -> tuple[str, ...]:
    """Specialties covering the code, best first; empty when none does."""
    category = diagnosis_code.strip().upper()[:3]
    for first, last, specialties in _RANGES:
        if first <= category <= last:
            return specialties
    return ()
