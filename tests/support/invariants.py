"""The invariants of a finished sync: what must hold however the run got there.

Ground truth comes from the sandbox: ``scenario.json`` says how each seeded customer can be
matched, ChartMogul (read with cmsync's own client) says what each Account should hold, and
Salesforce is read straight from the emulator's record store, so a check neither meets
injected faults nor spends the org's daily API allocation. Turn faults off before checking:
the ChartMogul truth is read over HTTP.

- ``check_accounts``: every matchable customer's Account holds its UUID and figures, and no
  other Account holds them; ambiguous and unmatchable customers get nothing written;
- ``check_effects``: exactly one Task or Case per churn-risk movement and one Opportunity per
  expansion day of the linked customers, found by sync key: none lost, none extra;
- ``check_no_duplicates``: no sync key on two live Tasks, Cases or Opportunities; no external
  id on two live ChartMogul customers of one data source, nor on two invoices;
- ``check_cursors``: each cursor's watermark at or before the newest record of its source;
- ``check_outbox``: nothing left in flight (and, when asked, nothing pending or dead).

``check_all`` runs every one of them.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import Counter
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cmsync.chartmogul import connect
from cmsync.chartmogul.records import Activity, Customer
from cmsync.config import Settings, load_settings
from cmsync.pipeline.streams.activities import movement
from cmsync.pipeline.translate import STAGE_LABELS
from cmsync.sandbox.runner import RunningSandbox
from state import OutboxCounts, Store

__all__ = [
    "HORIZON_DAYS",
    "MATCHABLE",
    "UNMATCHABLE",
    "Truth",
    "World",
    "check_accounts",
    "check_all",
    "check_cursors",
    "check_effects",
    "check_no_duplicates",
    "check_outbox",
    "live_rows",
    "load_world_settings",
    "outbox_counts",
    "read_truth",
    "sync_env",
]

HORIZON_DAYS = 90  # alerts for the last quarter of the scenario's history
MATCHABLE = {"linked", "external_id", "contact_email", "domain"}
UNMATCHABLE = {"no_email", "freemail", "cm_only"}
WRITES = ("POST", "PATCH", "DELETE")
ALERT_KINDS = ("contraction", "downgrade", "churn")  # the churn-risk alerts of an MRR movement
# Which source each Salesforce cursor follows (its watermark is that object's SystemModstamp).
SALESFORCE_CURSORS = {
    "salesforce.closed_won": "Opportunity",
    "salesforce.contacts": "Contact",
    "salesforce.leads": "Lead",
}


def sync_env() -> dict[str, str]:
    """The settings every suite syncs with (in CMSYNC_* form, for processes too)."""
    return {"CMSYNC_SYNC__ALERT_HORIZON_DAYS": str(HORIZON_DAYS)}


_ENVIRONMENT = threading.Lock()


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value


def load_world_settings(directory: Path, **overrides: str) -> Settings:
    """The sandbox's ``cmsync.toml`` with ``sync_env()`` and ``overrides`` (CMSYNC_* names).

    Settings read the process environment, so tests loading them from several threads at
    once take turns (one thread's overrides must not leak into another's settings).
    """
    with _ENVIRONMENT, _environment({**sync_env(), **overrides}):
        return load_settings(directory / "cmsync.toml")


@dataclass
class World:
    """A running sandbox, the settings cmsync uses against it, and its ground truth."""

    sandbox: RunningSandbox
    settings: Settings
    scenario: dict[str, Any]

    @classmethod
    def of(cls, sandbox: RunningSandbox, **overrides: str) -> World:
        directory = sandbox.options.directory
        scenario = json.loads((directory / "scenario.json").read_text())
        return cls(sandbox, load_world_settings(directory, **overrides), scenario)

    @property
    def store_path(self) -> Path:
        return self.settings.store.path

    def write_calls(self) -> Counter[str]:
        """Salesforce write calls so far, by endpoint (logins write nothing)."""
        stats = self.sandbox.salesforce.stats.by_endpoint
        return Counter(
            {k: v for k, v in stats.items() if k.split(" ", 1)[0] in WRITES and "/oauth2/" not in k}
        )

    def linked(self) -> dict[str, str]:
        """Customer UUID -> Account Id of every seeded customer cmsync can match."""
        accounts = self.scenario["accounts"]
        return {
            c["uuid"]: accounts[c["account"]]["id"]
            for c in self.scenario["customers"].values()
            if c["link"] in MATCHABLE
        }

    def prompt_linked(self) -> dict[str, str]:
        """``linked()`` less the customers of a data source with a processing delay (the
        seeded PayPal source shows its imports hours late): what a test imports for them
        shows at once."""
        sources = self.scenario.get("data_sources", {})
        prompt = {k for k, d in sources.items() if not d.get("processing_delay_seconds")}
        customers = self.scenario["customers"].values()
        slow = {c["uuid"] for c in customers if c.get("data_source", "import") not in prompt}
        return {u: a for u, a in self.linked().items() if u not in slow or not sources}


@dataclass
class Truth:
    customers: dict[str, Customer]
    activities: list[Activity]
    plans: dict[str, str]  # external id -> name


async def read_truth(settings: Settings) -> Truth:
    """Everything ChartMogul says, read with cmsync's own client (faults must be off)."""
    async with connect(settings.chartmogul) as cm:
        customers = {c.uuid: c async for p in cm.customer_pages() for c in p.entries}
        activities = [a async for p in cm.activity_pages() for a in p.entries]
        plans = {
            p.external_id or p.uuid: p.name async for page in cm.plan_pages() for p in page.entries
        }
    return Truth(customers, activities, plans)


def live_rows(sandbox: RunningSandbox, sobject: str) -> list[dict[str, Any]]:
    """The live records of ``sobject`` as held by the emulator (Id and non-null fields)."""
    store = sandbox.salesforce.store
    with store.lock:
        return [{"Id": r.id, **r.values} for r in store.table(sobject) if not r.deleted]


def _expected_stage_labels(status: str | None) -> set[str | None]:
    if status == "Cancelled":
        return {"Churned"}
    if status in ("Active", "Past Due"):
        return {"New", "Active", "At Risk"}
    return {"Lead", "Trial", None}


def check_accounts(world: World, truth: Truth, *, skip: Collection[str] = ()) -> None:
    """Salesforce equals ChartMogul for every linked Account (``skip``: customer UUIDs)."""
    accounts = {a["Id"]: a for a in live_rows(world.sandbox, "Account")}
    linked = world.linked()
    for key, customer in world.scenario["customers"].items():
        uuid, kind = customer["uuid"], customer["link"]
        if uuid in skip:
            continue
        holders = [a["Id"] for a in accounts.values() if a.get("CM_Customer_UUID__c") == uuid]
        if kind in MATCHABLE:
            assert holders == [linked[uuid]], (key, kind, holders)
        else:
            assert holders == [], (key, kind)  # ambiguous and unmatchable: nothing written
    for uuid, account_id in linked.items():
        if uuid in skip:
            continue
        account, customer = accounts[account_id], truth.customers[uuid]
        assert account.get("CM_MRR__c") == customer.mrr / 100, uuid
        assert account.get("CM_ARR__c") == customer.arr / 100, uuid
        assert account.get("CM_Status__c") == customer.status, uuid
        assert account.get("CM_URL__c") == customer.chartmogul_url, uuid
        stage = account.get("CM_Lifecycle_Stage__c")
        assert stage in _expected_stage_labels(customer.status), (uuid, stage)
        assert stage in set(STAGE_LABELS.values()) | {None}
        mine = [a for a in truth.activities if a.customer_uuid == uuid]
        if mine and customer.mrr:
            last = max(mine, key=lambda a: a.date)
            assert account.get("CM_Plan__c") == truth.plans.get(last.plan_external_id or ""), uuid


def _short(text: str) -> str:
    """How the lifecycle bounds a signal key for the 80-character sync key field."""
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def check_effects(
    world: World, truth: Truth, *, skip: Collection[str] = (), now: datetime | None = None
) -> None:
    """One alert per churn-risk movement, one Opportunity per expansion day: by sync key.

    The keys are the contract with the org (a changed formula would duplicate every record on
    upgrade), so they are computed here from the movements, not taken from cmsync's state.
    """
    horizon = (now or datetime.now(UTC)) - timedelta(days=HORIZON_DAYS)
    linked = {u for u in world.linked() if u not in skip}
    recent = [a for a in truth.activities if a.customer_uuid in linked and a.date >= horizon]
    sync_key = world.settings.fields.sync_key

    alerts = Counter(
        row.get(sync_key)
        for sobject in ("Task", "Case")
        for row in live_rows(world.sandbox, sobject)
        if str(row.get(sync_key)).startswith(tuple(f"cmsync:{k}:" for k in ALERT_KINDS))
    )
    risky = [a for a in recent if a.type in ("contraction", "churn")]
    for activity in risky:
        candidates = {f"cmsync:{k}:{_short(movement(activity).key)}" for k in ALERT_KINDS}
        found = [k for k in candidates if alerts[k]]
        assert len(found) == 1, ("no alert (or several) for", activity.model_dump())
    assert sum(alerts.values()) == len(risky), "alerts without a churn-risk movement"

    days = {
        "cmsync:expansion:"
        + _short(f"{a.customer_uuid}|{a.subscription_external_id or ''}|{a.date.date()}")
        for a in recent
        if a.type == "expansion"
    }
    opportunities = [
        row.get(sync_key)
        for row in live_rows(world.sandbox, "Opportunity")
        if str(row.get(sync_key)).startswith("cmsync:expansion:")
    ]
    assert sorted(opportunities) == sorted(days), "expansion Opportunities differ"


def check_no_duplicates(world: World) -> None:
    """No record twice: Salesforce by sync key, ChartMogul by external id."""
    sync_key = world.settings.fields.sync_key
    for sobject in ("Task", "Case", "Opportunity"):
        keys = Counter(r[sync_key] for r in live_rows(world.sandbox, sobject) if r.get(sync_key))
        doubled = {k: n for k, n in keys.items() if n > 1}
        assert not doubled, (sobject, doubled)
    cm = world.sandbox.chartmogul.store
    with cm.lock:
        registry = cm.registry
        customers = Counter(
            (c.data_source.uuid, c.external_id)
            for c in registry.customer_order
            if registry.live_customer(c)
        )
        invoices = Counter(
            (i.data_source.uuid, i.external_id)
            for i in registry.invoice_order
            if registry.live_invoice(i)
        )
    assert not {k: n for k, n in customers.items() if n > 1}, "a ChartMogul customer twice"
    assert not {k: n for k, n in invoices.items() if n > 1}, "a ChartMogul invoice twice"


def _newest(world: World, truth: Truth, cursor: str) -> datetime:
    """The newest stamp the source of ``cursor`` holds (the sandbox's now if unknown)."""
    if cursor == "chartmogul.activities":
        return max(a.date for a in truth.activities)
    sobject = SALESFORCE_CURSORS.get(cursor)
    if sobject is not None:
        stamps = [r["SystemModstamp"] for r in live_rows(world.sandbox, sobject)]
        return max(stamps)  # type: ignore[no-any-return]
    return world.sandbox.ctx.clock.now()


def check_cursors(world: World, truth: Truth) -> None:
    """Every cursor at or before the newest record of its source; both ChartMogul ones set."""
    store = Store.open_readonly(world.store_path)
    try:
        with store.snapshot() as q:
            cursors = {c.name: json.loads(c.value) for c in q.cursors()}
    finally:
        store.close()
    assert {"chartmogul.activities", "chartmogul.invoices"} <= set(cursors), sorted(cursors)
    cm = world.sandbox.chartmogul.store
    head = cursors["chartmogul.invoices"].get("head")
    with cm.lock:
        assert head is None or head in cm.registry.invoices, f"invoice cursor at unknown {head}"
    for name, value in cursors.items():
        stamp = value.get("stamp") if isinstance(value, dict) else None
        if stamp is None:
            continue
        newest = _newest(world, truth, name)
        assert datetime.fromisoformat(stamp) <= newest, (name, stamp, newest.isoformat())


def outbox_counts(path: Path) -> OutboxCounts:
    store = Store.open_readonly(path)
    try:
        with store.snapshot() as q:
            return q.outbox_counts()
    finally:
        store.close()


def check_outbox(world: World, *, settled: bool = True) -> None:
    """No row in flight; with ``settled``, none pending or dead either."""
    counts = outbox_counts(world.store_path)
    assert counts.in_flight == 0, counts
    if settled:
        assert (counts.pending, counts.dead) == (0, 0), counts


async def check_all(world: World, *, skip: Collection[str] = ()) -> Truth:
    """Every invariant above; returns the truth it read."""
    truth = await read_truth(world.settings)
    check_accounts(world, truth, skip=skip)
    check_effects(world, truth, skip=skip)
    check_no_duplicates(world)
    check_cursors(world, truth)
    check_outbox(world)
    return truth
