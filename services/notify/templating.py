"""notify's templates: Jinja2 files under templates/<language>/, autoescaped for
HTML; an e-mail is one message with a plain-text and an HTML part, a text message
one line (`<template>.sms.txt`).

A template a language lacks falls back to English (and `make test` names what is
missing: tests/unit/test_notify_templates.py). An operator customises the wording
by pointing `SECONDLOOK_NOTIFY_TEMPLATES_DIR` at a copy of this folder.
"""

from __future__ import annotations

import email.policy
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path

import jinja2

from .domain.notices import (
    DEFAULT_LANGUAGE,
    PARTS,
    SMS_MAX_CHARS,
    SMS_PART,
    NoticeContext,
    choose_language,
    missing_translations,
)

DEFAULT_DIR = Path(__file__).parent / "templates"


class _HeaderClasses(HeaderRegistry):
    """The standard header classes, each built once. The standard library's registry
    builds a new class for every header it is handed (`type(...)` per header): with it,
    composing an e-mail took ~1.2 ms, with this ~0.85."""

    def __init__(self) -> None:
        super().__init__()
        self._built: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        if (cls := self._built.get(key)) is None:
            cls = self._built[key] = super().__getitem__(name)
        return cls


# email.policy.default (RFC 5322, UTF-8 headers encoded as needed), its header classes built once.
POLICY = email.policy.default.clone(header_factory=_HeaderClasses())


class Templates:
    def __init__(self, folder: Path | None = None):
        self.folder = Path(folder or DEFAULT_DIR)
        self.languages = {p.name for p in self.folder.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))}
        if DEFAULT_LANGUAGE not in self.languages:
            raise ValueError(f"{self.folder}: no {DEFAULT_LANGUAGE}/ templates (every other language falls back "
                             f"to them)")
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(self.folder)), undefined=jinja2.StrictUndefined,
            auto_reload=False,  # read once: a deployment's templates do not change under it (no stat per message)
            autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
            keep_trailing_newline=True)
        # Which files each language has, read once as the templates are: no stat per message.
        self._files = self.present()

    def require(self, names: tuple[str, ...], part: str) -> None:
        """Stops a start whose templates lack what a channel in use needs (an old customised copy)."""
        missing = [f"{DEFAULT_LANGUAGE}/{n}.{part}" for n in names if not (self.folder / DEFAULT_LANGUAGE /
                                                                           f"{n}.{part}").is_file()]
        if missing:
            raise ValueError(f"{self.folder}: missing {', '.join(missing)} (copy them from {DEFAULT_DIR})")

    def present(self) -> dict[str, set[str]]:
        """The files each language has."""
        return {lang: {p.name for p in (self.folder / lang).iterdir() if p.is_file()} for lang in self.languages}

    def missing(self) -> list[tuple[str, str]]:
        return missing_translations(self.present())

    def _render(self, language: str, name: str, part: str, values: dict) -> str:
        for lang in (language, DEFAULT_LANGUAGE):
            if f"{name}.{part}" in self._files.get(lang, ()):
                return self._env.get_template(f"{lang}/{name}.{part}").render(**values)
        raise jinja2.TemplateNotFound(f"{DEFAULT_LANGUAGE}/{name}.{part}")

    def render(self, name: str, language: str, context: NoticeContext) -> tuple[str, str, str, str]:
        """(language used, subject, plain text, HTML) of template `name` for a reader of `language`."""
        lang = choose_language(language, self.languages)
        values = context.as_template_values()
        subject, text, html = (self._render(lang, name, part, values) for part in PARTS)
        return lang, " ".join(subject.split()), text, html

    def sms(self, name: str, language: str, context: NoticeContext) -> tuple[str, str]:
        """(language used, text) of template `name`'s text message, on one line."""
        lang = choose_language(language, self.languages)
        text = " ".join(self._render(lang, name, SMS_PART, context.as_template_values()).split())
        if len(text) > SMS_MAX_CHARS:  # cut, it would lose the link at its end: a template to shorten
            raise ValueError(f"{lang}/{name}.{SMS_PART} renders {len(text)} characters, more than {SMS_MAX_CHARS}")
        return lang, text

    def message(self, name: str, language: str, context: NoticeContext, *, sender: str, to: str,
                delivery_id: str) -> EmailMessage:
        """The e-mail: a plain-text part and an HTML alternative. Its Message-ID comes from
        the delivery, so a receiving system sees a retried send as the same message."""
        lang, subject, text, html = self.render(name, language, context)
        message = EmailMessage(policy=POLICY)
        message["Subject"] = subject
        message["From"] = sender
        message["To"] = to
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = f"<{delivery_id.replace(':', '.')}@notify.secondlook>"
        message["X-Secondlook-Delivery"] = delivery_id
        message.set_content(text)
        message.add_alternative(html, subtype="html")
        message["Content-Language"] = lang  # after the content: setting it clears every Content-* header
        return message
