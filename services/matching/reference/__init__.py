"""The reference data matching ships with, read from the files beside this module:
the NUCC taxonomy codes it knows (`nucc_taxonomy.csv`, the physician codes of the
NUCC Health Care Provider Taxonomy that second opinions use) and the
diagnosis-to-specialty map (`specialty_map.v1.json`)."""

from __future__ import annotations

import csv
import functools
import json
from importlib import resources

from ..domain.service_map import ServiceSpecialtyMap
from ..domain.specialty_map import SpecialtyMap

SPECIALTY_MAP = "specialty_map.v1.json"
SERVICE_MAP = "service_specialty_map.v1.json"
TAXONOMY = "nucc_taxonomy.csv"


def _text(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


@functools.cache
def taxonomy() -> dict[str, str]:
    """NUCC code -> its name (the specialization, or the classification)."""
    rows = csv.DictReader(_text(TAXONOMY).splitlines())
    return {r["code"]: r["specialization"] or r["classification"] for r in rows}


@functools.cache
def specialty_map() -> SpecialtyMap:
    return SpecialtyMap.from_document(json.loads(_text(SPECIALTY_MAP)), taxonomy())


@functools.cache
def service_map() -> ServiceSpecialtyMap:
    """Requested services (CPT, HCPCS) to the specialties that may decide them (prior authorization)."""
    return ServiceSpecialtyMap.from_document(json.loads(_text(SERVICE_MAP)), taxonomy())
