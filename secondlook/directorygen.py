"""A synthetic specialist directory: realistic in shape, fictional in every name and
number (NPIs are valid in form, drawn at random; organisations are invented). Used by
`secondlook directory generate`, the tests and the matching benchmark.

Distributions, roughly after US physician workforce figures: specialties weighted
towards the areas second opinions are asked for (oncology, cardiology, orthopaedics,
neurology ...); licences in a home state weighted by population plus a few more
(compact states); English for everyone, Spanish for about one in five, a few other
languages; capacity 2 to 15; turnaround around four days; most licences and
certifications valid for one to four more years, a few already expired. Each has a
work e-mail in the reserved `reviewers.example` domain (notices to reviewers in a demo).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, timedelta

from secondlook.codes import npi_check_digit

# NUCC code, relative weight, certifying board, focus ranges (ICD-10-CM) a subspecialist may hold.
SPECIALTIES: list[tuple[str, float, str, list[tuple[str, str]]]] = [
    ("207RX0202X", 9, "ABIM", [("C50", "C50"), ("C34", "C34"), ("C18", "C20"), ("C25", "C25")]),
    ("207RH0003X", 6, "ABIM", [("C81", "C86"), ("C90", "C90"), ("C91", "C95")]),
    ("207RH0000X", 2, "ABIM", [("D50", "D64"), ("D65", "D69")]),
    ("2086X0206X", 3, "ABS", [("C50", "C50"), ("C15", "C26")]),
    ("2085R0001X", 3, "ABR", [("C50", "C50"), ("C61", "C61"), ("C71", "C71")]),
    ("207VX0201X", 2, "ABOG", [("C53", "C53"), ("C56", "C56")]),
    ("207RC0000X", 9, "ABIM", [("I20", "I25"), ("I34", "I37")]),
    ("207RC0001X", 2, "ABIM", [("I47", "I49")]),
    ("207RA0001X", 2, "ABIM", [("I50", "I50")]),
    ("207RI0011X", 3, "ABIM", [("I20", "I25")]),
    ("208G00000X", 2, "ABTS", [("I34", "I37"), ("C34", "C34")]),
    ("2084N0400X", 7, "ABPN", [("G35", "G37"), ("G40", "G40"), ("G20", "G21")]),
    ("2084V0102X", 2, "ABPN", [("I63", "I63")]),
    ("207T00000X", 4, "ABNS", [("C71", "C71"), ("M48", "M48")]),
    ("207X00000X", 7, "ABOS", [("M16", "M17"), ("M75", "M75")]),
    ("207XS0117X", 3, "ABOS", [("M47", "M51")]),
    ("207XS0114X", 2, "ABOS", [("M16", "M17")]),
    ("207RR0500X", 4, "ABIM", [("M05", "M06"), ("M32", "M32")]),
    ("207RG0100X", 5, "ABIM", [("K50", "K51"), ("K21", "K22")]),
    ("207RI0008X", 1, "ABIM", [("K70", "K76")]),
    ("208800000X", 4, "ABU", [("C61", "C61"), ("N20", "N20")]),
    ("207RN0300X", 3, "ABIM", [("N18", "N18"), ("N04", "N05")]),
    ("207RE0101X", 4, "ABIM", [("E10", "E11"), ("C73", "C73")]),
    ("207RP1001X", 4, "ABIM", [("J44", "J45"), ("J84", "J84")]),
    ("208000000X", 3, "ABP", []),
    ("2080P0202X", 1, "ABP", [("Q20", "Q26")]),
    ("2080P0207X", 1, "ABP", [("C91", "C92")]),
    ("2080N0001X", 1, "ABP", [("P07", "P07")]),
    ("2084N0402X", 1, "ABPN", [("G40", "G40")]),
    ("207K00000X", 1, "ABAI", []),
    ("207RI0200X", 1, "ABIM", []),
    ("207N00000X", 1, "ABD", [("C43", "C43")]),
    ("207W00000X", 1, "ABO", []),
    ("207Y00000X", 1, "ABOto", [("C00", "C14")]),
    ("2084P0800X", 1, "ABPN", []),
]
# States by rough population weight (ISO 3166-2).
STATES: list[tuple[str, float]] = [
    ("US-CA", 39), ("US-TX", 30), ("US-FL", 22), ("US-NY", 20), ("US-PA", 13), ("US-IL", 12.5), ("US-OH", 11.8),
    ("US-GA", 11), ("US-NC", 10.7), ("US-MI", 10), ("US-NJ", 9.3), ("US-VA", 8.7), ("US-WA", 7.8), ("US-AZ", 7.4),
    ("US-TN", 7), ("US-MA", 7), ("US-IN", 6.8), ("US-MD", 6.2), ("US-MO", 6.2), ("US-WI", 5.9), ("US-CO", 5.9),
    ("US-MN", 5.7), ("US-SC", 5.3), ("US-AL", 5.1), ("US-LA", 4.6), ("US-KY", 4.5), ("US-OR", 4.2), ("US-OK", 4),
    ("US-CT", 3.6), ("US-UT", 3.4), ("US-IA", 3.2), ("US-NV", 3.2), ("US-AR", 3), ("US-MS", 2.9), ("US-KS", 2.9),
    ("US-NM", 2.1), ("US-NE", 2), ("US-ID", 1.9), ("US-WV", 1.8), ("US-HI", 1.4), ("US-NH", 1.4), ("US-ME", 1.4),
    ("US-MT", 1.1), ("US-RI", 1.1), ("US-DE", 1), ("US-SD", 0.9), ("US-ND", 0.8), ("US-AK", 0.7), ("US-DC", 0.7),
    ("US-VT", 0.6), ("US-WY", 0.6),
]
LANGUAGES: list[tuple[str, float]] = [("es", 0.2), ("zh", 0.04), ("vi", 0.02), ("fr", 0.03), ("ar", 0.02),
                                      ("hi", 0.03), ("ko", 0.02), ("ru", 0.02), ("pt", 0.02), ("de", 0.02)]
GIVEN = ["Ada", "Ravi", "Mateo", "Elena", "Grace", "Omar", "Lena", "Hiro", "Amara", "Jonas", "Priya", "Tomas",
         "Nadia", "Kwame", "Sofia", "Arjun", "Ines", "Felix", "Mei", "Yusuf"]
FAMILY = ["Moreau", "Singh", "Ibarra", "Costa", "Okafor", "Lindqvist", "Haddad", "Tanaka", "Novak", "Abebe",
          "Castillo", "Brennan", "Iyer", "Keller", "Osei", "Park", "Rossi", "Varga", "Weiss", "Zhou"]
ORG_KINDS = ["University Hospital", "Medical Center", "Cancer Institute", "Heart Institute", "Specialty Group",
             "Health System", "Clinic", "Children's Hospital"]
ORG_PLACES = ["Northfield", "Lakeside", "Summit", "Riverbend", "Harbor", "Pinecrest", "Eastgate", "Westbrook",
              "Stonebridge", "Maple Valley", "Redwood", "Clearwater", "Fairhaven", "Ironwood", "Silver Lake"]


def reviewer_email(given: str, family: str, number: int) -> str:
    """A fictional reviewer's work address, in a domain reserved for examples
    (RFC 2606: `.example` never resolves), unique by the specialist's number."""
    return f"dr.{given}.{family}.{number}@reviewers.example".lower()


def npi_with_check_digit(first_nine: str) -> str:
    return first_nine + npi_check_digit(first_nine)


def organizations(rng: random.Random, count: int = 120) -> list[dict]:
    orgs, seen = [], set()
    while len(orgs) < count:
        name = f"{rng.choice(ORG_PLACES)} {rng.choice(ORG_KINDS)} (synthetic)"
        if name in seen:
            continue
        seen.add(name)
        has_npi = rng.random() < 0.6
        orgs.append({"organization_id": f"org-{len(orgs):04d}", "name": name,
                     "npi": npi_with_check_digit("1" + f"{rng.randrange(10**8):08d}") if has_npi else ""})
    return orgs


def _weighted(rng: random.Random, items, k: int = 1):
    population = [i[0] for i in items]
    weights = [i[1] for i in items]
    return rng.choices(population, weights=weights, k=k)


def _day(today: date, low_days: int, high_days: int, rng: random.Random) -> str:
    return (today + timedelta(days=rng.randint(low_days, high_days))).isoformat()


def specialists(count: int, *, seed: int = 1, today: date | None = None, prefix: str = "syn") -> Iterator[dict]:
    """`count` specialists as directory documents (the seed format), the same for
    the same seed and day."""
    rng = random.Random(seed)
    today = today or date.today()
    orgs = organizations(rng)
    specialty_info = {code: (board, focus) for code, _, board, focus in SPECIALTIES}
    npis: set[str] = set()
    width = max(6, len(str(count)))
    for n in range(count):
        primary = _weighted(rng, [(s[0], s[1]) for s in SPECIALTIES])[0]
        codes = [primary]
        if rng.random() < 0.15:  # a second specialty
            second = _weighted(rng, [(s[0], s[1]) for s in SPECIALTIES])[0]
            if second != primary:
                codes.append(second)
        home = _weighted(rng, STATES)[0]
        places = {home, *(_weighted(rng, STATES, k=rng.choice([0, 0, 1, 1, 2, 3, 5])))}
        expired = rng.random() < 0.02
        licences = [{"jurisdiction": p, "expires": _day(today, -90, -1, rng) if expired and p == home
                     else _day(today, 120, 1400, rng)} for p in sorted(places)]
        certifications = [{"board": specialty_info[c][0], "specialty": c,
                           "expires": _day(today, -60, -1, rng) if rng.random() < 0.02 else _day(today, 200, 3000, rng)}
                          for c in codes if rng.random() < 0.95]
        focus_pool = specialty_info[primary][1]
        focus = [{"first": a, "last": b} for a, b in rng.sample(focus_pool, k=min(len(focus_pool), rng.choice([0, 1, 1, 2])))]
        languages = ["en", *(lang for lang, p in LANGUAGES if rng.random() < p)]
        while True:
            npi = npi_with_check_digit("1" + f"{rng.randrange(10**8):08d}")
            if npi not in npis:
                npis.add(npi)
                break
        absent = []
        if rng.random() < 0.03:
            start = today + timedelta(days=rng.randint(-10, 20))
            absent = [{"first": start.isoformat(), "last": (start + timedelta(days=rng.randint(3, 21))).isoformat()}]
        capacity = rng.randint(2, 15)
        given, family = rng.choice(GIVEN), rng.choice(FAMILY)
        yield {
            "specialist_id": f"{prefix}-{n:0{width}d}", "npi": npi,
            "display_name": f"Dr. {given} {family} (synthetic)",
            "email": reviewer_email(given, family, n),
            "specialties": codes, "focus": focus, "licences": licences, "certifications": certifications,
            "years_in_practice": rng.randint(2, 40), "languages": languages,
            "affiliations": rng.sample(orgs, k=rng.choice([1, 1, 1, 2, 3])), "declared_conflicts":
                rng.sample(orgs, k=1) if rng.random() < 0.05 else [],
            "capacity": capacity, "accepting": rng.random() < 0.9, "out_of_office": absent,
            "case_kinds": ["SECOND_OPINION", "PRIOR_AUTH"] if rng.random() < 0.3 else ["SECOND_OPINION"],
            "turnaround_days": round(min(14.0, max(0.5, rng.lognormvariate(1.3, 0.45))), 1),
            "quality": round(min(0.99, max(0.5, rng.betavariate(8, 2))), 2),
        }
