"""Driving a sync to its end and reading what it left in Salesforce, by natural keys.

- ``start_world``: a seeded sandbox on the test's loop thread, as a ``World``;
- ``make_retries_due``: time passes for the outbox: every row waiting for its retry backoff
  (30 s and more) is due now, attempts kept, so a test need not sleep through backoffs;
- ``sync_until_settled``: ``run_once`` until a pass has nothing left to do, a bounded number of
  times;
- ``import_invoice``: ChartMogul changes under the sync, as a billing system's import would;
- ``salesforce_state``: what cmsync wrote, keyed so that two sandboxes seeded alike compare
  equal whatever their record Ids: Accounts by scenario key, Tasks, Cases and Opportunities by
  sync key, references (Account, owner) by the referenced record's natural key, and ChartMogul
  customers by their data source and external id (see ``CustomerNames``).
"""

from __future__ import annotations

import gc
import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from cmsync.config import Settings
from cmsync.pipeline.accounts import policy_from
from cmsync.pipeline.once import run_once
from cmsync.pipeline.sync_pass import PassReport
from cmsync.sandbox.runner import SandboxOptions, start_sandbox
from cmsync.sandbox.serve import LoopThread
from state import Store
from tests.support.invariants import World, live_rows, outbox_counts

T = TypeVar("T")

__all__ = [
    "RECORD_FIELDS",
    "CustomerNames",
    "SalesforceState",
    "import_invoice",
    "make_retries_due",
    "salesforce_state",
    "start_world",
    "step_outcome",
    "sync_until_settled",
    "writes_so_far",
]

# The fields cmsync sets on the records it creates (upserts on the sync key).
RECORD_FIELDS = {
    "Task": ("Subject", "Description", "Priority", "Status", "ActivityDate", "WhatId", "OwnerId"),
    "Case": ("Subject", "Description", "Priority", "Status", "Origin", "AccountId", "OwnerId"),
    "Opportunity": (
        "Name", "StageName", "CloseDate", "Amount", "Type", "AccountId", "OwnerId", "Description",
    ),
}  # fmt: skip


@contextmanager
def start_world(
    loop: LoopThread,
    directory: Path,
    *,
    seed: int,
    accounts: int,
    faults: str = "none",
    **overrides: str,
) -> Iterator[World]:
    """A seeded sandbox (stopped on exit) and the settings to sync it with."""
    options = SandboxOptions(directory=directory, seed=seed, accounts=accounts, faults=faults)
    running = loop.call(start_sandbox(options), timeout=120)
    try:
        yield World.of(running, **overrides)
    finally:
        gc.collect()  # no lingering client response may hold a socket to the emulators
        loop.call(running.stop())


def make_retries_due(path: Path) -> int:
    """Every pending row becomes due now (attempts and last error kept); how many moved.

    Done through the store's own moves: a store whose clock runs a day ahead claims every row
    waiting for a retry, and releases them due at the real now. Only while no daemon runs.
    """
    now = datetime.now(UTC)
    store = Store.open(path, clock=lambda: now + timedelta(days=1))
    try:
        with store.transaction() as tx:
            waiting = [row.id for row in tx.outbox.claim_due(1_000_000)]
            return tx.outbox.release(waiting, now)
    finally:
        store.close()


def writes_so_far(world: World) -> int:
    """Write calls both emulators have answered so far (Salesforce logins excluded)."""
    chartmogul = world.sandbox.chartmogul.stats.by_endpoint
    return world.write_calls().total() + sum(
        n for endpoint, n in chartmogul.items() if not endpoint.startswith("GET ")
    )


async def sync_until_settled(world: World, *, passes: int = 8) -> list[PassReport]:
    """``run_once`` until a pass leaves nothing pending and writes nothing; every report.

    A pass can enqueue what only a later one completes (a plan created by one step and named
    by the next pass's context), so a sync is complete at its first quiet pass, not its first
    empty outbox. Between passes, the retries the last one scheduled are made due. Fails the
    test if no pass of ``passes`` was quiet.
    """
    reports: list[PassReport] = []
    for _ in range(passes):
        before = writes_so_far(world)
        reports.append(await run_once(world.settings))
        counts = outbox_counts(world.store_path)
        if counts.pending == counts.in_flight == 0 and writes_so_far(world) == before:
            return reports
        make_retries_due(world.store_path)
    summary = "\n\n".join(r.summary() for r in reports[-2:])
    raise AssertionError(f"no quiet pass in {passes}: {counts}\n{summary}")


@dataclass(frozen=True)
class SalesforceState:
    """What cmsync wrote, by natural keys (see the module docstring)."""

    accounts: dict[str, dict[str, Any]]  # scenario key (or Name) -> the fields cmsync writes
    records: dict[tuple[str, str], dict[str, Any]]  # (object, sync key) -> its fields

    def differences(self, other: SalesforceState) -> list[str]:
        """Readable differences from ``other`` (empty when equal)."""
        out: list[str] = []
        for label, mine, theirs in (
            ("Account", self.accounts, other.accounts),
            ("record", self.records, other.records),
        ):
            for key in sorted(set(mine) | set(theirs), key=str):
                if mine.get(key) != theirs.get(key):
                    out.append(f"{label} {key}: {mine.get(key)} != {theirs.get(key)}")
        return out


_CUSTOMER_UUID = re.compile(r"cus_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_CUSTOMER_ID = re.compile(r"(?<=/customers/)[0-9]+")  # in the customer's ChartMogul URL
# The record the sync key of each kind of record concerns (its Account).
_ACCOUNT_FIELD = {"Task": "WhatId", "Case": "AccountId", "Opportunity": "AccountId"}


def _digest(key: str) -> str:
    """The lifecycle's length-bounded form of a key (``state.lifecycle``), for sync keys."""
    return hashlib.sha256(key.encode()).hexdigest()[:40]


@dataclass(frozen=True)
class CustomerNames:
    """Each ChartMogul customer of a sandbox under a name that does not depend on timing.

    ChartMogul names a customer when it creates it: a uuid and an increasing integer id. The
    emulator mints both from one seeded sequence, so the seeded customers are named alike in
    every sandbox of a seed, but the customers cmsync creates for Closed-Won deals are named
    in the order their creates arrive, and cmsync sends a pass's creates side by side: with a
    fault retrying one of them, Account A can get the uuid Account B got in another sandbox.
    The outcome is the same up to those names, so two sandboxes are compared under canonical
    ones: ``customer:<data source>:<external id>`` (an Account Id as the Account's key), one
    per customer (ChartMogul refuses an external id twice in a data source, which
    ``check_no_duplicates`` verifies), in every value cmsync wrote. A uuid or id no customer
    holds keeps its text, and so still differs.

    A sync key is a digest over a key holding the customer's uuid. The keys whose preimage
    can be rebuilt (a milestone's: uuid and amount) are rebuilt from the canonical name; a
    record of a customer created during the sync whose key cannot be is compared by its
    content (its fields, its Account, its kind) instead, which still tells a doubled, lost or
    different record. The seeded customers' records keep their sync keys.
    """

    names: dict[str, str]  # a customer's uuid or integer id (as text) -> its canonical name
    created: frozenset[str]  # the uuids of the customers created since the seeding
    keys: dict[str, str]  # a rebuildable sync key -> the same key over canonical names

    @classmethod
    def of(cls, world: World) -> CustomerNames:
        seeded = {c["uuid"] for c in world.scenario["customers"].values()}
        # A deal's customer is created under its Account's Id: named by the Account's key.
        accounts = {a["id"]: key for key, a in world.scenario["accounts"].items()}
        milestones = policy_from(world.settings.sync).milestones_cents
        cm = world.sandbox.chartmogul.store
        with cm.lock:
            customers = [
                (c.uuid, str(c.id), f"customer:{c.data_source.name}:{external}")
                for c in cm.registry.customer_order
                for external in [accounts.get(c.external_id, c.external_id)]
            ]
        names: dict[str, str] = {}
        keys: dict[str, str] = {}
        for uuid, number, name in customers:
            names[uuid] = names[number] = name
            for m in milestones:  # ``state.lifecycle``'s milestone key
                keys[f"cmsync:milestone:{_digest(f'{uuid}|{m}')}"] = f"cmsync:milestone:{name}|{m}"
        created = frozenset(uuid for uuid, _, _ in customers if uuid not in seeded)
        return cls(names, created, keys)

    def value(self, value: Any) -> Any:
        """``value`` with every customer uuid and id it holds under its canonical name."""
        if not isinstance(value, str):
            return value
        value = _CUSTOMER_UUID.sub(lambda m: self.names.get(m[0], m[0]), value)
        return _CUSTOMER_ID.sub(lambda m: self.names.get(m[0], m[0]), value)


def salesforce_state(world: World) -> SalesforceState:
    """The fields cmsync writes, of every Account and of every record it created."""
    customers = CustomerNames.of(world)
    names = {a["id"]: key for key, a in world.scenario["accounts"].items()}
    accounts = live_rows(world.sandbox, "Account")
    for account in accounts:
        names.setdefault(account["Id"], f"name:{account.get('Name')}")
    names.update({u["Id"]: f"user:{u.get('Username')}" for u in live_rows(world.sandbox, "User")})
    written = sorted(set(world.settings.fields.account.model_dump().values()))
    uuid_field = world.settings.fields.account.customer_uuid
    account_state = {
        names[a["Id"]]: {f: customers.value(a.get(f)) for f in written} for a in accounts
    }
    created = {a["Id"] for a in accounts if a.get(uuid_field) in customers.created}
    sync_key = world.settings.fields.sync_key
    records: dict[tuple[str, str], dict[str, Any]] = {}
    for sobject, fields in RECORD_FIELDS.items():
        for row in live_rows(world.sandbox, sobject):
            key = row.get(sync_key)
            if not key:
                continue
            content = {
                f: names.get(row[f], row[f]) if isinstance(row.get(f), str) else row.get(f)
                for f in fields
            }
            content = {f: customers.value(v) for f, v in content.items()}
            if str(key) in customers.keys:
                key = customers.keys[str(key)]
            elif row.get(_ACCOUNT_FIELD[sobject]) in created:
                kind = str(key).split(":")[1] if str(key).count(":") >= 2 else ""
                key = f"cmsync:{kind}:by content {sorted(content.items(), key=str)}"
                n = sum(1 for o, k in records if o == sobject and k.startswith(key))
                key += f" #{n + 1}" if n else ""  # two alike are two, not one
            records[(sobject, str(key))] = content
    return SalesforceState(account_state, records)


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def import_invoice(world: World, customer_uuid: str, tag: str, *, failed: bool = False) -> None:
    """A new monthly subscription for the customer in ChartMogul, invoiced an hour ago.

    Through the emulator's store, as a billing system's import would: the customer's MRR
    moves (an expansion for a paying customer), and ``failed`` makes its payment fail.
    """
    cm = world.sandbox.chartmogul.store
    source = cm.registry.customers[customer_uuid].data_source.uuid  # plans are per source
    plans = cm.run(cm.sources.list_plans, {"data_source_uuid": source})["plans"]
    plan = next(p for p in plans if p["interval_unit"] == "month")
    start = world.sandbox.ctx.clock.now().replace(microsecond=0) - timedelta(hours=1)
    invoice = {
        "external_id": f"{tag}-inv",
        "date": _ts(start),
        "currency": "USD",
        "line_items": [
            {
                "type": "subscription",
                "subscription_external_id": f"{tag}-sub",
                "plan_uuid": plan["uuid"],
                "service_period_start": _ts(start),
                "service_period_end": _ts(start + timedelta(days=30)),
                "amount_in_cents": 2_900,
                "quantity": 1,
                "external_id": f"{tag}-li",
            }
        ],
        "transactions": [
            {"type": "payment", "date": _ts(start), "result": "failed" if failed else "successful",
             "external_id": f"{tag}-tx"}
        ],
    }  # fmt: skip
    cm.import_invoices(customer_uuid, [invoice])


async def step_outcome(settings: Settings, name: str, kind: type[T]) -> T:
    """One whole sync pass (``run_once``), which must succeed; step ``name``'s outcome."""
    report = await run_once(settings)
    assert report.ok, report.summary()
    step = report.step(name)
    assert step is not None and isinstance(step.outcome, kind), report.summary()
    return step.outcome
