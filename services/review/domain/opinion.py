"""The structured opinion: its rules, its versions and the coded conclusions its
events carry.

A signed opinion is immutable: a correction is a new version with a reason, and
every version stays readable. Texts (recommendation, narrative, further tests,
the patient's summary, an amendment's reason) are PHI and stay in review's
store; events carry codes only. The first model's `Concordance` (SAME, REFINED,
DIFFERENT for both) is read forward when a client still sends it, and written
back on events for older readers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from secondlook.codes import normalise_icd10, normalise_procedure, procedure_code_problem
from secondlook.events import Event, new_event
from secondlook.v1 import events_pb2
from secondlook.v1.case_pb2 import Concordance, DiagnosisConcordance, TreatmentConcordance
from secondlook.v1.intake_pb2 import ProcedureCode
from secondlook.v1.review_pb2 import IndependentAssessment, Opinion
from secondlook.validation import enum_problem

C, D, T = Concordance, DiagnosisConcordance, TreatmentConcordance
FORWARD_DIAGNOSIS = {C.CONCORDANCE_SAME: D.DIAGNOSIS_CONCORDANCE_CONFIRMED,
                     C.CONCORDANCE_REFINED: D.DIAGNOSIS_CONCORDANCE_REFINED,
                     C.CONCORDANCE_DIFFERENT: D.DIAGNOSIS_CONCORDANCE_DIFFERENT}
FORWARD_TREATMENT = {C.CONCORDANCE_SAME: T.TREATMENT_CONCORDANCE_AGREE,
                     C.CONCORDANCE_REFINED: T.TREATMENT_CONCORDANCE_AGREE_WITH_MODIFICATIONS,
                     C.CONCORDANCE_DIFFERENT: T.TREATMENT_CONCORDANCE_ALTERNATIVE_RECOMMENDED}
BACK_DIAGNOSIS = {v: k for k, v in FORWARD_DIAGNOSIS.items()}
BACK_TREATMENT = {**{v: k for k, v in FORWARD_TREATMENT.items()},
                  T.TREATMENT_CONCORDANCE_NOT_RECOMMENDED: C.CONCORDANCE_DIFFERENT}

MAX_TEXT = 20_000
MAX_SUMMARY = 1_500
MAX_TESTS, MAX_TEST = 20, 500
MAX_PROCEDURES = 20
MAX_REASON = 2_000
MAX_DISPLAY = 200
MAX_VERSIONS = 20  # an opinion amended more often than this is a matter for operations


@dataclass(frozen=True)
class Assessment:
    """Blind review: what the reviewer concluded before seeing the first opinion's conclusions."""

    diagnosis_code: str  # ICD-10-CM, with its dot
    procedures: tuple[tuple[str, str, str], ...]  # (system, code, display)
    treatment: str
    recorded_at: datetime


def validate_assessment(msg: IndependentAssessment | None, path: str = "assessment") -> list[tuple[str, str]]:
    if msg is None:
        return [(path, "is required")]
    v = []
    code = msg.diagnosis_code.strip()
    if not code:
        v.append((f"{path}.diagnosis_code", "is required: the reviewer's own diagnosis, ICD-10-CM (e.g. C50.911)"))
    elif normalise_icd10(code) is None:
        v.append((f"{path}.diagnosis_code", "must be an ICD-10-CM code (e.g. C50.911)"))
    v += _procedure_problems(f"{path}.recommended_procedures", msg.recommended_procedures)
    if not msg.treatment.strip() and not msg.recommended_procedures:
        v.append((f"{path}.treatment", "is required (or recommended_procedures): the reviewer's own treatment"))
    elif len(msg.treatment) > MAX_TEXT:
        v.append((f"{path}.treatment", f"must be at most {MAX_TEXT} characters"))
    return v


def _procedure_problems(path: str, procedures) -> list[tuple[str, str]]:
    v = [(path, f"must be at most {MAX_PROCEDURES}")] if len(procedures) > MAX_PROCEDURES else []
    for i, p in enumerate(procedures[:MAX_PROCEDURES]):
        problem = procedure_code_problem(*normalise_procedure(p.system, p.code))
        if problem:
            v.append((f"{path}[{i}].{problem[0]}", problem[1]))
        if len(p.display) > MAX_DISPLAY:
            v.append((f"{path}[{i}].display", f"must be at most {MAX_DISPLAY} characters"))
    return v


def _procedures(codes) -> tuple[tuple[str, str, str], ...]:
    return tuple((*normalise_procedure(p.system, p.code), p.display) for p in codes)


def _procedure_messages(procedures: tuple[tuple[str, str, str], ...]) -> list[ProcedureCode]:
    return [ProcedureCode(system=s, code=c, display=d) for s, c, d in procedures]


def assessment_of(msg: IndependentAssessment, now: datetime) -> Assessment:
    return Assessment(diagnosis_code=normalise_icd10(msg.diagnosis_code) or "",
                      procedures=_procedures(msg.recommended_procedures), treatment=msg.treatment.strip(),
                      recorded_at=now)


def assessment_message(a: Assessment) -> IndependentAssessment:
    msg = IndependentAssessment(diagnosis_code=a.diagnosis_code, treatment=a.treatment,
                                recommended_procedures=_procedure_messages(a.procedures))
    msg.recorded_at.FromDatetime(a.recorded_at)
    return msg


@dataclass(frozen=True)
class OpinionRecord:
    """One signed version of an opinion."""

    opinion_id: str
    assignment_id: str
    case_id: str
    specialist_id: str
    version: int
    diagnosis: int  # DiagnosisConcordance
    reviewer_diagnosis_code: str  # ICD-10-CM, with its dot
    treatment: int  # TreatmentConcordance
    procedures: tuple[tuple[str, str, str], ...]  # (system, code, display)
    recommendation: str
    narrative: str
    further_tests: tuple[str, ...]
    patient_summary: str
    confidence: int
    submitted_at: datetime
    amendment_reason: str = ""
    blind: bool = False  # signed after a blind first assessment, kept beside it
    assessment: Assessment | None = None

    @property
    def diagnosis_concordance(self) -> int:  # the first model's, for older readers
        return BACK_DIAGNOSIS.get(self.diagnosis, C.CONCORDANCE_UNSPECIFIED)

    @property
    def treatment_concordance(self) -> int:
        return BACK_TREATMENT.get(self.treatment, C.CONCORDANCE_UNSPECIFIED)


def concordances(opinion: Opinion) -> tuple[int, int]:
    """(diagnosis, treatment), the first model's values read forward when the new ones are unset."""
    diagnosis = opinion.diagnosis or FORWARD_DIAGNOSIS.get(opinion.diagnosis_concordance, 0)
    treatment = opinion.treatment or FORWARD_TREATMENT.get(opinion.treatment_concordance, 0)
    return diagnosis, treatment


def validate_opinion(opinion: Opinion | None, path: str = "opinion",
                     case_diagnosis_code: str = "") -> list[tuple[str, str]]:
    """Every rule the opinion breaks, by field (`case_diagnosis_code`: the diagnosis a
    CONFIRMED opinion confirms)."""
    if opinion is None:
        return [(path, "is required")]
    v: list[tuple[str, str]] = []
    diagnosis, treatment = concordances(opinion)
    for new, old, forward in (("diagnosis", "diagnosis_concordance", FORWARD_DIAGNOSIS),
                              ("treatment", "treatment_concordance", FORWARD_TREATMENT)):
        given = getattr(opinion, old)
        if getattr(opinion, new) and given and forward.get(given) != getattr(opinion, new) and not (
                new == "treatment" and BACK_TREATMENT.get(getattr(opinion, new)) == given):
            v.append((f"{path}.{old}", f"contradicts {new}: send {new} alone"))
    if problem := enum_problem(D, diagnosis, "DIAGNOSIS_CONCORDANCE_"):
        v.append((f"{path}.diagnosis", problem))
    code = opinion.reviewer_diagnosis_code.strip()
    if code:
        if normalise_icd10(code) is None:
            v.append((f"{path}.reviewer_diagnosis_code", "must be an ICD-10-CM code (e.g. C50.911)"))
        elif diagnosis == D.DIAGNOSIS_CONCORDANCE_CONFIRMED and case_diagnosis_code and \
                normalise_icd10(code) != normalise_icd10(case_diagnosis_code):
            v.append((f"{path}.reviewer_diagnosis_code", f"a CONFIRMED diagnosis is the case's ({case_diagnosis_code}): "
                                                         "leave it empty, or say REFINED or DIFFERENT"))
    elif diagnosis in (D.DIAGNOSIS_CONCORDANCE_REFINED, D.DIAGNOSIS_CONCORDANCE_DIFFERENT):
        v.append((f"{path}.reviewer_diagnosis_code", "is required when the diagnosis is REFINED or DIFFERENT"))
    if problem := enum_problem(T, treatment, "TREATMENT_CONCORDANCE_"):
        v.append((f"{path}.treatment", problem))
    v += _procedure_problems(f"{path}.recommended_procedures", opinion.recommended_procedures)
    if treatment not in (0, T.TREATMENT_CONCORDANCE_AGREE) and not opinion.recommendation.strip() \
            and not opinion.recommended_procedures:
        v.append((f"{path}.recommendation", "is required (or recommended_procedures) unless the treatment is AGREE"))
    for name in ("recommendation", "narrative"):
        if len(getattr(opinion, name)) > MAX_TEXT:
            v.append((f"{path}.{name}", f"must be at most {MAX_TEXT} characters"))
    if len(opinion.further_tests) > MAX_TESTS:
        v.append((f"{path}.further_tests", f"must be at most {MAX_TESTS}"))
    for i, test in enumerate(opinion.further_tests[:MAX_TESTS]):
        if not test.strip() or len(test) > MAX_TEST:
            v.append((f"{path}.further_tests[{i}]", f"must be 1 to {MAX_TEST} characters"))
    if not opinion.patient_summary.strip():
        v.append((f"{path}.patient_summary", "is required: the opinion in plain language, for the patient"))
    elif len(opinion.patient_summary) > MAX_SUMMARY:
        v.append((f"{path}.patient_summary", f"must be at most {MAX_SUMMARY} characters"))
    if not 0 <= opinion.confidence <= 100:
        v.append((f"{path}.confidence", "must be between 0 and 100"))
    for name, what in (("attestation", "the opinion is their own, independent one"),
                       ("no_conflict_of_interest", "they have no conflict of interest with the case"),
                       ("all_records_reviewed", "they reviewed all the case's records")):
        if not getattr(opinion, name):
            v.append((f"{path}.{name}", f"must be true: the reviewer attests {what}"))
    return v


def validate_reason(reason: str) -> list[tuple[str, str]]:
    if not reason.strip():
        return [("reason", "is required: why the opinion is amended")]
    if len(reason) > MAX_REASON:
        return [("reason", f"must be at most {MAX_REASON} characters")]
    return []


def record_of(opinion: Opinion, *, opinion_id: str, assignment_id: str, case_id: str, specialist_id: str,
              case_diagnosis_code: str, version: int, now: datetime, reason: str = "",
              assessment: Assessment | None = None) -> OpinionRecord:
    """A valid opinion (validate_opinion found nothing) as the version it signs."""
    diagnosis, treatment = concordances(opinion)
    code = opinion.reviewer_diagnosis_code.strip()
    return OpinionRecord(
        opinion_id=opinion_id, assignment_id=assignment_id, case_id=case_id, specialist_id=specialist_id,
        version=version, diagnosis=diagnosis,
        reviewer_diagnosis_code=normalise_icd10(code) if code else case_diagnosis_code, treatment=treatment,
        procedures=_procedures(opinion.recommended_procedures),
        recommendation=opinion.recommendation.strip(), narrative=opinion.narrative.strip(),
        further_tests=tuple(t.strip() for t in opinion.further_tests), patient_summary=opinion.patient_summary.strip(),
        confidence=opinion.confidence, submitted_at=now, amendment_reason=reason.strip(),
        blind=assessment is not None, assessment=assessment,
    )


def opinion_message(r: OpinionRecord) -> Opinion:
    return Opinion(
        diagnosis_concordance=r.diagnosis_concordance, treatment_concordance=r.treatment_concordance,
        recommendation=r.recommendation, narrative=r.narrative, confidence=r.confidence, attestation=True,
        diagnosis=r.diagnosis, reviewer_diagnosis_code=r.reviewer_diagnosis_code, treatment=r.treatment,
        recommended_procedures=_procedure_messages(r.procedures),
        further_tests=list(r.further_tests), patient_summary=r.patient_summary, no_conflict_of_interest=True,
        all_records_reviewed=True,
    )


def conclusions(r: OpinionRecord) -> events_pb2.OpinionSubmitted:
    """What the opinion's events carry: codes and numbers, no text."""
    return events_pb2.OpinionSubmitted(
        assignment_id=r.assignment_id, specialist_id=r.specialist_id, opinion_id=r.opinion_id,
        diagnosis_concordance=r.diagnosis_concordance, treatment_concordance=r.treatment_concordance,
        diagnosis=r.diagnosis, reviewer_diagnosis_code=r.reviewer_diagnosis_code, treatment=r.treatment,
        recommended_procedure_codes=[f"{s}:{c}" for s, c, _ in r.procedures], confidence=r.confidence,
        version=r.version, blind=r.blind,
    )


def opinion_amended(r: OpinionRecord, *, tenant_id: str, traceparent: str, now: datetime) -> Event:
    return new_event(events_pb2.OpinionAmended(opinion=conclusions(r)), case_id=r.case_id, tenant_id=tenant_id,
                     producer="review", traceparent=traceparent, occurred_at=now)
