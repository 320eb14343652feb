"""Raw listing entries injected for tests: what the real API could send but this one never would.

The emulator validates everything it accepts, as ChartMogul does, so its store cannot hold a
malformed activity, customer or invoice. A reliability test needs exactly those: entries with
missing or mistyped fields, unknown activity types, huge or hostile strings. ``Injected`` keeps
such raw JSON values (anything, not only objects) and splices them into the listings a sync
client pages through, unvalidated:

- ``GET /v1/activities`` (whatever the date or type filters) and ``GET /v1/customers`` (only
  when listed without a record filter): appended to the last page (the one whose
  ``has_more`` is false). Both list oldest first, so what is added last comes at the end;
- ``GET /v1/invoices`` (only when listed without a filter): put first on the first page (no
  cursor). That listing is newest import first, and a client that reads only down to the
  newest invoice it saw before (as cmsync's payments poller does) must meet them. Meant for
  malformed entries: a well-formed injected invoice would stay above every later import,
  which the real API never does.

A page may so hold more than ``per_page`` entries; no client relies on that bound. The admin
route ``POST /__sandbox/inject`` (loopback only, never counted, never faulted) adds entries;
``DELETE`` removes them all; ``GET`` says how many there are of each kind. A test-only
capability, documented as such in the README.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["KINDS", "Injected"]

# kind -> (the listing's root key, the query parameters that make it a filtered listing)
KINDS: dict[str, tuple[str, frozenset[str]]] = {
    "activities": ("entries", frozenset()),
    "customers": ("entries", frozenset({"data_source_uuid", "external_id", "status", "system"})),
    "invoices": ("invoices", frozenset({"data_source_uuid", "external_id", "customer_uuid"})),
}


@dataclass
class Injected:
    """Raw entries per listing kind, in the order they were injected."""

    entries: dict[str, list[Any]] = field(default_factory=lambda: {k: [] for k in KINDS})

    def add(self, body: Mapping[str, Any]) -> dict[str, int]:
        """Add ``{"activities": [...], "customers": [...], "invoices": [...]}`` (any subset).

        Raises ValueError naming the problem for an unknown kind or a value that is not a list;
        nothing is added then.
        """
        unknown = sorted(set(body) - set(KINDS))
        if unknown:
            raise ValueError(f"unknown kinds {unknown}; known: {sorted(KINDS)}")
        for kind, values in body.items():
            if not isinstance(values, list):
                raise ValueError(f"{kind!r} must be a list of raw entries")
        for kind, values in body.items():
            self.entries[kind].extend(values)
        return self.counts()

    def clear(self) -> dict[str, int]:
        for values in self.entries.values():
            values.clear()
        return self.counts()

    def counts(self) -> dict[str, int]:
        return {kind: len(values) for kind, values in self.entries.items()}

    def splice(self, kind: str, body: dict[str, Any], query: Mapping[str, str]) -> dict[str, Any]:
        """``body`` (one page of the ``kind`` listing) with the injected entries it should show."""
        extra = self.entries[kind]
        root, filters = KINDS[kind]
        if not extra or filters & set(query):
            return body
        if kind == "invoices":
            if "cursor" not in query:
                body[root] = [*extra, *body[root]]
        elif not body.get("has_more"):
            body[root] = [*body[root], *extra]
        return body
