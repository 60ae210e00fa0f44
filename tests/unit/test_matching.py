from services.matching.domain.matcher import CaseFacts, Specialist, rank
from services.matching.domain.specialties import (
    HEMATOLOGY_ONCOLOGY,
    MEDICAL_ONCOLOGY,
    NEUROLOGY,
    UROLOGY,
    specialties_for,
)


def spec(sid, specialties=(MEDICAL_ONCOLOGY,), licensed=("US-CA",), languages=("en",), capacity=10, free=10,
         accepting=True, turnaround=3.0):
    return Specialist(sid, tuple(specialties), frozenset(licensed), frozenset(languages), capacity, free,
                      accepting, turnaround)


FACTS = CaseFacts("C50.911", "US-CA", "es-MX")


def test_specialties_cover_diagnoses_best_first():
    assert specialties_for("C50.911") == (MEDICAL_ONCOLOGY, HEMATOLOGY_ONCOLOGY)
    assert specialties_for("C61")[0] == UROLOGY
    assert specialties_for("G35")[0] == NEUROLOGY
    assert specialties_for("Z00.00") == ()


def test_hard_rules_filter_before_scoring():
    directory = [
        spec("wrong-specialty", specialties=(NEUROLOGY,), languages=("es",)),
        spec("no-licence", licensed=("US-NY",), languages=("es",)),
        spec("full", free=0, languages=("es",)),
        spec("not-accepting", accepting=False, languages=("es",)),
        spec("no-spanish", languages=("en", "fr")),
        spec("eligible", languages=("en", "es")),
    ]
    ranked, why = rank(FACTS, directory)
    assert [c.specialist.specialist_id for c in ranked] == ["eligible"]
    assert why == ""
    assert "licensed in US-CA" in ranked[0].explanation


def test_score_weighs_specialty_fit_above_free_capacity():
    directory = [
        spec("busy-onc", languages=("es",), free=4),
        spec("free-onc", languages=("es",), free=9),
        spec("heme", specialties=(HEMATOLOGY_ONCOLOGY,), languages=("es",), free=10),
    ]
    ranked, _ = rank(FACTS, directory)
    assert [c.specialist.specialist_id for c in ranked] == ["free-onc", "busy-onc", "heme"]
    assert ranked[0].specialty == MEDICAL_ONCOLOGY and ranked[2].specialty == HEMATOLOGY_ONCOLOGY


def test_nobody_eligible_explains_which_rules_failed():
    ranked, why = rank(FACTS, [spec("a", licensed=("US-NY",)), spec("b", free=0, languages=("es",))])
    assert ranked == []
    assert "licence" in why and "capacity" in why


def test_uncovered_diagnosis_is_explained():
    ranked, why = rank(CaseFacts("Z00.00", "US-CA", "en"), [spec("a")])
    assert ranked == [] and "no specialty" in why
