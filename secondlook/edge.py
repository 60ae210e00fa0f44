"""The gRPC edge: what every request passes before a servicer sees it.

`EdgeInterceptor` takes the request as bytes and, after authentication (the
auth interceptor wraps it), decodes it itself: bytes that are not a valid
request (bad UTF-8 in a string, truncated input, an unknown wire type, nesting
too deep) answer INVALID_ARGUMENT naming the request type, never UNKNOWN with
a Python exception. A list (repeated field) of more than MAX_ENTRIES entries is
refused next, before anything walks it: no request of the API needs one, and
checking each entry of a list whose length only the 4 MiB message limit bounds
would hold a service's loop for seconds. Then every string field is put in Unicode
normal form C and checked (`text_violations`): printable text only, plus tabs and
line breaks in fields marked `[(secondlook.v1.prose) = true]` in protos/.

Normal form C because one text has several spellings in Unicode: `Zoé` typed on one
system is one code point for the é, pasted from another it is an e and a combining
accent. Both look the same and mean the same; stored as sent, they would be two MRNs,
two tenants or two specialist ids, and a search with one would miss the other. Every
text that enters (gRPC requests, FHIR JSON, token claims) takes the one form (`nfc`).
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterator

import grpc
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from secondlook.errors import field_violations
from secondlook.v1 import options_pb2

MAX_ENTRIES = 1_000  # of any list in a request (each API's own limits are lower)
PROSE_WHITESPACE = frozenset("\t\n\r")
_PROSE_DROPPED = {ord(c): None for c in PROSE_WHITESPACE}
# Invisible characters that change how text around them is shown: the
# bidirectional embeddings, overrides and isolates (the "Trojan Source" set).
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
# Unicode general categories refused in any text: controls, format characters,
# surrogates, private use and unassigned code points.
# Zero-width non-joiner and joiner: invisible, but part of how Persian, Arabic and Indic
# names are spelled. Taken between two letters (or marks) of such a script only, so a
# text never holds one alone, at its ends, or inside a number or a Latin id.
_JOINERS = frozenset("\u200c\u200d")
_REFUSED_CATEGORIES = {"Cc": "a control character", "Cf": "an invisible format character",
                       "Cs": "a surrogate", "Co": "a private-use character", "Cn": "an unassigned code point"}


# Fields that carry a whole file: it may open with a byte-order mark (Excel's "CSV
# UTF-8" always writes one), which their readers drop. Nowhere else: U+FEFF is an
# invisible character, and `str.strip` keeps it (a "required" text of it alone passes).
DOCUMENTS = frozenset({"secondlook.v1.ImportSpecialistsRequest.csv",
                       "secondlook.v1.ImportSpecialistsRequest.fhir_bundle"})


def nfc(value: str) -> str:
    """`value` in Unicode normal form C (the same object when it already is: the common case)."""
    return unicodedata.normalize("NFC", value)


def nfc_json(value: object) -> object:
    """A JSON value as read, its text (a string, or a list's strings) in normal form C;
    objects are left to their own reading (json's object hook, one level at a time)."""
    if isinstance(value, str):
        return nfc(value)
    if isinstance(value, list):
        return [nfc(v) if isinstance(v, str) else v for v in value]
    return value


def text_problem(value: str, prose: bool, document: bool = False) -> str | None:
    """Why `value` is not acceptable text, or None (`document`: a file, see DOCUMENTS)."""
    start = 1 if document and value.startswith("\ufeff") else 0
    # Fast path (str.isprintable runs in C): it is False for every refused category
    # (Cc, Cf, Cs, Co, Cn; the bidirectional controls are Cf) and for separators
    # but the space, which the walk below accepts.
    if (value[start:].translate(_PROSE_DROPPED) if prose else value).isprintable():
        return None
    for position, ch in enumerate(value[start:], start):
        if prose and ch in PROSE_WHITESPACE:
            continue
        if ch in _BIDI_CONTROLS:
            return f"must not contain bidirectional control characters (U+{ord(ch):04X} at position {position})"
        if ch in _JOINERS and start < position < len(value) - 1 and _joinable(value[position - 1], value[position + 1]):
            continue
        category = unicodedata.category(ch)
        if category in _REFUSED_CATEGORIES:
            allowed = "; tabs and line breaks are allowed" if prose else ""
            return (f"must be printable text: U+{ord(ch):04X} at position {position} is "
                    f"{_REFUSED_CATEGORIES[category]}{allowed}")
    return None


# The scripts whose spelling uses the zero-width (non-)joiner (Unicode's "cursive
# joining" and Indic shaping): a joiner is taken between two letters or marks of these.
_JOINING_SCRIPTS = ("ARABIC", "SYRIAC", "NKO", "MONGOLIAN", "DEVANAGARI", "BENGALI", "GURMUKHI", "GUJARATI",
                    "ORIYA", "TAMIL", "TELUGU", "KANNADA", "MALAYALAM", "SINHALA", "KHMER", "MYANMAR", "TIBETAN")


def _joinable(before: str, after: str) -> bool:
    """Whether a joiner may stand between these: letters or combining marks of a script
    that spells with one (never Latin, Greek or Cyrillic, digits or punctuation, where
    it would only make two equal-looking texts differ: `hô\u200cpital`)."""
    return all(unicodedata.category(ch)[0] in "LM" and unicodedata.name(ch, "").startswith(_JOINING_SCRIPTS)
               for ch in (before, after))


def _normalised_strings(message: Message, prefix: str = "") -> Iterator[tuple[str, FieldDescriptor, str]]:
    """Every string field of `message`, by path, each first put in normal form C in
    place (a map's keys and values are only read: no request has a map)."""
    for field, value in message.ListFields():
        path = f"{prefix}{field.name}"
        if field.type == FieldDescriptor.TYPE_STRING:
            if field.is_repeated:
                for i, item in enumerate(value):
                    if (normal := nfc(item)) is not item:
                        value[i] = normal
                    yield f"{path}[{i}]", field, normal
            else:
                if (normal := nfc(value)) is not value:
                    setattr(message, field.name, normal)
                yield path, field, normal
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            if field.message_type.GetOptions().map_entry:
                for key, item in value.items():
                    if isinstance(key, str):
                        yield f"{path}[{key[:20]!r}]", field, key
                    if isinstance(item, str):
                        yield f"{path}[{key!r}]", field, item
                    elif isinstance(item, Message):
                        yield from _normalised_strings(item, f"{path}[{key!r}].")
            elif field.is_repeated:
                for i, item in enumerate(value):
                    yield from _normalised_strings(item, f"{path}[{i}].")
            else:
                yield from _normalised_strings(value, f"{path}.")


def _long_lists(message: Message, prefix: str = "") -> Iterator[str]:
    """The path of every list in `message` longer than MAX_ENTRIES (its entries unread)."""
    for field, value in message.ListFields():
        path = f"{prefix}{field.name}"
        if field.is_repeated and len(value) > MAX_ENTRIES:
            yield path
        elif field.type == FieldDescriptor.TYPE_MESSAGE and not field.message_type.GetOptions().map_entry:
            if field.is_repeated:
                for i, item in enumerate(value):
                    yield from _long_lists(item, f"{path}[{i}].")
            else:
                yield from _long_lists(value, f"{path}.")


def size_violations(message: Message) -> list[tuple[str, str]]:
    return [(path, f"must have at most {MAX_ENTRIES} entries") for path in _long_lists(message)]


@functools.cache
def _is_prose(field: FieldDescriptor) -> bool:
    return field.GetOptions().Extensions[options_pb2.prose]


def text_violations(message: Message) -> list[tuple[str, str]]:
    """(field path, rule) for every string field that is not acceptable text, each
    first put in normal form C in `message` itself."""
    out = []
    for path, field, value in _normalised_strings(message):
        problem = text_problem(value, prose=_is_prose(field), document=field.full_name in DOCUMENTS)
        if problem:
            out.append((path, problem))
    return out


def _message_class(deserializer):
    owner = getattr(deserializer, "__self__", None)  # Message.FromString is a bound classmethod
    return owner if isinstance(owner, type) and issubclass(owner, Message) else None


def _decoding(behaviour, message_class, streaming: bool):
    name = message_class.DESCRIPTOR.full_name

    async def decode(raw: bytes, context) -> Message | None:
        request = message_class()
        try:
            request.ParseFromString(raw)
        except Exception:  # DecodeError, RecursionError, ...: never the details
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"request: not a valid {name} (the protobuf bytes could not be decoded)")
        violations = size_violations(request) or text_violations(request)
        if violations:
            await context.abort_with_status(field_violations(*violations))
        return request

    if streaming:
        async def stream(raw, context):
            request = await decode(raw, context)
            async for item in behaviour(request, context):
                yield item

        return stream

    async def unary(raw, context):
        return await behaviour(await decode(raw, context), context)

    return unary


class EdgeInterceptor(grpc.aio.ServerInterceptor):
    """Placed after the auth interceptor: decoding happens only for an authenticated call."""

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        message_class = _message_class(handler.request_deserializer)
        if message_class is None:
            return handler  # a library's own service (health, reflection): left as it is
        kwargs = dict(request_deserializer=None, response_serializer=handler.response_serializer)
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(_decoding(handler.unary_unary, message_class, False), **kwargs)
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(_decoding(handler.unary_stream, message_class, True),
                                                        **kwargs)
        return handler
