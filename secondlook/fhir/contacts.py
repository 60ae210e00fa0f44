"""Choosing the ContactPoint (Patient.telecom, Practitioner.telecom) a notice uses.

Records keep several: a home and a mobile phone, a work and a personal e-mail, old
ones. A notice needs one of a given kind, and a text message needs a phone that takes
texts. Pure: no I/O.
"""

from __future__ import annotations

from datetime import date
from typing import Any

ANY_USE = None  # a wanted (system, use) whose use does not matter
NO_USE = ""  # a wanted (system, use) whose point says no use at all

# A text message goes to a point of system `sms`, else a mobile phone. For a patient,
# then a phone whose use is not said (often the mobile), then a home phone (often the
# mobile too; a text a landline cannot take ends at the provider's refusal). A work
# phone is an office line: never texted, and a practitioner's phones are the office's
# unless said to be mobile.
PATIENT_TEXTS = (("sms", ANY_USE), ("phone", "mobile"), ("phone", NO_USE), ("phone", "home"))
PRACTITIONER_TEXTS = (("sms", ANY_USE), ("phone", "mobile"))
EMAIL = (("email", ANY_USE),)


def in_use(element: dict, today: date | None) -> bool:
    """Whether an element (a ContactPoint, an Address) is in use `today` by its `period`:
    not ended before it, not starting after it (partial dates compared as far as they go:
    "2020-01" ended by February 2020). Without `today`, periods are not read."""
    period = element.get("period")
    if today is None or not isinstance(period, dict):
        return True
    start, end = period.get("start"), period.get("end")
    ended = isinstance(end, str) and end[:10] < today.isoformat()[:len(end[:10])]
    starts_later = isinstance(start, str) and start[:10] > today.isoformat()[:len(start[:10])]
    return not ended and not starts_later


def pick(points: Any, wanted: tuple[tuple[str, str | None], ...], *, first_use: str | None = None,
         today: date | None = None) -> tuple[int, str] | None:
    """(index, value) of a point of the first kind in `wanted` ((system, use)) that
    `points` hold, or None. Among points of that kind: one of use `first_use` first,
    then the lowest `rank`, then the first listed. A point of use `old`, or whose
    period is not in effect `today`, is not in use; one without a value says nothing."""
    if not isinstance(points, list):
        return None
    usable = [(i, p) for i, p in enumerate(points) if isinstance(p, dict) and isinstance(p.get("value"), str)
              and p["value"].strip() and p.get("use") != "old" and in_use(p, today)]

    def order(found: tuple[int, dict]) -> tuple[bool, int, int]:
        i, p = found
        rank = p.get("rank")
        ranked = rank if isinstance(rank, int) and not isinstance(rank, bool) and rank > 0 else 2**31
        return first_use is not None and p.get("use") != first_use, ranked, i

    for system, use in wanted:
        found = [(i, p) for i, p in usable if p.get("system") == system
                 and (use is ANY_USE or (p.get("use") or NO_USE) == use)]
        if found:
            i, p = min(found, key=order)
            return i, p["value"].strip()
    return None
