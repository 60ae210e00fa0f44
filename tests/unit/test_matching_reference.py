"""The reference data matching ships: the NUCC list and the specialty map, checked
against the code sets they name."""

from __future__ import annotations

import csv
import json
import re
from importlib import resources

import pytest

from secondlook.codes import icd10_code_exists
from services.matching import reference

NUCC_CODE = re.compile(r"^[0-9]{3}[0-9A-Z]{6}X$")


def _map_doc() -> dict:
    return json.loads(resources.files(reference).joinpath(reference.SPECIALTY_MAP).read_text())


def test_the_nucc_list_holds_well_formed_unique_codes_with_names():
    rows = list(csv.DictReader(resources.files(reference).joinpath(reference.TAXONOMY).read_text().splitlines()))
    codes = [r["code"] for r in rows]
    assert len(codes) == len(set(codes))
    assert all(NUCC_CODE.match(c) for c in codes), [c for c in codes if not NUCC_CODE.match(c)]
    assert all(r["classification"] for r in rows)
    assert reference.taxonomy()["207RX0202X"] == "Medical Oncology"


def test_every_range_end_is_an_icd10cm_code_and_every_specialty_is_in_the_nucc_list():
    doc = _map_doc()
    assert doc["version"] and doc["ranges"]
    for i, entry in enumerate(doc["ranges"]):
        assert icd10_code_exists(entry["first"]) and icd10_code_exists(entry["last"]), (i, entry)
        assert entry["first"] <= entry["last"], (i, entry)
        assert entry["area"] and entry["specialties"], (i, entry)
        assert set(entry["specialties"]) <= set(reference.taxonomy()), (i, entry)


# Areas where second opinions are most asked for, and the ones the issue names:
# a code from each, and a specialty that must be among those offered it.
AREAS = [
    ("breast cancer", "C50.911", "207RX0202X"), ("lung cancer", "C34.90", "207RX0202X"),
    ("prostate cancer", "C61", "208800000X"), ("colon cancer", "C18.9", "207RX0202X"),
    ("brain tumour", "C71.9", "207T00000X"), ("lymphoma", "C83.30", "207RH0003X"),
    ("coronary artery disease", "I25.10", "207RC0000X"), ("atrial fibrillation", "I48.91", "207RC0001X"),
    ("heart failure", "I50.9", "207RA0001X"), ("multiple sclerosis", "G35", "2084N0400X"),
    ("epilepsy", "G40.909", "2084N0400X"), ("stroke", "I63.9", "2084V0102X"),
    ("lumbar disc disorder", "M51.16", "207XS0117X"), ("knee osteoarthritis", "M17.11", "207X00000X"),
    ("rheumatoid arthritis", "M06.9", "207RR0500X"), ("lupus", "M32.9", "207RR0500X"),
    ("Crohn's disease", "K50.90", "207RG0100X"), ("cirrhosis", "K74.60", "207RI0008X"),
    ("kidney stones", "N20.0", "208800000X"), ("chronic kidney disease", "N18.4", "207RN0300X"),
    ("type 2 diabetes", "E11.9", "207RE0101X"), ("thyroid cancer", "C73", "207RE0101X"),
    ("COPD", "J44.9", "207RP1001X"), ("interstitial lung disease", "J84.10", "207RP1001X"),
    ("anaemia", "D64.9", "207RH0000X"), ("haemophilia", "D66", "207RH0000X"),
    ("congenital heart disease", "Q21.1", "2080P0202X"), ("neonatal jaundice", "P59.9", "2080N0001X"),
    ("spina bifida", "Q05.9", "2084N0402X"),
]


@pytest.mark.parametrize("area, code, specialty", AREAS, ids=[a for a, _, _ in AREAS])
def test_the_map_covers_the_areas_second_opinions_are_asked_for(area, code, specialty):
    assert icd10_code_exists(code), code
    assert specialty in reference.specialty_map().specialties_for(code), area
