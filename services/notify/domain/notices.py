"""What an e-mail notice says, and in which language: pure rules, no I/O.

A notice carries the minimum necessary: that something is ready or needed and
where to sign in. Never a name, a diagnosis, the opinion, or anything else of
the case: the recipient reads those after signing in. So the only things a
template sees are the portal's address and whether the case is expedited (and,
in a reviewer's or operations' message, the event's ids, codes and times:
events carry no PHI), and nothing of the case can reach a message whatever a
template says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .routing import EMAIL, SMS, TEMPLATES_BY_CHANNEL

DEFAULT_LANGUAGE = "en"
TEMPLATES = TEMPLATES_BY_CHANNEL[EMAIL]  # "<audience>_<kind>": who hears what (domain/routing.py)
PARTS = ("subject.txt", "txt", "html")  # each template: a subject line, a plain-text body, an HTML body
SMS_TEMPLATES = TEMPLATES_BY_CHANNEL[SMS]
SMS_PART = "sms.txt"  # a text message: one short paragraph
SMS_MAX_CHARS = 320  # a text's most: 3 GSM-7 segments (accented Spanish is UCS-2: 5)


@dataclass(frozen=True)
class SmsText:
    """A text message ready to send."""
    to: str  # E.164
    body: str
    message_id: str  # the delivery's id


@dataclass(frozen=True)
class NoticeContext:
    portal_url: str
    expedited: bool
    # A reviewer's or operations' message: ids, codes and times from the event
    # (domain/routing.py's message_facts). Never given to a patient's or physician's.
    facts: Mapping[str, str] = field(default_factory=dict)

    def as_template_values(self) -> dict:
        return {**self.facts, "portal_url": self.portal_url, "expedited": self.expedited}


def choose_language(requested: str, available: set[str]) -> str:
    """The language a recipient reads, of those there are templates for: the exact
    BCP-47 tag ("es-MX"), else its language ("es"), else English."""
    tag = requested.strip().lower().replace("_", "-")
    if tag in available:
        return tag
    primary = tag.split("-", 1)[0]
    return primary if primary in available else DEFAULT_LANGUAGE


def missing_translations(present: dict[str, set[str]]) -> list[tuple[str, str]]:
    """(language, file) for every template file English has and another language lacks."""
    english = present.get(DEFAULT_LANGUAGE, set())
    return sorted((lang, name) for lang, files in present.items() if lang != DEFAULT_LANGUAGE
                  for name in english - files)
