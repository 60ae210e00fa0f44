"""A directory as CSV, one specialist per row, read into the API's own message so
that an imported row passes exactly the checks UpsertSpecialist applies.

The header names the columns (any order, any case; only `specialist_id`, `npi`,
`specialties`, `licences`, `languages` and `capacity` are required). A list holds
items separated by ";", an item's parts by "|":

    specialties       207RX0202X;207RH0003X
    licences          US-CA|2027-06-30;NY|2028-01-31             (jurisdiction|expires; a bare
                                                                 two-letter code is a US state)
    certifications    ABIM|207RX0202X|2030-12-31                 (board|specialty|expires)
    languages         en;es-MX
    affiliations      org-0001|Northfield Hospital|1316000003    (id|name|npi, name and npi optional)
    declared_conflicts  as affiliations
    focus             C50;C34.1|C34.3                            (a code, or first|last)
    out_of_office     2026-12-01|2026-12-10                      (first|last)
    case_kinds        SECOND_OPINION;PRIOR_AUTH
    accepting         true or false (also yes/no, 1/0; empty is true)
    email             dr.ada.synth@reviewers.example     (where notices go; optional)
    phone             +14155552671                       (E.164, for text notices; optional)
    notice_language   es-MX                              (BCP-47; empty: the first of languages)
"""

from __future__ import annotations

import csv
import io
import math

from secondlook.codes import usps_as_subdivision
from secondlook.v1 import matching_pb2
from secondlook.v1.case_pb2 import CaseKind
from secondlook.validation import Violation

COLUMNS = ("specialist_id", "npi", "display_name", "specialties", "licences", "certifications", "languages",
           "capacity", "accepting", "years_in_practice", "affiliations", "declared_conflicts", "focus",
           "out_of_office", "case_kinds", "turnaround_days", "quality", "email", "phone", "notice_language")
REQUIRED = ("specialist_id", "npi", "specialties", "licences", "languages", "capacity")
MAX_ROWS = 20_000
TRUE, FALSE = {"true", "yes", "1", ""}, {"false", "no", "0"}


def _items(value: str) -> list[list[str]]:
    return [[part.strip() for part in item.split("|")] for item in value.split(";") if item.strip()]


class _Row:
    def __init__(self, where: str, row: dict[str, str]):
        self.where, self.row, self.violations = where, row, []

    def bad(self, column: str, rule: str) -> None:
        self.violations.append((f"{self.where}.{column}", rule))

    def parts(self, column: str, low: int, high: int, shape: str) -> list[list[str]]:
        items = _items(self.row.get(column) or "")
        for i, item in enumerate(items):
            if not low <= len(item) <= high:
                self.bad(f"{column}[{i}]", f"must be {shape}")
        return [item for item in items if low <= len(item) <= high]

    def number(self, column: str, kind, default):
        text = (self.row.get(column) or "").strip()
        if not text:
            return default
        try:
            value = kind(text)
        except ValueError:
            self.bad(column, f"{text[:20]!r} is not a{'n integer' if kind is int else ' number'}")
            return default
        if kind is float and not math.isfinite(value):
            self.bad(column, "must be a finite number")
            return default
        if kind is int and not -(2**31) <= value < 2**31:
            self.bad(column, f"{text[:20]!r} is out of range")
            return default
        return value


UNNAMED = "\x00unnamed-"  # the key of a column the header leaves unnamed (no real column starts so)


def read_csv(text: str) -> tuple[list[tuple[str, matching_pb2.Specialist]], list[Violation]]:
    """Each row as (where, message), and the violations of the file's shape (a missing
    column, a value that is not a number ...), named `rows[N].column` with N the
    row's line in the file (the header is line 1)."""
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff"), newline=""))  # a byte-order mark is no column
    try:
        header = [h.strip().lower() for h in reader.fieldnames or ()]  # NPI is npi
    except csv.Error as exc:
        return [], [("header", f"is not CSV: {exc}")]
    # Each column the header leaves unnamed (a spreadsheet's trailing commas) keeps a key
    # of its own, so a value under any of them is seen.
    reader.fieldnames = [h or f"{UNNAMED}{i}" for i, h in enumerate(header)]
    header = [h for h in header if h]
    problems: list[Violation] = []
    missing = [c for c in REQUIRED if c not in header]
    unknown = [c for c in header if c not in COLUMNS]
    repeated = sorted({c for c in header if header.count(c) > 1})
    if not header:
        return [], [("header", "the file is empty: the first line names the columns")]
    if repeated:
        problems.append(("header", f"names column(s) {', '.join(repeated)[:200]} twice"))
    if missing:
        problems.append(("header", f"lacks the column(s) {', '.join(missing)}"))
    if unknown:
        problems.append(("header", f"names unknown column(s) {', '.join(unknown)[:200]} (known: {', '.join(COLUMNS)})"))
    if problems:
        return [], problems
    out = []
    for line, raw in _rows(reader, problems):
        if line - 1 > MAX_ROWS:
            problems.append(("rows", f"more than {MAX_ROWS} rows: send the file in parts"))
            break
        if None in raw:
            problems.append((f"rows[{line}]", "has more values than the header has columns"))
            continue
        if not any((v or "").strip() for v in raw.values()):
            continue  # a row of empty cells (",,,,"): a spreadsheet's export, no specialist
        if any((v or "").strip() for k, v in raw.items() if k.startswith(UNNAMED)):
            problems.append((f"rows[{line}]", "has a value in a column the header does not name"))
            continue
        raw = {k: v for k, v in raw.items() if not k.startswith(UNNAMED)}
        r = _Row(f"rows[{line}]", {k: (v or "") for k, v in raw.items()})
        msg = matching_pb2.Specialist(
            specialist_id=r.row["specialist_id"].strip(), npi=r.row["npi"].strip(),
            display_name=r.row.get("display_name", "").strip(),
            specialties=[item[0] for item in r.parts("specialties", 1, 1, "a NUCC code")],
            languages=[item[0] for item in r.parts("languages", 1, 1, "a BCP-47 tag")],
            capacity=r.number("capacity", int, -1), years_in_practice=r.number("years_in_practice", int, 0),
            turnaround_days=r.number("turnaround_days", float, 5.0), quality=r.number("quality", float, 0.8),
            email=r.row.get("email", "").strip(), phone=r.row.get("phone", "").strip(),
            notice_language=r.row.get("notice_language", "").strip(),
        )
        accepting = r.row.get("accepting", "").strip().lower()
        if accepting not in TRUE | FALSE:
            r.bad("accepting", "must be true or false")
        msg.accepting = accepting in TRUE
        for jurisdiction, expires in r.parts("licences", 2, 2, "jurisdiction|expires, e.g. US-CA|2027-06-30"):
            msg.licences.add(jurisdiction=usps_as_subdivision(jurisdiction), expires=expires)
        for board, specialty, expires in r.parts("certifications", 3, 3, "board|specialty|expires"):
            msg.certifications.add(board=board, specialty=specialty, expires=expires)
        for column in ("affiliations", "declared_conflicts"):
            for item in r.parts(column, 1, 3, "id|name|npi (name and npi optional)"):
                item += [""] * (3 - len(item))
                getattr(msg, column).add(organization_id=item[0], name=item[1], npi=item[2])
        for item in r.parts("focus", 1, 2, "an ICD-10-CM code, or first|last"):
            msg.focus.add(first=item[0], last=item[-1])
        for first, last in r.parts("out_of_office", 2, 2, "first|last, e.g. 2026-12-01|2026-12-10"):
            msg.out_of_office.add(first=first, last=last)
        for i, (kind,) in enumerate(r.parts("case_kinds", 1, 1, "SECOND_OPINION or PRIOR_AUTH")):
            name = kind.upper() if kind.upper().startswith("CASE_KIND_") else f"CASE_KIND_{kind.upper()}"
            if name not in CaseKind.keys():
                r.bad(f"case_kinds[{i}]", f"{kind[:20]!r} is not SECOND_OPINION or PRIOR_AUTH")
            else:
                msg.case_kinds.append(CaseKind.Value(name))
        problems.extend(r.violations)
        out.append((r.where, msg))
    if not out and not problems:
        problems.append(("rows", "the file has a header and no specialist"))
    return out, problems


def _rows(reader: csv.DictReader, problems: list[Violation]):
    """(line, row) of every data row; a row that is not CSV ends the file, named."""
    line = reader.line_num  # the header's
    while True:
        try:
            raw = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            problems.append((f"rows[{line + 1}]", f"is not CSV: {exc}"))
            return
        line = reader.line_num
        yield line, raw


def write_csv(specialists: list[dict]) -> str:
    """Directory documents (the seed format, as `secondlook directory generate` writes
    them) as this CSV."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for s in specialists:
        def orgs(items):
            return ";".join(f"{o['organization_id']}|{o.get('name', '')}|{o.get('npi', '')}" for o in items)

        writer.writerow({
            "specialist_id": s["specialist_id"], "npi": s["npi"], "display_name": s.get("display_name", ""),
            "specialties": ";".join(s["specialties"]),
            "licences": ";".join(f"{x['jurisdiction']}|{x['expires']}" for x in s["licences"]),
            "certifications": ";".join(f"{c['board']}|{c['specialty']}|{c['expires']}"
                                       for c in s.get("certifications", ())),
            "languages": ";".join(s["languages"]), "capacity": s["capacity"],
            "accepting": "true" if s.get("accepting", True) else "false",
            "years_in_practice": s.get("years_in_practice", 0),
            "affiliations": orgs(s.get("affiliations", ())), "declared_conflicts": orgs(s.get("declared_conflicts", ())),
            "focus": ";".join(f"{f['first']}|{f['last']}" for f in s.get("focus", ())),
            "out_of_office": ";".join(f"{a['first']}|{a['last']}" for a in s.get("out_of_office", ())),
            "case_kinds": ";".join(s.get("case_kinds", ("SECOND_OPINION",))),
            "turnaround_days": s.get("turnaround_days", 5.0), "quality": s.get("quality", 0.8),
            "email": s.get("email", ""), "phone": s.get("phone", ""), "notice_language": s.get("notice_language", ""),
        })
    return buffer.getvalue()
