"""FHIR references to Locations and Organizations within one payload: literal, fullUrl, identifier.

A Reference names its target by ``reference`` (relative ``Location/x``, absolute, versioned, or an
entry's ``fullUrl`` such as ``urn:uuid:...``) or only by ``identifier`` (a business identifier,
``{"system": ..., "value": ...}``), as SANER reports and many registries do. :class:`References`
resolves both against the resources of the payload; a literal reference resolves even when its
target is not in the payload (the id is in the text), an identifier only when it is.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping
from urllib.parse import urlsplit

# FHIR id (R4 2.24.0.1): what may follow "Location/" in a reference.
ID = re.compile(r"[A-Za-z0-9\-.]{1,64}\Z")
TYPES = ("Location", "Organization")


def reference_target(ref: Any, full_urls: Mapping[str, tuple[str, str]] | None = None
                     ) -> tuple[str, str] | None:
    """(type, id) of a literal Reference to a Location or Organization, or None (identifier-only,
    other types, unreadable)."""
    if not isinstance(ref, Mapping) or not isinstance(ref.get("reference"), str):
        return None
    text = ref["reference"].strip()
    if full_urls and text in full_urls:  # urn:uuid: or absolute fullUrl within the Bundle
        return full_urls[text]
    try:
        path = urlsplit(text).path if "://" in text else text
    except ValueError:  # "http://[x/Location/1": an unclosed IPv6 host names nothing
        return None
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 4 and parts[-2] == "_history":  # a versioned reference: Type/id/_history/v
        parts = parts[:-2]
    if len(parts) >= 2 and parts[-2] in TYPES and ID.match(parts[-1]):
        return parts[-2], parts[-1]
    return None


def _identifier(value: Any) -> tuple[str, str] | None:
    """(system or "", value) of a FHIR Identifier with a text value."""
    if not isinstance(value, Mapping) or not isinstance(value.get("value"), str):
        return None
    text = value["value"].strip()
    if not text:
        return None
    system = value.get("system")
    return (system.strip() if isinstance(system, str) else ""), text


def identifiers_of(resource: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The (system, value) pairs of a resource's ``identifier`` list."""
    found = resource.get("identifier")
    pairs = (_identifier(item) for item in (found if isinstance(found, list) else []))
    return [pair for pair in pairs if pair is not None]


class References:
    """Resolves references of one payload to (type, id) of its Locations and Organizations."""

    def __init__(self) -> None:
        self.full_urls: dict[str, tuple[str, str]] = {}
        self._by_identifier: dict[tuple[str, str], set[tuple[str, str]]] = {}
        self._by_value: dict[str, set[tuple[str, str]]] = {}

    def add(self, resource: Mapping[str, Any], full_url: str | None) -> None:
        """Index a Location or Organization (with a valid id) by its fullUrl and identifiers."""
        kind, fhir_id = resource.get("resourceType"), resource.get("id")
        if kind not in TYPES or not isinstance(fhir_id, str) or not ID.match(fhir_id):
            return
        target = (str(kind), fhir_id)
        if full_url:
            self.full_urls[full_url] = target
        for system, value in identifiers_of(resource):
            self._by_identifier.setdefault((system, value), set()).add(target)
            self._by_value.setdefault(value, set()).add(target)

    @classmethod
    def of(cls, resources: Iterable[tuple[Mapping[str, Any] | None, str | None]]) -> References:
        """The index of (resource, fullUrl) pairs; None resources are skipped."""
        refs = cls()
        for resource, full_url in resources:
            if resource is not None:
                refs.add(resource, full_url)
        return refs

    def resolve(self, ref: Any, wanted: tuple[str, ...] = TYPES) -> tuple[str, str] | None:
        """(type, id) a Reference names: literally, else by its identifier (only when exactly one
        resource of a ``wanted`` type in the payload carries it); None when it names nothing."""
        target = reference_target(ref, self.full_urls)
        if target is not None:
            return target if target[0] in wanted else None
        if not isinstance(ref, Mapping):
            return None
        pair = _identifier(ref.get("identifier"))
        if pair is None:
            return None
        declared = ref.get("type")
        types = (declared,) if isinstance(declared, str) and declared in wanted else wanted
        # A system-less identifier matches by value alone, as long as that is unambiguous.
        found = self._by_identifier.get(pair, set()) if pair[0] else self._by_value.get(pair[1],
                                                                                        set())
        matches = sorted(t for t in found if t[0] in types)
        return matches[0] if len(matches) == 1 else None
