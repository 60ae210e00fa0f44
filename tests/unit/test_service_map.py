"""Prior authorization's service-to-specialty map (data: services/matching/reference/
service_specialty_map.v1.json): every range is of its system's code shape, every
specialty is in the taxonomy, a narrower range decides before the wider one it sits
in, and a reviewer qualifies by the same or a similar specialty only."""

from __future__ import annotations

import json

import pytest

from secondlook.codes import procedure_code_problem
from services.matching import reference
from services.matching.domain.service_map import ServiceSpecialtyMap

MEDICAL_ONCOLOGY, HEM_ONC, ORTHOPAEDICS, SPINE, OPHTHALMOLOGY, CARDIOLOGY, THORACIC = (
    "207RX0202X", "207RH0003X", "207X00000X", "207XS0117X", "207W00000X", "207RC0000X", "208G00000X")


def test_the_shipped_map_reads_and_every_code_and_specialty_is_checked():
    found = reference.service_map()
    assert len(found.entries) >= 20 and found.version == "1"
    for entry in found.entries:
        for end in (entry.codes.first, entry.codes.last):
            assert procedure_code_problem(entry.codes.system, end) is None, end
        assert all(s in reference.taxonomy() for s in entry.specialties)


@pytest.mark.parametrize("system, code, first", [
    ("CPT", "27447", ORTHOPAEDICS),  # total knee arthroplasty
    ("CPT", "22630", SPINE),  # lumbar interbody fusion: the spine range, inside musculoskeletal, decides
    ("CPT", "33533", THORACIC),  # coronary artery bypass
    ("CPT", "77385", "2085R0001X"),  # IMRT delivery: radiation oncology, not radiology
    ("CPT", "70553", "2085R0202X"),  # MRI brain
    ("HCPCS", "J9355", MEDICAL_ONCOLOGY),  # trastuzumab
    ("HCPCS", "E0601", "207RS0012X"),  # CPAP device: sleep medicine, before the durable equipment range
    ("HCPCS", "E0250", "208100000X"),  # hospital bed
    ("HCPCS", "J8521", MEDICAL_ONCOLOGY),  # capecitabine, oral
    ("CPT", "35472", THORACIC),  # vascular: vascular surgery among those who may decide
])
def test_a_service_maps_to_its_specialties(system, code, first):
    assert reference.service_map().specialties_for(system, code)[0] == first


@pytest.mark.parametrize("system, code", [("CPT", "99213"), ("HCPCS", "A0428"), ("CPT", "0001U"), ("X12-1365", "3"),
                                          ("CPT", "2001F"), ("CPT", "3008F"), ("CPT", "0042T")])
def test_a_service_the_map_does_not_name_has_no_specialty(system, code):
    assert reference.service_map().specialties_for(system, code) == ()


def test_a_reviewer_qualifies_by_the_same_or_a_similar_specialty_only():
    m = reference.service_map()
    assert m.qualifies([HEM_ONC], "HCPCS", "J9355")  # similar: the oncology group
    assert m.qualifies([SPINE], "CPT", "27447")  # spine surgery is musculoskeletal
    assert not m.qualifies([OPHTHALMOLOGY], "CPT", "27447")
    assert not m.qualifies([CARDIOLOGY], "HCPCS", "J9355")
    assert not m.qualifies([MEDICAL_ONCOLOGY], "CPT", "99213")  # nothing named: nobody qualifies by the map
    assert m.qualifies(["2086S0129X"], "CPT", "35472")  # vascular surgery for a vascular procedure
    assert not m.qualifies(["2084P0800X"], "CPT", "63047")  # a psychiatrist is not a neurosurgeon's peer


@pytest.mark.parametrize("change, rule", [
    (lambda d: d["ranges"][0].update(first="1908"), "'1908'"),
    (lambda d: d["ranges"][0].update(system="ICD"), "ranges[0].system"),
    (lambda d: d["ranges"][0].update(specialties=["XXXXXXXXXX"]), "not in the NUCC taxonomy"),
    (lambda d: d["ranges"].insert(0, {"system": "CPT", "first": "20000", "last": "29999", "specialties": [ORTHOPAEDICS]}),
     "never decides"),
    (lambda d: d["similar"][0]["specialties"].append("nonsense"), "similar[0]"),
])
def test_a_broken_map_is_refused_naming_the_entry(change, rule):
    doc = json.loads(reference._text(reference.SERVICE_MAP))
    change(doc)
    with pytest.raises(ValueError, match=rule.replace("[", r"\[").replace("]", r"\]")):
        ServiceSpecialtyMap.from_document(doc, reference.taxonomy())


def test_the_deciders_of_a_request_may_decide_every_service_best_first():
    m = reference.service_map()
    knee = m.deciders([("CPT", "27447")], ())
    assert knee[0] == ORTHOPAEDICS and SPINE in knee  # the same group (musculoskeletal and spine) is similar
    assert CARDIOLOGY not in knee
    # A knee and a lumbar fusion: who may decide both (the spine range's surgeons, and orthopaedics).
    both = m.deciders([("CPT", "27447"), ("CPT", "22630")], ())
    assert ORTHOPAEDICS in both and all(m.qualifies([s], "CPT", "22630") and m.qualifies([s], "CPT", "27447")
                                        for s in both)
    # A knee and a bypass: no one specialty may decide both.
    assert m.deciders([("CPT", "27447"), ("CPT", "33533")], ()) == ()


def test_a_service_the_map_does_not_name_is_decided_by_the_diagnosis_specialties():
    m = reference.service_map()
    by_diagnosis = (MEDICAL_ONCOLOGY, HEM_ONC)
    found = m.deciders([("X12-1365", "3")], by_diagnosis)
    assert found[:2] == by_diagnosis and "2085R0001X" in found  # radiation oncology: the oncology group
    assert m.deciders([("X12-1365", "3")], ()) == ()
    # With a coded service beside it, both must be decidable by one specialty.
    assert m.deciders([("HCPCS", "J9355"), ("X12-1365", "3")], by_diagnosis)[0] == MEDICAL_ONCOLOGY
