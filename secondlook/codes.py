"""The shapes of the clinical codes and identifiers the platform reads: ICD-10-CM
diagnoses, NPIs, CPT and HCPCS procedure codes, ISO 3166-2 jurisdictions and
BCP-47 languages. Pure functions over the field's maintained code sets, shared by
intake (cases) and matching (the specialist directory)."""

from __future__ import annotations

import re

import langcodes
import pycountry
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
    or code (chapters and blocks of categories are not diagnoses)."""
    return icd.add_dot(icd.remove_dot(code.strip().upper())) if icd10_code_exists(code) else None


def icd10_code_exists(code: str) -> bool:
    """Whether ICD-10-CM has this category or code (with or without its dot). Asked as
    "is it a category or a code", never "is it a block": the library also names a
    block after the one category it holds (B20 HIV disease, C50, Z66), and such a
    category is a diagnosis like any other."""
    code = code.strip().upper()
    return bool(code) and icd.is_valid_item(code) and (icd.is_category(code) or icd.is_subcategory(code))


def npi_is_valid(npi: str) -> bool:
    """Ten digits whose last is the Luhn check digit over "80840" and the first nine
    (the card-issuer prefix the NPI standard borrows)."""
    if len(npi) != 10 or not npi.isascii() or not npi.isdigit():
        return False
    return npi_check_digit(npi[:9]) == npi[9]


def npi_check_digit(first_nine: str) -> str:
    """The NPI's tenth digit: Luhn over "80840" and the first nine."""
    total = 0
    for i, d in enumerate(int(c) for c in reversed("80840" + first_nine)):  # double every other, from the right
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return str((10 - total % 10) % 10)


def normalise_procedure(system: str, code: str) -> tuple[str, str]:
    """(system, code) in one spelling: the code upper case, without spaces around it, and
    a CPT code sent as HCPCS is CPT (HCPCS Level I is CPT: the Da Vinci PAS examples
    code office visits, 99212, under the HCPCS system)."""
    code = code.strip().upper()
    if system == "HCPCS" and _CPT.match(code):
        return "CPT", code
    return system, code


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


# langcodes also reads "en_US"; BCP 47 separates subtags with "-" only.
_TAG_CHARACTERS = re.compile(r"^[A-Za-z0-9-]{1,35}$")


def jurisdiction_problem(code: str) -> tuple[str | None, str | None]:
    """(the subdivision's one spelling, None), or (None, the rule it breaks)."""
    code = code.strip()
    if not code:
        return None, "is required (ISO 3166-2 subdivision, e.g. US-CA)"
    subdivision = pycountry.subdivisions.get(code=code)
    if subdivision is None:
        return None, f"{code[:20]!r} is not an ISO 3166-2 subdivision such as US-CA"
    return subdivision.code, None  # "us-ca" is US-CA


US_STATES = frozenset(s.code.removeprefix("US-") for s in pycountry.subdivisions.get(country_code="US"))


def usps_as_subdivision(code: str) -> str:
    """A USPS state or territory code (CA, PR) as its ISO 3166-2 subdivision (US-CA);
    any other code as it is, for the checks to judge (US-CA passes, Canada's CA-ON
    too). For places where a bare two-letter code is a US state (a US provider's
    licence), never a country."""
    code = code.strip().upper()
    return f"US-{code}" if code in US_STATES else code


def language_problem(tag: str) -> tuple[str | None, str | None]:
    """(the tag standardised, None), or (None, the rule it breaks): a valid BCP-47
    tag naming a language a person can be written to."""
    if not _TAG_CHARACTERS.match(tag) or not langcodes.tag_is_valid(tag):
        return None, f"{tag[:20]!r} is not a BCP-47 language tag such as en or es-MX"
    standard = langcodes.standardize_tag(tag)
    for primary in {tag.split("-", 1)[0].lower(), standard.split("-", 1)[0].lower()}:  # "root" is "und"
        if primary in ("und", "mul", "zxx", "mis", "x", "i") or "qaa" <= primary <= "qtz":
            return None, (f"{tag[:20]!r} names no language a person can be written to in "
                          "(undetermined, multiple, none or private use)")
    return standard, None
