"""FHIR JSON's own types, held strictly: a date, a code or a URL is a JSON string, a
boolean is `true` or `false`, an integer a JSON integer.

The model library (`fhir.resources`, pydantic's lax mode; its strict mode does not reach
its own types) reads `"birthDate": 946080000` as 1999-12-25, `"active": "yes"` as true
and `"size": true` as 1. A sender whose serializer writes epoch seconds or strings would
see its case accepted with another birth date or consent time than it meant. So every
element's JSON type is checked against the element's type in the model, before the
model reads the Bundle, and a wrong one is refused at its path.
"""

from __future__ import annotations

import datetime
import decimal
import functools
import types
import typing
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import AnyUrl

from .problems import STRUCTURE, Problem

_Kind = typing.Literal["boolean", "integer", "decimal", "string"]
_EXPECTED: dict[str, tuple[str, typing.Callable[[Any], bool]]] = {
    "boolean": ("a JSON boolean, true or false", lambda v: isinstance(v, bool)),
    "integer": ("a JSON integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    "decimal": ("a JSON number", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)),
    "string": ("a JSON string", lambda v: isinstance(v, str)),
}
_STRINGS = (str, bytes, datetime.date, datetime.datetime, datetime.time, AnyUrl)
MAX_PROBLEMS = 50


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(the element's type, whether it is a list) of a model field's annotation."""
    is_list = False
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [_unwrap(a)[0] if typing.get_origin(a) is typing.Annotated else a
                    for a in typing.get_args(annotation) if a is not type(None)]
            if all(a in _STRINGS for a in args):  # a url (AnyUrl or str), an id or a string
                return str, is_list
            if len(args) > 1:
                return None, is_list  # a string or a list of them (fhir_comments): not checked
            annotation = args[0]
        elif origin in (list, typing.List):
            is_list, annotation = True, typing.get_args(annotation)[0]
        else:
            return annotation, is_list


def _kind(annotation: Any) -> _Kind | type | str | None:
    """A primitive's kind, the model class of a complex element, "resource" for a
    resource (read by its resourceType), or None for what is not checked here."""
    if annotation is bool:
        return "boolean"
    if annotation is int:
        return "integer"
    if annotation is decimal.Decimal or annotation is float:
        return "decimal"
    if isinstance(annotation, type) and issubclass(annotation, _STRINGS):
        return "string"
    klass = getattr(annotation, "_model_klass", None)
    if getattr(annotation, "__name__", "") == "ResourceType":
        return "resource"
    if isinstance(klass, str):
        try:
            return get_fhir_model_class(klass.rsplit(".", 1)[-1])
        except (KeyError, ValueError):
            return None
    return klass if isinstance(klass, type) else None


@functools.cache
def _elements(model: type) -> dict[str, tuple[Any, bool]]:
    """JSON name -> (kind, is a list) for every element of a model class."""
    out = {}
    for name, field in model.model_fields.items():
        annotation, is_list = _unwrap(field.annotation)
        kind = _kind(annotation)
        if kind is not None:
            out[field.alias or name] = (kind, is_list)
    return out


def _model_of(resource: dict) -> type | None:
    try:
        return get_fhir_model_class(resource.get("resourceType"))
    except (KeyError, ValueError, TypeError, AttributeError):
        return None


def type_problems(bundle: dict) -> list[Problem]:
    """Every element of `bundle` (a parsed JSON object whose resourceTypes were checked)
    whose JSON type is not its FHIR type's, by FHIRPath; at most MAX_PROBLEMS."""
    problems: list[Problem] = []
    stack: list[tuple[dict, type | None, str]] = [(bundle, _model_of(bundle), "Bundle")]
    while stack and len(problems) < MAX_PROBLEMS:
        node, model, path = stack.pop()
        if model is None:
            continue
        elements = _elements(model)
        for key, value in node.items():
            if key not in elements or value is None:
                continue  # an unknown element is the model's to refuse
            kind, is_list = elements[key]
            items = list(enumerate(value)) if is_list and isinstance(value, list) else [(None, value)]
            for i, item in items:
                if len(problems) >= MAX_PROBLEMS:
                    break
                where = f"{path}.{key[:64]}" + (f"[{i}]" if i is not None else "")
                if item is None:
                    continue  # a list's null beside a primitive's extension (_given: [null, {...}])
                if isinstance(kind, str) and kind in _EXPECTED:
                    what, fits = _EXPECTED[kind]
                    if not fits(item):
                        problems.append(Problem(where, f"must be {what}, as FHIR JSON writes this element",
                                                STRUCTURE))
                    elif item == "":  # FHIR JSON has no empty strings: read as absent, it would mean something else
                        problems.append(Problem(where, "must not be empty: leave the element out instead",
                                                STRUCTURE))
                elif isinstance(item, dict):
                    stack.append((item, _model_of(item) if kind == "resource" else kind, where))
    return sorted(problems, key=lambda p: p.expression)[:MAX_PROBLEMS]
