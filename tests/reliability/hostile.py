"""Hostile input for the bad-input suite: malformed ChartMogul entries and nasty strings.

``malformed()`` builds raw listing entries that no ChartMogul record may be made of: required
fields missing, fields of the wrong JSON type, unparseable or zone-less dates, unknown
activity types, entries that are not objects at all, and every nasty string (huge, unicode,
NUL, SOQL metacharacters and injection attempts) in places where it makes the record invalid.
Each is named by the key cmsync must quarantine it under (``cmsync.chartmogul.records.
record_key``), so the suite can check one quarantine entry per record.

``NASTY`` are the strings themselves, for the well-formed records that carry them as data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cmsync.chartmogul.records import record_key

__all__ = ["HUGE", "NASTY", "Malformed", "activity", "customer", "invoice", "malformed"]

HUGE = "Ж" * 100_000  # a 100 kB name (200 kB of UTF-8)
NASTY = (
    "' OR Name != '",
    "x' OR '1'='1",
    "\\' OR Id != null --",
    "back\\slash\\",
    "100% _wild_ %",
    "%' AND Email LIKE '%",
    "\u202eevil\u202c RTL override",
    "שלום عربي mixed RTL",
    "e\u0301\u0302\u0303 combining marks",
    "emoji 🎉🔥👩‍💻",
    "nul\x00byte",
    "new\nline\ttab\r",
    "",
    "   ",
    "<script>alert(1)</script>",
    "${jndi:ldap://x}",
    "Robert'); DROP TABLE account_state;--",
    HUGE,
)


@dataclass(frozen=True)
class Malformed:
    """A raw listing entry, the listing it goes into, and the key it must be quarantined as."""

    kind: str  # "activities", "customers" or "invoices"
    raw: Any
    why: str

    @property
    def record(self) -> str:
        return {"activities": "Activity", "customers": "Customer", "invoices": "Invoice"}[self.kind]

    @property
    def quarantine_key(self) -> str:
        return f"{self.record}:{record_key(self.raw)}"


def activity(uuid: str, customer_uuid: str, **fields: Any) -> dict[str, Any]:
    """A well-formed activity entry as ``GET /v1/activities`` sends it, changed by ``fields``."""
    body: dict[str, Any] = {
        "description": "purchased the Starter plan",
        "activity-mrr-movement": 2_900,
        "activity-mrr": 2_900,
        "activity-arr": 34_800,
        "date": "2026-01-05T00:00:00+00:00",
        "type": "new_biz",
        "currency": "USD",
        "subscription-external-id": f"{uuid}-sub",
        "subscription-set-external-id": f"{uuid}-sub",
        "plan-external-id": "starter_monthly",
        "customer-name": "Hostile Co",
        "customer-uuid": customer_uuid,
        "customer-external-id": f"{uuid}-ext",
        "billing-connector-uuid": "ds_hostile",
        "uuid": uuid,
    }
    body.update(fields)
    return body


def customer(uuid: str, **fields: Any) -> dict[str, Any]:
    """A well-formed customer entry as ``GET /v1/customers`` sends it, changed by ``fields``."""
    body: dict[str, Any] = {
        "id": 9_000_001,
        "uuid": uuid,
        "external_id": f"{uuid}-ext",
        "name": "Hostile Co",
        "email": "ops@hostile.example",
        "status": "Active",
        "customer-since": "2026-01-05T00:00:00+00:00",
        "attributes": {"custom": {}, "clearbit": {}, "stripe": {}, "tags": []},
        "data_source_uuid": "ds_hostile",
        "data_source_uuids": ["ds_hostile"],
        "external_ids": [f"{uuid}-ext"],
        "company": "Hostile Co",
        "mrr": 2_900,
        "arr": 34_800,
        "currency": "USD",
        "chartmogul-url": "https://app.chartmogul.com/#/customers/9000001-Hostile_Co",
    }
    body.update(fields)
    return body


def invoice(uuid: str, **fields: Any) -> dict[str, Any]:
    """A well-formed invoice entry as ``GET /v1/invoices`` sends it, changed by ``fields``."""
    body: dict[str, Any] = {
        "uuid": uuid,
        "date": "2026-01-05T00:00:00.000Z",
        "due_date": None,
        "errors": {},
        "external_id": f"{uuid}-ext",
        "currency": "USD",
        "customer_uuid": "cus_00000000-0000-4000-8000-000000000000",
        "line_items": [
            {"uuid": f"{uuid}-li", "external_id": None, "type": "subscription",
             "amount_in_cents": 2_900, "quantity": 1}
        ],
        "transactions": [
            {"uuid": f"{uuid}-tx", "external_id": None, "type": "payment",
             "date": "2026-01-05T00:00:00.000Z", "result": "failed"}
        ],
    }  # fmt: skip
    body.update(fields)
    return body


_ACTIVITY_REQUIRED = (
    "uuid", "date", "type", "activity-mrr", "activity-mrr-movement", "activity-arr", "currency",
    "customer-uuid",
)  # fmt: skip
_WRONG_NUMBERS = ("lots", 1.5, [], {}, None, "1e3x")
_WRONG_STRINGS = (42, [], {}, None, True)
_WRONG_DATES = ("yesterday", "2026-13-45T00:00:00Z", "", None, [], "2026-01-05T00:00:00")


def _activities() -> list[Malformed]:
    out: list[Malformed] = []
    n = 0

    def add(why: str, raw: Any) -> None:
        out.append(Malformed("activities", raw, why))

    def name() -> str:
        nonlocal n
        n += 1
        return f"hostile-act-{n:03d}"

    for field in _ACTIVITY_REQUIRED:
        raw = activity(name(), "cus_hostile")
        del raw[field]
        add(f"missing {field}", raw)
    for field in ("activity-mrr", "activity-mrr-movement", "activity-arr"):
        for value in _WRONG_NUMBERS:
            add(f"{field} = {value!r}", activity(name(), "cus_hostile", **{field: value}))
    for field in ("currency", "customer-uuid", "description", "subscription-external-id"):
        for value in _WRONG_STRINGS:
            if value is None and field == "subscription-external-id":
                continue  # optional: null is a valid value
            add(f"{field} = {value!r}", activity(name(), "cus_hostile", **{field: value}))
    for value in _WRONG_DATES:
        add(f"date = {value!r}", activity(name(), "cus_hostile", date=value))
    for value in ("upgrade", "EXPANSION", "new biz", "downgrade", "trial", *NASTY):
        add(f"unknown type {value[:20]!r}", activity(name(), "cus_hostile", type=value))
    for value in NASTY:  # nasty strings in the ids of records that are invalid anyway
        add(f"uuid {value[:20]!r}, no date", activity(value, "cus_hostile", date=None))
        add(f"customer {value[:20]!r}, bad mrr", activity(name(), value, **{"activity-mrr": "x"}))
    for value in (None, 42, "activity", [], True, [activity(name(), "cus_hostile")]):
        add(f"not an object: {type(value).__name__}", value)
    return out


def _customers() -> list[Malformed]:
    out: list[Malformed] = []
    for n, (field, value) in enumerate(
        [
            ("uuid", None), ("uuid", 7), ("mrr", "lots"), ("mrr", 1.5), ("arr", []),
            ("email", ["a@b.c"]), ("name", {"first": "x"}), ("customer-since", "soon"),
            ("customer-since", "2026-01-05T00:00:00"), ("external_ids", "ext"),
            ("attributes", "none"), ("data_source_uuids", 5), ("status", 3),
            ("chartmogul-url", 12),
        ],
        start=1,
    ):  # fmt: skip
        raw = customer(f"cus_hostile-{n:03d}")
        raw[field] = value
        out.append(Malformed("customers", raw, f"{field}={value!r}"))
    for n, value in enumerate(NASTY, start=100):  # nasty names and emails on broken records
        out.append(
            Malformed(
                "customers",
                customer(f"cus_hostile-{n:03d}", name=value, email=value, mrr="NaN"),
                f"nasty name and email {value[:20]!r}, bad mrr",
            )
        )
    for n, value in enumerate(NASTY, start=200):  # nasty external ids on broken records
        out.append(
            Malformed(
                "customers",
                customer(f"cus_hostile-{n:03d}", external_id=value, arr={"x": value}),
                f"nasty external id {value[:20]!r}, bad arr",
            )
        )
    missing = customer("cus_hostile-missing")
    del missing["uuid"]
    out.append(Malformed("customers", missing, "missing uuid"))
    out.extend(Malformed("customers", v, "not an object") for v in (None, "customer", [1]))
    return out


def _invoices() -> list[Malformed]:
    out: list[Malformed] = []
    variants: list[tuple[str, dict[str, Any]]] = [
        ("missing date", {"date": None}),
        ("zone-less date", {"date": "2026-01-05T00:00:00"}),
        ("bad currency", {"currency": 840}),
        ("line items not a list", {"line_items": "many"}),
        ("line item amount", {"line_items": [{"type": "subscription", "amount_in_cents": "x"}]}),
        ("line item type", {"line_items": [{"type": "refund", "amount_in_cents": 1}]}),
        ("transaction result", {"transactions": [
            {"type": "payment", "date": "2026-01-05T00:00:00.000Z", "result": "maybe"}]}),
        ("transaction date", {"transactions": [
            {"type": "payment", "date": "soon", "result": "failed"}]}),
        ("zone-less transaction", {"transactions": [
            {"type": "payment", "date": "2026-01-05T00:00:00", "result": "failed"}]}),
        ("transaction type", {"transactions": [
            {"type": "chargeback", "date": "2026-01-05T00:00:00.000Z", "result": "failed"}]}),
    ]  # fmt: skip
    for n, (why, fields) in enumerate(variants, start=1):
        out.append(Malformed("invoices", invoice(f"inv_hostile-{n:03d}", **fields), why))
    for n, value in enumerate(NASTY, start=100):
        out.append(
            Malformed(
                "invoices",
                invoice(f"inv_hostile-{n:03d}", external_id=value, currency=None),
                f"nasty external id {value[:20]!r}, no currency",
            )
        )
        out.append(
            Malformed(
                "invoices",
                invoice(f"inv_hostile-{n + 100:03d}", customer_uuid=value, date="never"),
                f"nasty customer uuid {value[:20]!r}, bad date",
            )
        )
    return out


def malformed() -> list[Malformed]:
    """Every malformed entry, with the key it must be quarantined as."""
    return [*_activities(), *_customers(), *_invoices()]
