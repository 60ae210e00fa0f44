"""matching's domain: the specialty map, each named hard rule, the score and the ranking."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import pytest

from secondlook.v1.case_pb2 import CaseKind, Urgency
from services.matching import reference
from services.matching.domain.directory import Absence, Affiliation
from services.matching.domain.matcher import RULE_NAMES, RULES, CaseFacts, Wanted, Weights, rank, screen, wanted_for
from services.matching.domain.specialty_map import CodeRange, SpecialtyMap
from tests.fakes.matching import HEMATOLOGY_ONCOLOGY, MEDICAL_ONCOLOGY, NEUROLOGY, specialist

TODAY = date(2026, 11, 27)
FACTS = CaseFacts(case_id="c1", diagnosis_code="C50.911", jurisdiction="US-CA", language="en", tenant_id="tenant-a",
                  kind=CaseKind.CASE_KIND_SECOND_OPINION, first_opinion_physician_npi="1600000008",
                  first_opinion_organization="Bayview Cancer Center", first_opinion_organization_npi="1316000003")
WANTED = Wanted((MEDICAL_ONCOLOGY, HEMATOLOGY_ONCOLOGY))


def test_the_map_gives_specialties_best_first_and_nothing_for_an_uncovered_code():
    m = reference.specialty_map()
    assert m.specialties_for("C50.911")[:2] == (MEDICAL_ONCOLOGY, HEMATOLOGY_ONCOLOGY)
    assert m.specialties_for("C61")[0] == "208800000X"  # prostate: urology
    assert m.specialties_for("G35")[0] == NEUROLOGY
    assert m.specialties_for("I63.9")[0] == "2084V0102X"  # a stroke is vascular neurology's, not cardiology's
    assert m.specialties_for("M51.16")[0] == "207XS0117X"  # a disc disorder: spine surgery
    assert m.specialties_for("Z00.00") == ()


@pytest.mark.parametrize("doc, rule", [
    ({"ranges": [{"first": "C50", "last": "C5X", "specialties": [MEDICAL_ONCOLOGY]}]}, "not an ICD-10-CM"),
    ({"ranges": [{"first": "C60", "last": "C50", "specialties": [MEDICAL_ONCOLOGY]}]}, "comes after"),
    ({"ranges": [{"first": "C50", "last": "C50", "specialties": ["207RX0202Y"]}]}, "not in the NUCC"),
    ({"ranges": [{"first": "C50", "last": "C50", "specialties": []}]}, "names no specialty"),
    ({"ranges": [{"first": "C00", "last": "D49", "specialties": [MEDICAL_ONCOLOGY]},
                 {"first": "C50", "last": "C50", "specialties": [HEMATOLOGY_ONCOLOGY]}]}, "never reached"),
    ({"ranges": []}, "empty"),
])
def test_a_map_that_breaks_a_rule_is_refused_naming_the_entry(doc, rule):
    with pytest.raises(ValueError, match=rule):
        SpecialtyMap.from_document(doc, reference.taxonomy())


def test_a_code_range_holds_codes_at_the_depth_its_ends_are_written_to():
    assert CodeRange("C50", "C50").covers("C50.911") and CodeRange("C50", "C50").covers("c50911")
    sub = CodeRange("C50.1", "C50.4")
    assert sub.covers("C50.211") and not sub.covers("C50.511") and not sub.covers("C50")
    assert CodeRange("O00", "O9A").covers("O9A.11") and CodeRange("O00", "O9A").covers("O99.4")


def test_a_secondary_diagnosis_decides_only_when_configured_and_the_primary_has_no_specialty():
    facts = dataclasses.replace(FACTS, diagnosis_code="Z80.3", secondary_diagnosis_codes=("Z00.00", "G35"))
    lookup = reference.specialty_map().specialties_for
    assert wanted_for(facts, lookup).specialties == ()
    chosen = wanted_for(facts, lookup, cover_secondary=True)
    assert chosen.specialties[0] == NEUROLOGY and chosen.from_secondary
    assert not wanted_for(FACTS, lookup, cover_secondary=True).from_secondary


# Each rule: a specialist the rule alone excludes, everything else being fine.
EXPIRED = TODAY - timedelta(days=1)
BREAKS = {
    "active": dict(active=False),
    "covers_diagnosis": dict(specialties=(NEUROLOGY,)),
    "licensed_in_jurisdiction": dict(licensed=("US-NY",)),
    "board_certified": dict(certifications=()),
    "accepts_case_kind": dict(case_kinds=frozenset({CaseKind.CASE_KIND_PRIOR_AUTH})),
    "accepting": dict(accepting=False),
    "not_out_of_office": dict(out_of_office=(Absence(TODAY - timedelta(days=2), TODAY),)),
    "under_capacity": dict(free=0),
    "speaks_language": dict(languages=("es",)),
    "not_first_opinion_physician": dict(npi="1600000008"),
    "not_affiliated_with_first_opinion": dict(affiliations=(Affiliation("org-x", "bayview cancer center "),)),
    "not_affiliated_with_submitter": dict(affiliations=(Affiliation("tenant-a", "Tenant A Health"),)),
    "no_declared_conflict": dict(declared_conflicts=(Affiliation("org-y", "", "1316000003"),)),
}


def test_every_rule_has_a_breaking_example():
    assert set(BREAKS) == set(RULE_NAMES)


def test_the_fine_specialist_passes_every_rule():
    assert screen(specialist("fine"), FACTS, WANTED, TODAY) is None


@pytest.mark.parametrize("name", RULE_NAMES)
def test_each_rule_alone_excludes_the_specialist_who_breaks_it(name):
    s = specialist("broken", **BREAKS[name])
    rule = screen(s, FACTS, WANTED, TODAY)
    assert rule is not None and rule.name == name
    ranked, why = rank(FACTS, WANTED, [s], TODAY)
    assert ranked == [] and f"1 excluded by {name}" in why


def test_an_expired_licence_or_certification_does_not_count():
    licence_gone = specialist("l", licensed=("US-CA",))
    licence_gone = dataclasses.replace(licence_gone, licences=tuple(
        dataclasses.replace(lic, expires=EXPIRED) for lic in licence_gone.licences))
    assert screen(licence_gone, FACTS, WANTED, TODAY).name == "licensed_in_jurisdiction"
    cert_gone = specialist("c", expires=date(2099, 1, 1))
    cert_gone = dataclasses.replace(cert_gone, certifications=tuple(
        dataclasses.replace(c, expires=EXPIRED) for c in cert_gone.certifications))
    assert screen(cert_gone, FACTS, WANTED, TODAY).name == "board_certified"
    # Expiring today is still valid today.
    assert screen(specialist("t", expires=TODAY), FACTS, WANTED, TODAY) is None


def test_an_absence_outside_today_and_an_unspecified_kind_do_not_exclude():
    s = specialist("s", out_of_office=(Absence(TODAY + timedelta(days=1), TODAY + timedelta(days=9)),))
    assert screen(s, dataclasses.replace(FACTS, kind=CaseKind.CASE_KIND_UNSPECIFIED), WANTED, TODAY) is None


def test_the_score_weighs_fit_focus_load_turnaround_and_quality():
    directory = [
        specialist("busy-onc", free=1, capacity=10),
        specialist("free-onc", free=10, capacity=10),
        specialist("heme", specialties=(HEMATOLOGY_ONCOLOGY,), free=10, capacity=10),
        specialist("focused-onc", free=1, capacity=10, focus=(CodeRange("C50", "C50"),)),
    ]
    ranked, _ = rank(FACTS, WANTED, directory, TODAY)
    by_id = {c.specialist.specialist_id: c for c in ranked}
    assert by_id["free-onc"].score.total > by_id["busy-onc"].score.total  # load
    assert by_id["free-onc"].score.fit > by_id["heme"].score.fit  # the map's first specialty fits best
    assert by_id["focused-onc"].score.fit > by_id["busy-onc"].score.fit  # a breast cancer focus
    assert by_id["heme"].specialty == HEMATOLOGY_ONCOLOGY
    assert "score" in by_id["heme"].explanation and "licensed in US-CA" in by_id["heme"].explanation
    slow = rank(dataclasses.replace(FACTS, urgency=Urgency.URGENCY_EXPEDITED), WANTED,
                [specialist("slow", turnaround_days=3.0)], TODAY)[0][0]
    assert slow.score.turnaround == 0.0  # three days is the whole expedited clock
    only_quality = rank(FACTS, WANTED, [specialist("q", quality=0.5)], TODAY, Weights(0, 0, 0, 1))[0][0]
    assert only_quality.score.total == 0.5


def test_equal_candidates_are_ordered_the_same_way_every_time_but_not_the_same_way_for_every_case():
    twins = [specialist(f"twin-{i}") for i in range(6)]
    first = [c.specialist.specialist_id for c in rank(FACTS, WANTED, twins, TODAY)[0]]
    assert first == [c.specialist.specialist_id for c in rank(FACTS, WANTED, list(reversed(twins)), TODAY)[0]]
    leaders = {rank(dataclasses.replace(FACTS, case_id=f"case-{n}"), WANTED, twins, TODAY)[0][0].specialist.specialist_id
               for n in range(40)}
    assert len(leaders) > 1  # the work is shared


def test_nobody_mapped_says_so():
    ranked, why = rank(dataclasses.replace(FACTS, diagnosis_code="Z00.00"), Wanted(()), [specialist("a")], TODAY)
    assert ranked == [] and "no specialty in the specialty map covers Z00.00" in why


def test_rules_are_named_once():
    assert len(RULE_NAMES) == len(set(RULE_NAMES)) == len(RULES)
