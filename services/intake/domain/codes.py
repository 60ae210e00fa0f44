"""The shapes of the clinical codes and identifiers a case carries: ICD-10-CM
diagnoses, NPIs, CPT and HCPCS procedure codes."""

from __future__ import annotations

import re

import simple_icd_10_cm as icd

# CPT: Category I five digits (99213), or four digits and a letter: Category II
# (0001F), Category III (0042T), proprietary laboratory analyses (0001U) and
# vaccine products and administration (0001A, 90460 aside).
_CPT = re.compile(r"^[0-9]{4}[0-9FTUAM]$")
# HCPCS Level II: a letter A-V and four digits (J9355); Level I is CPT.
_HCPCS = re.compile(r"^[A-V][0-9]{4}$")
PROCEDURE_SYSTEMS = {"CPT": _CPT, "HCPCS": _HCPCS}


def normalise_icd10(code: str) -> str | None:
    """The code with its dot (C50.911), or None when it is not an ICD-10-CM category
    or code (chapters and blocks are not diagnoses)."""
    code = code.strip().upper()
    if not code or not icd.is_valid_item(code) or icd.is_chapter_or_block(code):
        return None
    return icd.add_dot(icd.remove_dot(code))


def npi_is_valid(npi: str) -> bool:
    """Ten digits whose last is the Luhn check digit over "80840" and the first nine
    (the card-issuer prefix the NPI standard borrows)."""
    if len(npi) != 10 or not npi.isascii() or not npi.isdigit():
        return False
    digits = [int(d) for d in "80840" + npi[:9]]
    total = 0
    for i, d in enumerate(reversed(digits)):  # double every other digit, from the right
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return (10 - total % 10) % 10 == int(npi[9])


def procedure_code_problem(system: str, code: str) -> tuple[str, str] | None:
    """(field, rule) when the procedure code is not of its system's shape."""
    pattern = PROCEDURE_SYSTEMS.get(system)
    if pattern is None:
        return "system", "must be CPT or HCPCS"
    if not pattern.match(code):
        shape = "five characters: 5 digits, or 4 digits and F, T, U, A or M" if system == "CPT" \
            else "a letter A-V and four digits, e.g. J9355"
        return "code", f"{code[:20]!r} is not a {system} code ({shape})"
    return None
