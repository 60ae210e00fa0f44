"""Bytes to an R4 Bundle, or the structural reasons it is not one (HTTP 400).

The body is read as JSON (no NaN or Infinity, at most `MAX_DEPTH` levels, every
text in Unicode normal form C), every `resourceType` in it is checked against the
R4B resource names (the model library fails with a KeyError on an unknown one),
every element's JSON type against its FHIR type (`jsontypes`: the model would read
a number as a date), then `fhir.resources.R4B`
validates the Bundle: element names, types, cardinalities, primitive formats.
It does not check bindings (a Bundle.type of "nonsense" passes), profiles or
references; `translate` does what the platform needs of those.

Pydantic's errors carry the submitted value (`input_value=...`) and sometimes
quote it in the message: neither reaches a Problem.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pydantic
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.resource import Resource

from secondlook.edge import nfc_json

from .jsontypes import MAX_PROBLEMS as MAX_TYPE_PROBLEMS
from .jsontypes import type_problems
from .problems import STRUCTURE, Problem

# FHIR resources are shallow: the deepest official examples nest about 15 levels.
MAX_DEPTH = 64
# A second-opinion request is a dozen resources or so; 50 records plus their
# Conditions and the rest stay well under this. Checked before the models run.
MAX_ENTRIES = 200
_RESOURCE_NAME = re.compile(r"^[A-Z][A-Za-z]{1,63}$")
_ABSTRACT = frozenset({"Resource", "DomainResource"})
_INPUT_VALUE = re.compile(r"input_value=.*", re.DOTALL)


def is_resource_type(name: object) -> bool:
    """Whether `name` is an R4B resource type (Patient, Bundle, ...), not a data type."""
    if not isinstance(name, str) or not _RESOURCE_NAME.match(name) or name in _ABSTRACT:
        return False
    try:
        return issubclass(get_fhir_model_class(name), Resource)
    except (ValueError, KeyError, AttributeError, ImportError):
        return False


class _NotANumber(ValueError):
    pass


def _refuse_constant(name: str):
    raise _NotANumber(f"{name} is not a JSON number")


class _Repeating(dict):
    """A JSON object that had a key more than once: refused by path (_walk_problems),
    never read as its last value (a gateway that keeps the first would see another request)."""

    repeated: tuple[str, ...] = ()


def _object(pairs: list[tuple[str, Any]]) -> dict:
    # Every text in normal form C, as the gRPC edge has it (secondlook.edge.nfc): a
    # name or an identifier is one string however the sender composed its accents.
    pairs = [(key, nfc_json(value)) for key, value in pairs]
    found = dict(pairs)
    if len(found) == len(pairs):
        return found
    seen: set[str] = set()
    repeating = _Repeating(found)
    repeating.repeated = tuple(dict.fromkeys(k for k, _ in pairs if k in seen or seen.add(k)))
    return repeating


def _decode(body: bytes) -> tuple[Any, Problem | None]:
    try:
        return json.loads(body.decode("utf-8-sig"), parse_constant=_refuse_constant,  # a BOM is ignored
                          object_pairs_hook=_object), None
    except UnicodeDecodeError:
        return None, Problem("Bundle", "the body is not UTF-8 text: send the Bundle as application/fhir+json",
                             STRUCTURE)
    except RecursionError:
        return None, Problem("Bundle", f"nests deeper than {MAX_DEPTH} levels", STRUCTURE)
    except _NotANumber as exc:
        return None, Problem("Bundle", f"{exc}: FHIR JSON has no NaN or Infinity", STRUCTURE)
    except json.JSONDecodeError:
        return None, Problem("Bundle", "the body is not JSON: send the Bundle as application/fhir+json",
                             STRUCTURE)
    except ValueError:  # an integer of more digits than Python converts
        return None, Problem("Bundle", "has a number of too many digits to be a FHIR decimal or integer", STRUCTURE)


def _walk_problems(data: Any) -> list[Problem]:
    """Too deep nesting and resourceType values that name no R4 resource, by path."""
    problems = []
    stack = [(data, "Bundle", 1)]
    while stack:
        node, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            return [Problem(path, f"nests deeper than {MAX_DEPTH} levels", STRUCTURE)]
        if isinstance(node, dict):
            for key in getattr(node, "repeated", ()):
                problems.append(Problem(f"{path}.{key[:64]}", "appears twice in one JSON object: give each "
                                                              "element once", STRUCTURE))
            if "resourceType" in node and not is_resource_type(node["resourceType"]):
                problems.append(Problem(f"{path}.resourceType", "is not the name of an R4 resource type", STRUCTURE))
            stack.extend((value, f"{path}.{key[:64]}", depth + 1) for key, value in node.items()
                         if isinstance(value, (dict, list)))
        elif isinstance(node, list):
            stack.extend((value, f"{path}[{i}]", depth + 1) for i, value in enumerate(node)
                         if isinstance(value, (dict, list)))
    return sorted(problems, key=lambda p: p.expression)


def _element(name: str) -> str:
    if name == "resource_type":
        return "resourceType"
    return name.removesuffix("__ext")


def fhirpath_of(loc: tuple) -> str:
    """A pydantic error location as a FHIRPath from Bundle: ('entry', 2, 'resource', 'birthDate')
    is Bundle.entry[2].resource.birthDate."""
    path = "Bundle"
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif isinstance(part, str) and part and not part.startswith(("function-", "model-")):
            path += f".{_element(part)[:64]}"
    return path


# What the model library says, in words a sender can act on (its own words otherwise).
_PLAIN = (("Date value string does not match spec regex", "must be a FHIR date: YYYY, YYYY-MM or YYYY-MM-DD, "
           "a real calendar date"),
          ("DateTime value string does not match spec regex", "must be a FHIR dateTime: YYYY-MM-DD, or with a time "
           "and a time zone (YYYY-MM-DDThh:mm:ss+zz:zz)"),
          ("Instant value string does not match spec regex", "must be a FHIR instant: YYYY-MM-DDThh:mm:ss and a "
           "time zone"),
          # FHIR's string pattern: a string element is absent or has something in it.
          ("String should match pattern '[ \r\n\t\\S]+'", "must not be empty: leave the element out instead"),
          ("String should match pattern '^[^\\s]+(\\s[^\\s]+)*$'", "must be a FHIR code: no space at either end "
           "and single spaces between words"),
          ("String should match pattern '^[A-Za-z0-9\\-.]+$'", "must be a FHIR id: 1 to 64 letters, digits, "
           "'-' and '.'"))


def _without_input(error: dict) -> str:
    """The rule an error states, without the value it was given."""
    if error.get("type") in ("json_invalid", "model_type", "dict_type"):
        return "must be a JSON object (a FHIR element)"
    message = _INPUT_VALUE.sub("", str(error.get("msg", ""))).strip().removeprefix("Value error, ")
    for said, meant in _PLAIN:
        if said in message:
            return meant
    value = error.get("input")
    if isinstance(value, (str, int, float)) and not isinstance(value, bool) and len(str(value)) >= 2:
        message = message.replace(str(value), "…")
    return message[:200] or "is not valid"


def model_problems(error: pydantic.ValidationError) -> list[Problem]:
    out = []
    for e in error.errors(include_url=False)[:50]:
        out.append(Problem(fhirpath_of(tuple(e.get("loc", ()))), _without_input(e), STRUCTURE))
    return out


def read_bundle(body: bytes, expected: str = "POST /fhir/Bundle takes a transaction Bundle",
                max_entries: int = MAX_ENTRIES) -> tuple[dict | None, list[Problem]]:
    """The Bundle as R4 JSON (as the model normalises it: sizes as numbers, no nulls),
    or why the body is not an R4 Bundle (`expected` says what is, when it is another resource)."""
    data, problem = _decode(body)
    if problem:
        return None, [problem]
    if not isinstance(data, dict):
        return None, [Problem("Bundle", "must be a JSON object, a FHIR resource", STRUCTURE)]
    if getattr(data, "repeated", ()):
        return None, [Problem(f"Bundle.{key[:64]}", "appears twice in one JSON object: give each element once",
                              STRUCTURE) for key in data.repeated]
    if data.get("resourceType") != "Bundle":
        return None, [Problem("Bundle.resourceType", f"must be Bundle: {expected}", STRUCTURE)]
    entries = data.get("entry")
    if isinstance(entries, list) and len(entries) > max_entries:
        return None, [Problem("Bundle.entry", f"must have at most {max_entries} entries", STRUCTURE)]
    problems = _walk_problems(data)
    if problems:
        return None, problems
    typed = type_problems(data)
    if len(typed) >= MAX_TYPE_PROBLEMS:  # as many as are told: the model's reading would add nothing
        return None, typed
    try:
        bundle = Bundle.model_validate(data)
        return (None, typed) if typed else (bundle.model_dump(mode="json"), [])
    except pydantic.ValidationError as exc:
        said = {p.expression for p in typed}  # an element of the wrong type: said once, as FHIR JSON's rule
        return None, sorted(typed + [p for p in model_problems(exc) if p.expression not in said],
                            key=lambda p: p.expression)
    except (RecursionError, MemoryError):
        return None, [Problem("Bundle", "is too large or too deeply nested to read", STRUCTURE)]
    except Exception:  # the model library's own failures on odd input: a refusal, never a 5xx
        return None, [Problem("Bundle", "is not a valid FHIR R4 Bundle", STRUCTURE)]
