"""The directory's admin side: a specialist checked field by field, and the use
cases that list, change and deactivate them (in-memory fakes)."""

from __future__ import annotations

import math
from datetime import date

import pytest

from secondlook.clock import FakeClock
from secondlook.v1 import matching_pb2
from secondlook.v1.case_pb2 import CaseKind
from services.matching import reference, usecases
from services.matching.domain.directory import DirectoryQuery
from services.matching.domain.registration import validate_specialist
from tests.fakes.matching import InMemoryDirectory, matching_transact

NOW = FakeClock().now()


def good(**changes) -> matching_pb2.Specialist:
    msg = matching_pb2.Specialist(
        specialist_id="spec-new", npi="1234567893", display_name="Dr. Ada Synth (synthetic)",
        specialties=["207RX0202X"], focus=[matching_pb2.CodeRange(first="c50", last="C50")],
        licences=[matching_pb2.Licence(jurisdiction="us-ca", expires="2099-06-30")],
        certifications=[matching_pb2.Certification(board="ABIM", specialty="207RX0202X", expires="2099-12-31")],
        years_in_practice=12, languages=["en", "es-MX"],
        affiliations=[matching_pb2.DirectoryOrganization(organization_id="org-a", name="Alpha Hospital")],
        capacity=3, accepting=True, case_kinds=[CaseKind.CASE_KIND_SECOND_OPINION], turnaround_days=2.5, quality=0.9,
    )
    for name, value in changes.items():
        if isinstance(value, list):
            msg.ClearField(name)
            getattr(msg, name).extend(value)
        else:
            setattr(msg, name, value)
    return msg


def _validate(msg):
    return validate_specialist(msg, reference.taxonomy())


def test_a_good_specialist_is_read_and_normalised():
    s, violations = _validate(good())
    assert violations == []
    assert s.licences[0].jurisdiction == "US-CA" and s.licences[0].expires == date(2099, 6, 30)
    assert s.focus[0].first == "C50" and s.languages == {"en", "es-MX"}
    assert s.case_kinds == {CaseKind.CASE_KIND_SECOND_OPINION}
    no_kinds, _ = _validate(good(case_kinds=[]))
    assert no_kinds.case_kinds == {CaseKind.CASE_KIND_SECOND_OPINION}  # empty reads as second opinions only


def test_codes_and_addresses_are_read_in_their_one_spelling():
    s, violations = _validate(good(
        specialties=["207rx0202x "], licences=[matching_pb2.Licence(jurisdiction="US-CA ", expires="2099-06-30")],
        certifications=[matching_pb2.Certification(board="ABIM", specialty=" 207rx0202x", expires="2099-12-31")],
        email=" ada@example.org "))
    assert violations == []
    assert s.specialties == ("207RX0202X",) and s.certifications[0].specialty == "207RX0202X"
    assert s.licences[0].jurisdiction == "US-CA" and s.email == "ada@example.org"


def test_every_violation_is_named_by_its_path_at_once():
    bad = good(specialist_id="no spaces!", npi="1234567890", specialties=["207RX0202X", "999999999X"],
               languages=["en", "xx-!!"], capacity=-1, quality=math.nan, turnaround_days=-2, years_in_practice=99)
    bad.licences.add(jurisdiction="US-ZZ", expires="2099-02-30")
    bad.focus.add(first="C60", last="C50")
    bad.certifications.add(board="", specialty="207RX0202X", expires="soon")
    bad.out_of_office.add(first="2026-12-10", last="2026-12-01")
    bad.affiliations.add(organization_id="", name="x", npi="12")
    bad.case_kinds.append(CaseKind.CASE_KIND_UNSPECIFIED)
    s, violations = _validate(bad)
    assert s is None
    paths = {path for path, _ in violations}
    assert paths >= {"specialist_id", "npi", "specialties[1]", "languages[1]", "capacity", "quality",
                     "turnaround_days", "years_in_practice", "licences[1].jurisdiction", "licences[1].expires",
                     "focus[1]", "certifications[1].board", "certifications[1].expires", "out_of_office[0]",
                     "affiliations[1].organization_id", "affiliations[1].npi", "case_kinds[1]"}, paths
    assert dict(violations)["npi"] == "must be a 10-digit NPI whose last digit is its Luhn check digit"


@pytest.mark.parametrize("field", ["specialties", "licences", "languages"])
def test_a_specialist_needs_a_specialty_a_licence_and_a_language(field):
    _, violations = _validate(good(**{field: []}))
    assert [p for p, _ in violations] == [field]


async def test_upsert_creates_then_replaces_keeping_the_slots_in_use_and_tells_the_platform():
    transact = matching_transact()
    proposed, _ = _validate(good(capacity=3))
    created, is_new, changed = await transact(lambda uow: usecases.upsert_specialist(uow, proposed, 0, NOW))
    assert is_new and changed and created.version == 1 and created.free_slots == 3 and created.active
    # Two offers hold slots; the admin lowers the capacity to 1: one over, until an opinion comes back.
    assert await transact(lambda uow: uow.directory.reserve("spec-new", "a1"))
    assert await transact(lambda uow: uow.directory.reserve("spec-new", "a2"))
    smaller, _ = _validate(good(capacity=1, accepting=False))
    saved, is_new, _ = await transact(lambda uow: usecases.upsert_specialist(uow, smaller, 1, NOW))
    assert not is_new and saved.version == 2 and not saved.accepting
    assert transact.state.specialists["spec-new"].free_slots == -1
    changed = [e for e in transact.committed if e.type == "specialist.changed"]
    assert [(e.specialist_changed.version, e.specialist_changed.created) for e in changed] == [(1, True), (2, False)]
    assert changed[0].case_id == "spec-new" and changed[0].specialist_changed.jurisdictions == ["US-CA"]


async def test_the_same_details_again_are_no_new_version_and_nothing_told():
    transact = matching_transact()
    proposed, _ = _validate(good(capacity=3))
    await transact(lambda uow: usecases.upsert_specialist(uow, proposed, 0, NOW))
    assert await transact(lambda uow: uow.directory.reserve("spec-new", "a1"))  # a slot in use: still the same
    for expected in (0, 1):
        again, is_new, changed = await transact(lambda uow, e=expected: usecases.upsert_specialist(uow, proposed, e, NOW))
        assert (again.version, again.free_slots, is_new, changed) == (1, 2, False, False)
    assert [e.specialist_changed.version for e in transact.committed if e.type == "specialist.changed"] == [1]


async def test_a_stale_expected_version_changes_nothing():
    transact = matching_transact()
    proposed, _ = _validate(good())
    await transact(lambda uow: usecases.upsert_specialist(uow, proposed, 0, NOW))
    before = list(transact.committed)
    with pytest.raises(usecases.VersionConflict) as raised:
        await transact(lambda uow: usecases.upsert_specialist(uow, proposed, 7, NOW))
    assert raised.value.current == 1
    assert transact.committed == before and transact.state.specialists["spec-new"].version == 1
    with pytest.raises(usecases.VersionConflict):  # expecting a version of someone not listed
        await transact(lambda uow: usecases.upsert_specialist(uow, _validate(good(specialist_id="x"))[0], 1, NOW))


async def test_deactivation_is_told_once_and_unknown_ids_are_not_found():
    transact = matching_transact()
    proposed, _ = _validate(good())
    await transact(lambda uow: usecases.upsert_specialist(uow, proposed, 0, NOW))
    for _ in range(2):
        gone = await transact(lambda uow: usecases.deactivate_specialist(uow, "spec-new", NOW))
        assert not gone.active and gone.version == 2
    assert [e.specialist_changed.active for e in transact.committed if e.type == "specialist.changed"] == [True, False]
    with pytest.raises(usecases.NotFound):
        await transact(lambda uow: usecases.deactivate_specialist(uow, "nobody", NOW))


async def test_listing_filters_and_pages_in_id_order():
    transact = matching_transact()
    for i, (specialty, place, lang) in enumerate([("207RX0202X", "US-CA", "en"), ("2084N0400X", "US-CA", "es"),
                                                   ("207RX0202X", "US-NY", "es-MX"), ("207RX0202X", "US-CA", "es")]):
        proposed, _ = _validate(good(specialist_id=f"s{i}", specialties=[specialty], languages=[lang],
                                     licences=[matching_pb2.Licence(jurisdiction=place, expires="2099-01-01")],
                                     certifications=[]))
        await transact(lambda uow, p=proposed: usecases.upsert_specialist(uow, p, 0, NOW))
    directory = InMemoryDirectory(transact.state)
    today = NOW.date()
    page, after = await usecases.list_specialists(directory, DirectoryQuery(specialty="207RX0202X"), "", 2, today)
    assert [s.specialist_id for s in page] == ["s0", "s2"] and after == "s2"
    page, after = await usecases.list_specialists(directory, DirectoryQuery(specialty="207RX0202X"), after, 2, today)
    assert [s.specialist_id for s in page] == ["s3"] and after == ""
    spanish_ca = DirectoryQuery(jurisdiction="US-CA", language="es")
    assert [s.specialist_id for s in (await usecases.list_specialists(directory, spanish_ca, "", 10, today))[0]] \
        == ["s1", "s3"]


@pytest.mark.parametrize("changes, path", [
    (dict(specialist_id="dr-1\n"), "specialist_id"),
    (dict(languages=["root"]), "languages[0]"),
])
def test_a_trailing_line_break_or_an_undetermined_language_is_refused(changes, path):
    _, violations = _validate(good(**changes))
    assert [p for p, _ in violations] == [path]


def test_week_and_ordinal_dates_are_not_calendar_dates():
    msg = good()
    msg.licences[0].expires = "2027-W01-1"
    _, violations = _validate(msg)
    assert [p for p, _ in violations] == ["licences[0].expires"]


async def test_a_deactivated_specialist_stays_so_through_upserts_unless_reactivated():
    transact = matching_transact()
    proposed, _ = _validate(good())
    await transact(lambda uow: usecases.upsert_specialist(uow, proposed, 0, NOW))
    await transact(lambda uow: usecases.deactivate_specialist(uow, "spec-new", NOW))
    again, _, changed = await transact(lambda uow: usecases.upsert_specialist(uow, proposed, 0, NOW))
    assert not again.active and again.version == 2 and not changed  # the same details: no new version
    back, _, changed = await transact(lambda uow: usecases.upsert_specialist(uow, proposed, 0, NOW, reactivate=True))
    assert back.active and back.version == 3 and changed


def test_an_npi_an_active_specialist_holds_is_nobody_elses():
    import dataclasses

    from services.matching.domain.registration import npi_held_elsewhere
    listed_one, _ = _validate(good(specialist_id="dr-a"))
    other = dataclasses.replace(listed_one, specialist_id="dr-b")
    assert npi_held_elsewhere([other], [listed_one]) == {"dr-b": "dr-a"}
    assert npi_held_elsewhere([listed_one], [listed_one]) == {}  # their own, again
    assert npi_held_elsewhere([other], [dataclasses.replace(listed_one, active=False)]) == {}  # never offered again
    # A file that moves the NPI from dr-a to dr-b, and gives dr-a another, is one person each.
    moved = dataclasses.replace(listed_one, npi="1245319599")
    assert npi_held_elsewhere([other, moved], [listed_one]) == {}
    # A deactivated id that keeps its NPI while another holds it may still be corrected,
    # unless it asks to come back; and a pair listed before the rule stays updatable.
    old, new = dataclasses.replace(listed_one, active=False), dataclasses.replace(listed_one, specialist_id="dr-b")
    renamed = dataclasses.replace(old, display_name="Dr. A. Renamed (synthetic)")
    assert npi_held_elsewhere([renamed], [old, new]) == {}
    assert npi_held_elsewhere([renamed], [old, new], reactivate=True) == {"dr-a": "dr-b"}
    assert npi_held_elsewhere([dataclasses.replace(listed_one, capacity=9)], [listed_one, new]) == {}


async def test_a_specialist_seeded_without_a_version_takes_version_1_on_any_upsert():
    import dataclasses
    transact = matching_transact()
    proposed, _ = _validate(good())
    await transact(lambda uow: usecases.upsert_specialist(uow, proposed, 0, NOW))
    seeded = dataclasses.replace(transact.state.specialists["spec-new"], version=0)
    transact.state.specialists["spec-new"] = seeded
    again, _, changed = await transact(lambda uow: usecases.upsert_specialist(uow, proposed, 0, NOW))
    assert changed and again.version == 1
