"""Hostile input for the bad-input suite: malformed ChartMogul entries and nasty strings.

``malformed()`` builds raw listing entries that no ChartMogul record may be made of: required
fields missing, fields of the wrong JSON type, unparseable or zone-less dates, unknown
activity types, entries that are not objects at all, and every nasty string (huge, unicode,
NUL, SOQL metacharacters and injection attempts) in places where it makes the record invalid.
Each is named by the key cmsync must quarantine it under (``cmsync.chartmogul.records.
record_key``), so the suite can check one quarantine entry per record.

``NASTY`` are the strings themselves, for the well-formed records that carry them as data.

``listing_entries()`` is a hypothesis strategy: customers, activities and invoices with values
drawn across what the ChartMogul API accepts and JSON can carry (amounts far beyond 64 bits and
negative, floats up to 1e308, the strings ``NaN`` and ``Infinity``, times from year 1 to 9999
in any offset, unicode, 10,000-character strings), well-formed or not.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from cmsync.chartmogul.records import record_key

__all__ = [
    "HUGE",
    "NASTY",
    "Generated",
    "Malformed",
    "activity",
    "customer",
    "invoice",
    "listing_entries",
    "malformed",
]

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


# --- generated entries ----------------------------------------------------------------------

_ZONES = (UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12)))
_AMOUNTS = st.one_of(
    st.integers(min_value=-(10**21), max_value=10**21),
    st.sampled_from([0, 2**63 - 1, -(2**63 - 1), 2**63, 10**20, -(10**20), 10**400]),
    st.floats(allow_nan=False, allow_infinity=False),  # JSON carries no NaN nor infinity
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e20"]),
)
_TIMES = st.one_of(
    st.datetimes(
        min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59),
        timezones=st.sampled_from(_ZONES),
    ).map(datetime.isoformat),
    st.sampled_from(
        ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "1700-01-01T00:00:00Z",
         "4000-12-30T00:00:00Z", "2026-01-05T00:00:00Z"]
    ),
)  # fmt: skip
# What a well-formed record may carry: every 64-bit amount, every time Salesforce can hold.
_GOOD_AMOUNTS = st.one_of(
    st.integers(min_value=-(2**63 - 1), max_value=2**63 - 1),
    st.integers(min_value=-(10**7), max_value=10**7),
    st.sampled_from([0, 2**63 - 1, -(2**63 - 1)]),
)
_GOOD_TIMES = st.datetimes(
    min_value=datetime(1700, 1, 2), max_value=datetime(4000, 12, 30),
    timezones=st.sampled_from(_ZONES),
).map(datetime.isoformat)  # fmt: skip
_TEXT = st.one_of(st.text(max_size=40), st.just("Ж" * 10_000), st.sampled_from(NASTY))
_TYPES = st.sampled_from(["new_biz", "expansion", "contraction", "churn", "reactivation"])


class Generated:
    """Listing entries for ``/__sandbox/inject``: {"activities": [...], ...}. Not a dataclass:
    hypothesis would show a failing example field by field, 10 kB strings and all."""

    def __init__(self, entries: dict[str, list[Any]]) -> None:
        self.entries = entries

    def __repr__(self) -> str:  # shown by a failing example: the keys, not 10 kB strings
        keys = {kind: [record_key(raw) for raw in raws] for kind, raws in self.entries.items()}
        return f"Generated({keys})"

    def listed(self) -> Iterator[tuple[str, Any]]:
        for kind, raws in self.entries.items():
            for raw in raws:
                yield kind, raw

    @staticmethod
    def key(kind: str, raw: Any) -> str:
        """The key a malformed entry must be quarantined under."""
        return Malformed(kind, raw, "").quarantine_key


def _ranges(draw: st.DrawFn) -> tuple[st.SearchStrategy[Any], st.SearchStrategy[str]]:
    """Amounts and times for one record: half the records keep to what a well-formed one
    holds (so many records are good), the others range over everything JSON carries."""
    if draw(st.booleans()):
        return _GOOD_AMOUNTS, _GOOD_TIMES
    return _AMOUNTS, _TIMES


@st.composite
def _customer(draw: st.DrawFn) -> dict[str, Any]:
    amounts, times = _ranges(draw)
    name, email = draw(_TEXT), draw(_TEXT)
    external = draw(_TEXT)
    return customer(
        f"cus_gen-{draw(st.uuids())}", name=name, email=email, company=name,
        external_id=external, external_ids=[external], mrr=draw(amounts), arr=draw(amounts),
        **{"customer-since": draw(times)},
    )  # fmt: skip


@st.composite
def _activity(draw: st.DrawFn, customers: list[str]) -> dict[str, Any]:
    amounts, times = _ranges(draw)
    owner = draw(st.sampled_from(customers)) if customers else f"cus_gen-{draw(st.uuids())}"
    return activity(
        f"act_gen-{draw(st.uuids())}", owner, type=draw(_TYPES), date=draw(times),
        description=draw(_TEXT),
        **{"activity-mrr": draw(amounts), "activity-mrr-movement": draw(amounts),
           "activity-arr": draw(amounts), "plan-external-id": draw(_TEXT),
           "subscription-external-id": draw(_TEXT)},
    )  # fmt: skip


@st.composite
def _invoice(draw: st.DrawFn, customers: list[str]) -> dict[str, Any]:
    amounts, times = _ranges(draw)
    owner = draw(st.sampled_from(customers)) if customers else f"cus_gen-{draw(st.uuids())}"
    when = draw(times)
    return invoice(
        f"inv_gen-{draw(st.uuids())}", customer_uuid=owner, date=when,
        external_id=draw(_TEXT) or None,
        line_items=[
            {"type": draw(st.sampled_from(["subscription", "one_time", "trial"])),
             "amount_in_cents": draw(amounts), "quantity": 1}
            for _ in range(draw(st.integers(0, 3)))
        ],
        transactions=[{"type": "payment", "date": draw(times),
                       "result": draw(st.sampled_from(["successful", "failed"]))}],
    )  # fmt: skip


@st.composite
def listing_entries(draw: st.DrawFn) -> Generated:
    """A few customers, and activities and invoices of theirs (or of strangers)."""
    customers = draw(st.lists(_customer(), max_size=3))
    owners = [c["uuid"] for c in customers]
    return Generated(
        {
            "customers": customers,
            "activities": draw(st.lists(_activity(owners), max_size=3)),
            "invoices": draw(st.lists(_invoice(owners), max_size=2)),
        }
    )
