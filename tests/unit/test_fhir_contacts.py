"""Choosing the ContactPoint a notice uses (secondlook.fhir.contacts)."""

from datetime import date

from secondlook.fhir import contacts


def test_the_first_kind_wanted_wins_then_the_preferred_use_then_rank_then_order():
    points = [{"system": "phone", "value": "1", "use": "mobile", "rank": 3},
              {"system": "phone", "value": "2", "use": "mobile", "rank": 1},
              {"system": "email", "value": "home@example.org", "use": "home", "rank": 1},
              {"system": "email", "value": "work@example.org", "use": "work"}]
    assert contacts.pick(points, contacts.PATIENT_TEXTS) == (1, "2")
    assert contacts.pick(points, contacts.EMAIL) == (2, "home@example.org")
    assert contacts.pick(points, contacts.EMAIL, first_use="work") == (3, "work@example.org")


def test_old_blank_and_malformed_points_are_never_chosen():
    points = ["not a point", {"system": "sms", "value": "  "}, {"system": "sms", "value": 5},
              {"system": "sms", "value": "9", "use": "old"}, {"system": "phone", "value": " 7 ", "rank": "high"}]
    assert contacts.pick(points, contacts.PATIENT_TEXTS) == (4, "7")
    assert contacts.pick(None, contacts.EMAIL) is None and contacts.pick({"a": 1}, contacts.EMAIL) is None


def test_a_practitioners_phone_takes_texts_only_when_said_to_be_mobile():
    office = [{"system": "phone", "value": "1"}, {"system": "phone", "value": "2", "use": "home"}]
    assert contacts.pick(office, contacts.PRACTITIONER_TEXTS) is None
    assert contacts.pick(office, contacts.PATIENT_TEXTS) == (0, "1")


def test_a_point_whose_period_ended_is_no_longer_in_use():
    points = [{"system": "phone", "value": "1", "use": "mobile", "period": {"end": "2024-03"}},
              {"system": "phone", "value": "2", "period": {"end": "2099-01-01"}}]
    assert contacts.pick(points, contacts.PATIENT_TEXTS, today=date(2026, 11, 28)) == (1, "2")
    assert contacts.pick(points, contacts.PATIENT_TEXTS) == (0, "1")  # no day given: periods not read
