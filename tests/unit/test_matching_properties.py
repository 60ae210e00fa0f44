"""Property-based tests (hypothesis) of matching's domain over random directories
and cases: an offer never breaks a hard rule, the same input always gives the same
ranking, and every specialist is accounted for exactly once."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from secondlook.v1.case_pb2 import CaseKind, Urgency
from services.matching import reference
from services.matching.domain.directory import Absence, Affiliation, Certification, Licence, Specialist
from services.matching.domain.index import DirectoryIndex
from services.matching.domain.matcher import RULE_NAMES, CaseFacts, Wanted, Weights, assess, rank, wanted_for
from services.matching.domain.specialty_map import CodeRange

TODAY = date(2026, 11, 27)
SPECIALTIES = ["207RX0202X", "207RH0003X", "2084N0400X", "207RC0000X", "208800000X", "207XS0117X"]
PLACES = ["US-CA", "US-NY", "US-TX"]
LANGUAGES = ["en", "es", "zh"]
ORGS = [Affiliation("org-a", "Alpha Hospital", "1316000003"), Affiliation("org-b", "Beta Clinic"),
        Affiliation("tenant-1", "Tenant One Health")]
NPIS = ["1234567893", "1600000008", "1077844839"]
CODES = ["C50.911", "C61", "G35", "I25.10", "M51.16", "Z00.00", "C83.30"]
KINDS = [CaseKind.CASE_KIND_SECOND_OPINION, CaseKind.CASE_KIND_PRIOR_AUTH]

days = st.integers(-30, 30).map(lambda n: TODAY + timedelta(days=n))


@st.composite
def specialists(draw, sid: str) -> Specialist:
    specialties = tuple(draw(st.lists(st.sampled_from(SPECIALTIES), min_size=1, max_size=2, unique=True)))
    capacity = draw(st.integers(0, 3))
    start = draw(days)
    return Specialist(
        specialist_id=sid, npi=draw(st.sampled_from(NPIS)), specialties=specialties,
        licences=tuple(Licence(j, draw(days)) for j in draw(st.lists(st.sampled_from(PLACES), unique=True))),
        languages=frozenset(draw(st.lists(st.sampled_from(LANGUAGES), min_size=1, unique=True))),
        capacity=capacity, free_slots=draw(st.integers(0, capacity)), accepting=draw(st.booleans()),
        focus=tuple(draw(st.lists(st.sampled_from([CodeRange("C50", "C50"), CodeRange("G35", "G37")]), max_size=1))),
        certifications=tuple(Certification("B", s, draw(days)) for s in specialties if draw(st.booleans())),
        affiliations=tuple(draw(st.lists(st.sampled_from(ORGS), max_size=2, unique=True))),
        declared_conflicts=tuple(draw(st.lists(st.sampled_from(ORGS), max_size=1))),
        out_of_office=tuple(Absence(start, start + timedelta(days=draw(st.integers(0, 5))))
                            for _ in range(draw(st.integers(0, 1)))),
        case_kinds=frozenset(draw(st.lists(st.sampled_from(KINDS), min_size=1, unique=True))),
        turnaround_days=draw(st.floats(0, 10)), quality=draw(st.floats(0, 1)), active=draw(st.booleans()),
    )


@st.composite
def directories(draw) -> list[Specialist]:
    n = draw(st.integers(0, 12))
    return [draw(specialists(f"s{i:02d}")) for i in range(n)]


cases = st.builds(
    CaseFacts, case_id=st.text("abcdef0123", min_size=1, max_size=8), diagnosis_code=st.sampled_from(CODES),
    jurisdiction=st.sampled_from(PLACES), language=st.sampled_from(LANGUAGES),
    tenant_id=st.sampled_from(["tenant-1", "tenant-2"]), kind=st.sampled_from(KINDS),
    urgency=st.sampled_from([Urgency.URGENCY_STANDARD, Urgency.URGENCY_EXPEDITED]),
    first_opinion_physician_npi=st.sampled_from(["", *NPIS]),
    first_opinion_organization=st.sampled_from(["", "Alpha Hospital", "beta clinic"]),
    first_opinion_organization_npi=st.sampled_from(["", "1316000003"]),
)


def _breaks_a_hard_rule(s: Specialist, f: CaseFacts, wanted: tuple[str, ...]) -> list[str]:
    """The hard rules restated independently of the matcher's code."""
    covering = set(wanted) & set(s.specialties)
    orgs = {(o.organization_id.lower(), o.name.strip().lower(), o.npi) for o in s.affiliations}
    first_org = f.first_opinion_organization.strip().lower()
    broken = []
    if not s.active:
        broken.append("inactive")
    if not covering:
        broken.append("specialty")
    if not any(lic.jurisdiction == f.jurisdiction and lic.expires >= TODAY for lic in s.licences):
        broken.append("licence")
    if not any(c.specialty in covering and c.expires >= TODAY for c in s.certifications):
        broken.append("certification")
    if f.kind not in s.case_kinds or not s.accepting or s.free_slots < 1:
        broken.append("availability")
    if any(a.first <= TODAY <= a.last for a in s.out_of_office):
        broken.append("out of office")
    if f.language.split("-")[0] not in {lang.split("-")[0] for lang in s.languages}:
        broken.append("language")
    if f.first_opinion_physician_npi and s.npi == f.first_opinion_physician_npi:
        broken.append("first-opinion physician")
    for org_id, name, npi in orgs:
        if (first_org and first_org in (org_id, name)) or (npi and npi == f.first_opinion_organization_npi) \
                or org_id == f.tenant_id:
            broken.append("affiliation")
    for o in s.declared_conflicts:
        if (first_org and first_org in (o.organization_id.lower(), o.name.strip().lower())) \
                or (o.npi and o.npi == f.first_opinion_organization_npi) or o.organization_id == f.tenant_id:
            broken.append("declared conflict")
    return broken


def _wanted(f: CaseFacts):
    return wanted_for(f, reference.specialty_map().specialties_for)


@settings(max_examples=200, deadline=None)
@given(directories(), cases)
def test_no_candidate_ever_breaks_a_hard_rule(directory, facts):
    wanted = _wanted(facts)
    ranked, why = rank(facts, wanted, directory, TODAY)
    for c in ranked:
        assert _breaks_a_hard_rule(c.specialist, facts, wanted.specialties) == [], c.specialist
    eligible = [s for s in directory if not _breaks_a_hard_rule(s, facts, wanted.specialties)]
    assert {c.specialist.specialist_id for c in ranked} == {s.specialist_id for s in eligible}
    assert bool(ranked) != bool(why)


@settings(max_examples=200, deadline=None)
@given(directories(), cases, st.randoms(use_true_random=False))
def test_the_same_input_always_gives_the_same_ranking(directory, facts, rnd):
    wanted = _wanted(facts)
    first = [(c.specialist.specialist_id, c.score) for c in rank(facts, wanted, directory, TODAY)[0]]
    shuffled = list(directory)
    rnd.shuffle(shuffled)
    assert [(c.specialist.specialist_id, c.score) for c in rank(facts, wanted, shuffled, TODAY)[0]] == first


@settings(max_examples=200, deadline=None)
@given(directories(), cases)
def test_every_specialist_is_accounted_for_exactly_once(directory, facts):
    verdicts = assess(facts, _wanted(facts), directory, TODAY)
    assert [v.specialist.specialist_id for v in verdicts] == [s.specialist_id for s in directory]
    for v in verdicts:
        assert (v.excluded_by is None) != (v.candidate is None)
        assert v.excluded_by is None or v.excluded_by.name in RULE_NAMES


weights = st.builds(Weights, *(st.one_of(st.sampled_from([0.0, 0.2, 0.35, 1.0, 20.0, 35.0]),
                                          st.floats(0, 50)) for _ in range(4)))


@settings(max_examples=300, deadline=None)
@given(directories(), cases, weights)
def test_the_index_gives_the_candidates_in_rank_s_order(directory, facts, w):
    wanted = _wanted(facts)
    index = DirectoryIndex(directory, w)
    expected = [(c.specialist.specialist_id, c.score) for c in rank(facts, wanted, directory, TODAY, w)[0]]
    assert [(c.specialist.specialist_id, c.score) for c in index.best_first(facts, wanted, TODAY)] == expected


def test_the_index_agrees_with_rank_under_percentage_weights_and_focus_ties():
    """The reviewer's counterexample: weight 2 on fit, two specialists tied at 1.784."""
    w = Weights(fit=2.0)
    facts = CaseFacts(case_id="c0", diagnosis_code="C50.911", jurisdiction="US-CA", language="en")
    wanted = Wanted(("207RX0202X", "207RH0003X", "2084N0400X"))
    twins = [Specialist(specialist_id=f"s{i}", npi="1234567893", specialties=("207RH0003X",),
                        licences=(Licence("US-CA", date(2099, 1, 1)),), languages=frozenset({"en"}), capacity=2,
                        free_slots=2, focus=(CodeRange("C50", "C50"),),
                        certifications=(Certification("B", "207RH0003X", date(2099, 1, 1)),),
                        turnaround_days=7.0, quality=0.0028) for i in range(2)]
    expected = [c.specialist.specialist_id for c in rank(facts, wanted, twins, TODAY, w)[0]]
    assert [c.specialist.specialist_id for c in DirectoryIndex(twins, w).best_first(facts, wanted, TODAY)] == expected


def test_a_walk_under_way_survives_the_index_changing_under_it():
    directory = [Specialist(specialist_id=f"s{i}", npi="1234567893", specialties=("207RX0202X",),
                            licences=(Licence("US-CA", date(2099, 1, 1)),), languages=frozenset({"en"}), capacity=2,
                            free_slots=2, certifications=(Certification("B", "207RX0202X", date(2099, 1, 1)),),
                            quality=0.9 - i / 10) for i in range(4)]
    facts = CaseFacts(case_id="c1", diagnosis_code="C50.911", jurisdiction="US-CA", language="en")
    wanted = _wanted(facts)
    index = DirectoryIndex(directory)
    walk = index.best_first(facts, wanted, TODAY)
    assert next(walk).specialist.specialist_id == "s0"
    moved = dataclasses.replace(directory[1], licences=(Licence("US-NY", date(2099, 1, 1)),))
    index.put(moved)  # s1 leaves California while the walk waits on a reservation
    assert [c.specialist.specialist_id for c in walk] == ["s2", "s3"]  # judged as the index holds it now


@settings(max_examples=100, deadline=None)
@given(directories(), directories(), cases)
def test_the_index_kept_up_to_date_answers_as_one_built_afresh(before, after, facts):
    """Specialists changed one by one (put) and slots taken give the same order as an
    index built from the directory as it ends up."""
    index = DirectoryIndex(before)
    for s in after:
        index.put(s)
    for s in after[:3]:
        index.slots_taken(s.specialist_id, 1)
    final = {s.specialist_id: s for s in before}
    final.update({s.specialist_id: index.get(s.specialist_id) for s in after})
    wanted = _wanted(facts)
    expected = [c.specialist.specialist_id for c in rank(facts, wanted, list(final.values()), TODAY)[0]]
    assert [c.specialist.specialist_id for c in index.best_first(facts, wanted, TODAY)] == expected
