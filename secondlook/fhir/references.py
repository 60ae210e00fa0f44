"""Resolving a reference to another entry of the same bundle.

The rules, in order (FHIR R4 Bundle, "Resolving references in Bundles", plus one
documented leniency):
1. a reference equal to an entry's fullUrl (urn:uuid:..., urn:oid:... or an
   absolute URL) is that entry;
2. a relative reference `Type/id` (a trailing `/_history/n` is ignored) made from
   an entry whose fullUrl is RESTful (`<base>/Type/id`) is `<base>/Type/id`;
3. otherwise a relative reference is the one entry whose resource has that type
   and id (the leniency: the HL7 examples refer to `Patient/example` and carry no
   fullUrl), when exactly one has.
4. a contained reference (`#id`) is the resource of that id in the referring
   resource's `contained` (or, from a contained resource, in its container's).
A reference to another server, or one with only an identifier or a display,
resolves to nothing here: where the translation needs the resource itself such a
reference is refused (not-found); where it reads nothing through it (an element
not mapped) the reference is not followed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .problems import DUPLICATE, INVALID, NOT_FOUND, REQUIRED, Problem

MAX_CONTAINED = 50  # resources contained in one: a handful in real records (an inline Practitioner, ...)
_RELATIVE = re.compile(r"^([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(/_history/[A-Za-z0-9\-.]{1,64})?$")
_RESTFUL = re.compile(r"^(https?://.+)/([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(/_history/[A-Za-z0-9\-.]{1,64})?$")


@dataclass(frozen=True)
class Entry:
    index: int
    full_url: str
    resource: dict
    # A contained resource: its place in its container's `contained` (the container
    # is the entry `index`'s resource).
    contained_at: int | None = None
    container: dict | None = None

    @property
    def type(self) -> str:
        return self.resource.get("resourceType", "")

    @property
    def key(self) -> tuple[int, int | None]:
        """Which resource this is: two resources contained in one entry are two (compare
        keys, never `index` alone: the same patient is the same key)."""
        return self.index, self.contained_at

    @property
    def path(self) -> str:
        own = f".contained[{self.contained_at}]" if self.contained_at is not None else ""
        return f"Bundle.entry[{self.index}].resource{own}"


class BundleIndex:
    def __init__(self, bundle: dict):
        self.entries = [Entry(i, e.get("fullUrl", ""), e.get("resource") or {})
                        for i, e in enumerate(bundle.get("entry") or [])]
        self.problems: list[Problem] = []
        self._by_url: dict[str, Entry] = {}
        # (type, id) -> the entries with it: a relative reference is looked up, never
        # searched for (a directory bundle holds tens of thousands of entries).
        self._by_id: dict[tuple[str, str], list[Entry]] = {}
        self._contained: dict[int, dict[str, list[tuple[int, dict]]]] = {}  # by id() of the container
        for entry in self.entries:
            contained = entry.resource.get("contained")
            if isinstance(contained, list) and len(contained) > MAX_CONTAINED:
                self.problems.append(Problem(f"Bundle.entry[{entry.index}].resource.contained",
                                             f"must hold at most {MAX_CONTAINED} resources (records travel as "
                                             "entries of their own)", INVALID))
            self._by_id.setdefault((entry.type, str(entry.resource.get("id", ""))), []).append(entry)
            if not entry.full_url:
                continue
            if entry.full_url in self._by_url:
                self.problems.append(Problem(f"Bundle.entry[{entry.index}].fullUrl",
                                             f"repeats the fullUrl of entry {self._by_url[entry.full_url].index}",
                                             DUPLICATE))
            else:
                self._by_url[entry.full_url] = entry

    def _contained_in(self, container: dict) -> dict[str, list[tuple[int, dict]]]:
        """A container's contained resources by id, read once: a bundle may refer to them
        thousands of times."""
        key = id(container)
        if key not in self._contained:
            contained = container.get("contained")
            by_id: dict[str, list[tuple[int, dict]]] = {}
            for i, r in enumerate(contained if isinstance(contained, list) else []):
                if isinstance(r, dict) and isinstance(r.get("id"), str):
                    by_id.setdefault(r["id"], []).append((i, r))
            self._contained[key] = by_id
        return self._contained[key]

    def of_type(self, resource_type: str) -> list[Entry]:
        return [e for e in self.entries if e.type == resource_type]

    def find(self, reference: str, source: Entry) -> Entry | None:
        if reference.startswith("#"):  # a resource contained in the one referring (or in its container)
            container = source.container if source.container is not None else source.resource
            found = self._contained_in(container).get(reference[1:], [])
            if len(found) != 1 or not reference[1:]:
                return None
            i, resource = found[0]
            return Entry(source.index, "", resource, contained_at=i, container=container)
        if reference in self._by_url:
            return self._by_url[reference]
        relative = _RELATIVE.match(reference)
        if relative is None:
            return None
        resource_type, resource_id = relative.group(1), relative.group(2)
        restful = _RESTFUL.match(source.full_url)
        if restful:
            return self._by_url.get(f"{restful.group(1)}/{resource_type}/{resource_id}")
        found = self._by_id.get((resource_type, resource_id), [])
        return found[0] if len(found) == 1 else None


class Resolver:
    """Follows references for the translation, collecting a problem for each that
    does not resolve, or resolves to a resource of the wrong type; remembers
    every entry reached, so the entries nothing reads can be refused."""

    def __init__(self, index: BundleIndex):
        self.index = index
        self.problems: list[Problem] = []
        self.reached: set[int] = set()

    def follow(self, reference: object, path: str, source: Entry, types: tuple[str, ...], *,
               required: bool = True, read: bool = True) -> Entry | None:
        """The entry `reference` (a Reference as JSON, at FHIRPath `path`) points to, of one
        of `types`. With `read` False nothing is read through it (an element not mapped):
        one that points outside the bundle (a URL, Type/id) is let be, one into it still
        reaches its entry."""
        wanted = " or ".join(types)
        target = reference.get("reference") if isinstance(reference, dict) else None
        if not target:  # absent, or only an identifier or a display
            if required:
                self.problems.append(Problem(path + (".reference" if reference else ""),
                                             f"is required: a reference to the bundle's {wanted} entry",
                                             NOT_FOUND if reference else REQUIRED))
            return None
        entry = self.index.find(target, source)
        if entry is None and not read and not target.startswith(("urn:", "#")):
            return None  # (a urn: or contained reference can only mean something in this bundle)
        if entry is None:
            self.problems.append(Problem(f"{path}.reference", f"resolves to no entry of the bundle (a {wanted} "
                                                              "with that fullUrl, or Type/id)", NOT_FOUND))
            return None
        if entry.type not in types:
            found = f"a {entry.type}" if entry.type else "an entry without a resource"
            self.problems.append(Problem(f"{path}.reference", f"must reference a {wanted}, not {found}", INVALID))
            return None
        self.reached.add(entry.index)
        return entry
