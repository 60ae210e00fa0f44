"""Checking a command's input field by field: every violation is collected, named
by its field path and the rule it breaks, and refused together (errors.InvalidInput)."""

from __future__ import annotations

import email_validator
import phonenumbers

from secondlook.codes import language_problem, normalise_icd10, npi_is_valid

Violation = tuple[str, str]  # (field path, rule)


def enum_problem(enum, value: int, prefix: str) -> str | None:
    """Why `value` is no choice of the protobuf `enum` (its first value, 0, being "not
    given"), or None: not given, or a number the contract does not have (a client
    built on another version, a typo), each said as such, with the choices."""
    if value in enum.values() and value != 0:
        return None
    known = ", ".join(n.removeprefix(prefix) for n in enum.keys()[1:])
    return f"is required: one of {known}" if value == 0 else f"must be one of {known} ({value} is none of them)"


class Checks:
    """Collects a command's violations, (field path, rule), so that every one is
    reported at once; each helper returns the cleaned value (or a stand-in)."""

    def __init__(self) -> None:
        self.violations: list[Violation] = []

    def add(self, path: str, rule: str) -> None:
        self.violations.append((path, rule))

    def text(self, path: str, value: str, limit: int, *, required: str | None = None) -> str:
        value = value.strip()
        if not value and required is not None:
            self.add(path, f"is required ({required})")
        elif len(value) > limit:
            self.add(path, f"must be at most {limit} characters")
        return value

    def icd10(self, path: str, code: str, *, required: bool) -> str:
        normalised = normalise_icd10(code)
        if not code:
            if required:
                self.add(path, "is required (an ICD-10-CM code)")
        elif normalised is None:
            self.add(path, f"{code[:20]!r} is not an ICD-10-CM category or code")
        return normalised or ""

    def npi(self, path: str, npi: str, *, required: bool) -> str:
        if not npi:
            if required:
                self.add(path, "is required (a 10-digit NPI)")
        elif not npi_is_valid(npi):
            self.add(path, "must be a 10-digit NPI whose last digit is its Luhn check digit")
        return npi

    def email(self, path: str, value: str) -> str:
        """The address in its normalised form ("" when none was given): syntax only,
        by email-validator, no DNS lookup; spaces around it are not part of it."""
        value = value.strip()
        if not value:
            return ""
        try:
            return email_validator.validate_email(value, check_deliverability=False).normalized
        except email_validator.EmailNotValidError as exc:
            self.add(path, f"is not an e-mail address: {str(exc)[:120]}")
            return ""

    def phone(self, path: str, value: str, *, region: str | None) -> str:
        """The number in E.164 ("" when none was given): a valid number, by phonenumbers,
        written with its "+" and country code, without an extension. A number without
        "+" is read as dialled in `region` (ISO 3166-1 alpha-2: the country of the
        patient's jurisdiction or of the specialist's first licence), as systems of
        record in the US keep them: (415) 555-2671."""
        if not value:
            return ""
        try:
            number = phonenumbers.parse(value, None if value.startswith("+") else region) \
                if value.startswith("+") or region else None
        except phonenumbers.NumberParseException:
            number = None
        if number is None or not phonenumbers.is_valid_number(number) or number.extension:
            national = f" or a number of {region} ((415) 555-2671)" if region == "US" else \
                f" or a national number of {region}" if region else ""
            self.add(path, f"must be a valid phone number, international in E.164 form (+14155552671){national}, "
                           "without an extension")
            return ""
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    def language(self, path: str, tag: str, *, required: bool) -> str:
        """The BCP-47 tag in its standard form ("" when none was given and none is required)."""
        if not tag and not required:
            return ""
        standard, problem = language_problem(tag)
        if problem:
            self.add(path, problem)
        return standard or ""

    def most(self, path: str, items, limit: int) -> list:
        """The first `limit` of `items`, the ones to check one by one: past the limit
        the list is refused as a whole, and its other entries cost nothing."""
        if len(items) > limit:
            self.add(path, f"must have at most {limit} entries")
        return list(items[:limit])


# A reviewer's request for more information (review asks, intake keeps it with the case).
MAX_QUESTIONS, MAX_QUESTION_CHARS = 10, 2_000


def question_violations(questions: list[str]) -> list[Violation]:
    """1 to MAX_QUESTIONS questions, none blank, repeated or longer than MAX_QUESTION_CHARS."""
    if not questions:
        return [("questions", "at least one question is required")]
    checks = Checks()
    if len(questions) > MAX_QUESTIONS:
        checks.add("questions", f"at most {MAX_QUESTIONS} questions")
    asked: dict[str, int] = {}
    for i, q in enumerate(questions[:MAX_QUESTIONS]):
        text = checks.text(f"questions[{i}]", q, MAX_QUESTION_CHARS, required="a question")
        if text and asked.setdefault(" ".join(text.split()).casefold(), i) != i:
            checks.add(f"questions[{i}]", f"repeats questions[{asked[' '.join(text.split()).casefold()]}]")
    return checks.violations
