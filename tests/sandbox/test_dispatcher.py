"""The outbox dispatcher against the Salesforce emulator: real sockets, a temporary store.

The store and the dispatcher share an injected clock (retries fall due by advancing it, never
by sleeping); the emulator keeps its own clock, moved only to roll its daily API allocation
over. Calls are counted by the emulator's request stats, results read back with SOQL.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest

from cmsync.config import load_settings
from cmsync.pipeline.dispatch.dispatcher import Dispatcher, DispatchPolicy, preview
from cmsync.retry import RetryPolicy
from cmsync.salesforce.budget import ApiBudget
from cmsync.salesforce.collections import CollectionsWriter, RecordResult
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.salesforce.soql import soql
from cmsync.sandbox.faults import FaultProfile
from state import OutboxItem, OutboxStatus, RecordRef, Store, System
from tests.support.clock import START, FakeClock

if TYPE_CHECKING:
    from cmsync.sandbox.runner import RunningSandbox

FAST = RetryPolicy(max_attempts=3, initial_backoff=0.01, max_backoff=0.02)
QUICK = DispatchPolicy(backoff_base=10, backoff_cap=60, max_attempts=10)
COLLECTIONS = "PATCH /services/data/v{version}/composite/sobjects"
UPDATE_CALLS = COLLECTIONS + "{slash}"
UPSERT_CALLS = COLLECTIONS + "/{sobject}/{field}{slash}"


def _gateway(sandbox: RunningSandbox, budget: ApiBudget | None = None) -> SalesforceGateway:
    settings = load_settings(sandbox.config_file).salesforce
    return SalesforceGateway(settings, policy=FAST, budget=budget or ApiBudget(share=1.0))


@pytest.fixture
async def gateway(full_sandbox: RunningSandbox) -> AsyncIterator[SalesforceGateway]:
    gw = _gateway(full_sandbox)
    try:
        yield gw
    finally:
        await gw.close()
        full_sandbox.ctx.faults.set_profile("none")
        gc.collect()  # no response object may keep a socket to the emulator alive


def dispatcher(
    store: Store, gateway: SalesforceGateway, clock: FakeClock, **kwargs: Any
) -> Dispatcher:
    return Dispatcher(store, CollectionsWriter(gateway), gateway.budget, clock=clock, **kwargs)


def calls(sandbox: RunningSandbox) -> Counter[str]:
    stats = sandbox.salesforce.stats.by_endpoint
    return Counter({"update": stats[UPDATE_CALLS], "upsert": stats[UPSERT_CALLS]})


async def new_accounts(gateway: SalesforceGateway, tag: str, n: int) -> list[str]:
    results = await CollectionsWriter(gateway).create(
        "Account", [{"Name": f"{tag} {i:04d}"} for i in range(n)]
    )
    assert all(r.success and r.id for r in results)
    return [r.id for r in results if r.id]


def account_rows(tag: str, ids: list[str], round_: int = 0) -> list[OutboxItem]:
    """Three rows per Account: MRR, a newer MRR with a plan, then a newer plan.

    Each names the time it is due (``not_before``), which keeps the outbox from merging
    them as they are enqueued: these tests are about the dispatcher's own merge, which is
    what rows queued behind a send or a retry still rely on.
    """
    rows = []
    for i, account in enumerate(ids):
        payloads: list[dict[str, Any]] = [
            {"CM_MRR__c": 100.0 + i},
            {"CM_MRR__c": 200.5 + i, "CM_Plan__c": "Basic"},
            {"CM_Plan__c": f"Pro {i}"},
        ]
        for n, payload in enumerate(payloads):
            key, reason = f"{tag}|{round_}|{account}|{n}", f"signal:{tag}:{i}:{n}"
            rows.append(
                OutboxItem(key, "update", System.SALESFORCE, "Account", account, payload, reason,
                           not_before=START)
            )  # fmt: skip
    return rows


def task_row(tag: str, sync_key: str, account: str, subject: str, round_: int = 0) -> OutboxItem:
    payload = {"Subject": subject, "Status": "Not Started", "WhatId": account}
    return OutboxItem(
        f"{tag}|{round_}|task|{sync_key}", "upsert", System.SALESFORCE, "Task", sync_key,
        payload, f"churn:{sync_key}", key_field="CM_Sync_Key__c",
    )  # fmt: skip


def enqueue(store: Store, rows: list[OutboxItem]) -> None:
    with store.transaction() as tx:
        assert tx.outbox.enqueue(rows) == len(rows)


async def accounts_by_name(gateway: SalesforceGateway, tag: str) -> dict[str, dict[str, Any]]:
    query = soql(
        "SELECT Id, Name, CM_MRR__c, CM_Plan__c FROM Account WHERE Name LIKE {like}",
        like=f"{tag} %",
    )
    found: dict[str, dict[str, Any]] = {}
    async for page in gateway.query_pages(query):
        found.update({r["Id"]: r for r in page})
    return found


async def task_count(gateway: SalesforceGateway, sync_key: str) -> int:
    query = soql("SELECT COUNT() FROM Task WHERE CM_Sync_Key__c = {key}", key=sync_key)
    return int((await gateway.query(query))["totalSize"])


def assert_newest_values(accounts: dict[str, dict[str, Any]], ids: list[str]) -> None:
    for i, account in enumerate(ids):
        record = accounts[account]
        assert (record["CM_MRR__c"], record["CM_Plan__c"]) == (200.5 + i, f"Pro {i}")


def statuses(store: Store) -> Counter[OutboxStatus]:
    with store.transaction() as tx:
        counts = tx.outbox.counts(finished=True)
    return Counter(
        {
            OutboxStatus.PENDING: counts.pending,
            OutboxStatus.IN_FLIGHT: counts.in_flight,
            OutboxStatus.DONE: counts.done or 0,
            OutboxStatus.DEAD: counts.dead,
        }
    )


async def test_450_accounts_and_3_tasks_take_4_calls_and_a_repeat_takes_none(
    full_sandbox: RunningSandbox, gateway: SalesforceGateway, store: Store, clock: FakeClock
) -> None:
    ids = await new_accounts(gateway, "Bulk", 450)
    keys = [f"bulk-task-{n}" for n in range(3)]
    rows = account_rows("Bulk", ids) + [task_row("Bulk", k, ids[0], f"Call {k}") for k in keys]
    enqueue(store, rows)

    plan = preview(store)  # the dry run's view: planned, nothing claimed
    assert (plan.record_count, len(plan.batches)) == (453, 4)
    assert statuses(store)[OutboxStatus.PENDING] == len(rows) == 1353

    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    before = calls(full_sandbox)
    report = await dispatcher(store, gateway, clock, sleep=sleep).drain()
    assert calls(full_sandbox) - before == Counter(update=3, upsert=1)  # ceil(450/200), 1
    assert report.calls == 4 and report.stopped is None and sleeps == []
    assert report.sent == {("Account", "update"): 450, ("Task", "upsert"): 3}
    assert (report.done, report.unchanged, report.retried, report.dead) == (1353, 0, 0, 0)
    assert report.next_due_at is None
    assert statuses(store) == Counter({OutboxStatus.DONE: 1353})

    assert_newest_values(await accounts_by_name(gateway, "Bulk"), ids)
    for key in keys:
        assert await task_count(gateway, key) == 1
    with store.transaction() as tx:
        remembered = tx.last_written.get_many([RecordRef("Account", ids[7])])
        assert remembered[RecordRef("Account", ids[7])] == {
            "CM_MRR__c": 207.5,
            "CM_Plan__c": "Pro 7",
        }
        task = tx.last_written.get_many([RecordRef("Task", keys[0])])[RecordRef("Task", keys[0])]
        assert task["Subject"] == "Call bulk-task-0"
        audit = tx.queries.audit_after(0, limit=1000)
        budget = {b.system: b for b in tx.queries.budgets()}[System.SALESFORCE]
    assert Counter(a.action for a in audit) == Counter({"update": 450, "upsert:created": 3})
    first = next(a for a in audit if a.record_id == ids[0])
    assert first.reason == "signal:Bulk:0:0; signal:Bulk:0:1; signal:Bulk:0:2"
    assert first.fields == {"CM_MRR__c": 200.5, "CM_Plan__c": "Pro 0"}
    assert all(a.record_id.startswith("00T") for a in audit if a.object == "Task")
    assert budget.max == 100_000 and budget.used >= 4

    # The same values again, under new idempotency keys: nothing to send at all.
    again = account_rows("Bulk", ids, round_=1)
    again += [task_row("Bulk", k, ids[0], f"Call {k}", round_=1) for k in keys]
    enqueue(store, again)
    before = calls(full_sandbox)
    report = await dispatcher(store, gateway, clock).drain()
    assert calls(full_sandbox) == before
    assert (report.calls, report.unchanged, report.done) == (0, 1353, 0)
    assert statuses(store) == Counter({OutboxStatus.DONE: 2706})


async def test_locked_rows_retry_until_done_and_refused_records_die(
    full_sandbox: RunningSandbox, gateway: SalesforceGateway, store: Store, clock: FakeClock
) -> None:
    *ids, spare = await new_accounts(gateway, "Locky", 61)
    good = [f"locky-task-{n}" for n in range(3)]
    rows = account_rows("Locky", ids) + [task_row("Locky", k, ids[1], "Follow up") for k in good]
    # A Task naming no record (MALFORMED_ID): refused for itself, whatever its fields hold
    # (a Subject too long is cut to fit instead, ``state.fieldfit``).
    rows.append(task_row("Locky", "locky-bad-what", "not-an-id", "Follow up"))
    bad_field = OutboxItem(
        "Locky|bad", "update", System.SALESFORCE, "Account", spare, {"No_Such__c": 1}, "oops"
    )
    enqueue(store, [*rows, bad_field])
    full_sandbox.ctx.faults.set_profile("locks")
    drain = dispatcher(store, gateway, clock, policy=QUICK).drain

    first = await drain()
    assert first.retried > 0 and first.done > 0 and first.next_due_at is not None
    assert first.next_due_at > clock.now  # retries wait; nothing is due again at once
    assert statuses(store)[OutboxStatus.IN_FLIGHT] == 0

    # A newer value for a record whose older rows wait for their retry is held back with
    # them, so the retry cannot overwrite it with the older values.
    with store.transaction() as tx:
        waiting = {e.target_key for e in tx.outbox.pending() if e.target_object == "Account"}
    late = sorted(waiting - {spare})[0]
    newest = OutboxItem(
        "Locky|late", "update", System.SALESFORCE, "Account", late, {"CM_MRR__c": 999.0}, "late"
    )
    enqueue(store, [newest])
    held = await drain()
    assert (held.calls, held.deferred) == (0, 1)

    for _ in range(10):
        if not statuses(store)[OutboxStatus.PENDING]:
            break
        clock.advance(QUICK.backoff_cap)
        await drain()
    # Done: 180 Account rows, 3 Tasks and the late row; dead: the bad WhatId, the bad field.
    assert statuses(store) == Counter({OutboxStatus.DONE: 184, OutboxStatus.DEAD: 2})
    assert full_sandbox.ctx.faults.injected["lock_row"] > 0

    with store.transaction() as tx:
        dead = {e.target_key: e.last_error or "" for e in tx.queries.dead_letters()}
    assert dead.keys() == {"locky-bad-what", spare}
    assert dead["locky-bad-what"].startswith("MALFORMED_ID: Related To ID"), dead
    assert dead[spare].startswith("INVALID_FIELD: No such column 'No_Such__c'")
    full_sandbox.ctx.faults.set_profile("none")
    accounts = await accounts_by_name(gateway, "Locky")
    assert accounts[late]["CM_MRR__c"] == 999.0
    for i, account in enumerate(ids):
        if account != late:
            assert accounts[account]["CM_MRR__c"] == 200.5 + i
        assert accounts[account]["CM_Plan__c"] == f"Pro {i}"
    for key in good:
        assert await task_count(gateway, key) == 1
    assert await task_count(gateway, "locky-long") == 0


async def test_the_budget_pauses_the_drain_until_the_allocation_renews(
    full_sandbox: RunningSandbox, gateway: SalesforceGateway, store: Store, clock: FakeClock
) -> None:
    ids = await new_accounts(gateway, "Budget", 250)
    rows = [*account_rows("Budget", ids), task_row("Budget", "budget-task", ids[0], "Call")]
    enqueue(store, rows)
    allowance = full_sandbox.salesforce.allowance
    # The renewed day below needs three calls (/limits and two writes) and must not spend the
    # allocation again: the maximum is at least four, whatever ran before in this sandbox.
    while allowance.used < 3:
        await gateway.refresh_limits()
    full_sandbox.ctx.faults.set_profile(FaultProfile("tiny", daily_api_limit=allowance.used + 1))

    # The budget learns from the first answer that the allocation is now spent.
    report = await dispatcher(store, gateway, clock).drain()
    assert report.calls == 1 and report.done == 600 and report.paused is not None
    assert "used" in report.paused and report.deferred == len(rows) - 600
    assert statuses(store) == Counter({OutboxStatus.DONE: 600, OutboxStatus.PENDING: 151})
    with store.transaction() as tx:
        assert all(e.attempts == 0 for e in tx.outbox.pending())  # a pause is no failure
        stored = {b.system: b for b in tx.queries.budgets()}[System.SALESFORCE]
    assert stored.used == stored.max == allowance.maximum

    # A process that knows nothing of it yet: Salesforce refuses the call (403).
    fresh = _gateway(full_sandbox, ApiBudget(share=1.0, slow_margin=1.0))
    try:
        sleeps: list[float] = []

        async def sleep(seconds: float) -> None:
            sleeps.append(seconds)

        drain = dispatcher(store, fresh, clock, sleep=sleep).drain
        report = await drain()
        assert report.paused is not None and "allocation is spent" in report.paused
        assert (report.done, report.deferred, report.retried) == (0, 151, 0)
        assert statuses(store)[OutboxStatus.IN_FLIGHT] == 0

        now = full_sandbox.ctx.clock.now()
        midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=5, microsecond=0)
        full_sandbox.ctx.clock.advance((midnight - now).total_seconds())
        await fresh.refresh_limits()
        report = await drain()
    finally:
        await fresh.close()
    assert report.stopped is None and report.calls == 2 and report.done == 151
    assert sleeps == [DispatchPolicy().slow_delay]  # always near the share: a pause between
    assert statuses(store) == Counter({OutboxStatus.DONE: len(rows)})
    full_sandbox.ctx.faults.set_profile("none")
    assert_newest_values(await accounts_by_name(gateway, "Budget"), ids)


async def test_whole_call_failures_stop_the_drain_with_nothing_in_flight(
    full_sandbox: RunningSandbox, gateway: SalesforceGateway, store: Store, clock: FakeClock
) -> None:
    ids = await new_accounts(gateway, "Down", 3)
    rows = [*account_rows("Down", ids), task_row("Down", "down-task", ids[0], "Call")]
    enqueue(store, rows)
    drain = dispatcher(store, gateway, clock, policy=QUICK).drain

    full_sandbox.ctx.faults.set_profile(FaultProfile("down", server_error=1.0))
    report = await drain()  # the Account batch goes first and fails after the gateway's retries
    assert report.outage is not None and report.calls == 1
    assert (report.retried, report.deferred) == (9, 1)
    with store.transaction() as tx:
        attempts = {e.target_object: e.attempts for e in tx.outbox.pending()}
        assert attempts == {"Account": 1, "Task": 0}
        assert tx.outbox.counts().in_flight == 0

    full_sandbox.ctx.faults.set_profile(FaultProfile("always-expire", token_expiry=1.0))
    clock.advance(QUICK.backoff_cap)
    report = await drain()
    assert report.auth_failure is not None and report.deferred == len(rows)
    assert statuses(store)[OutboxStatus.IN_FLIGHT] == 0

    full_sandbox.ctx.faults.set_profile("none")
    report = await drain()
    assert report.stopped is None and report.done == len(rows)
    assert_newest_values(await accounts_by_name(gateway, "Down"), ids)


async def test_rows_a_killed_dispatcher_left_in_flight_are_sent_once_more(
    full_sandbox: RunningSandbox, gateway: SalesforceGateway, store: Store, clock: FakeClock
) -> None:
    ids = await new_accounts(gateway, "Killed", 5)
    keys = [f"killed-task-{n}" for n in range(3)]
    rows = account_rows("Killed", ids) + [task_row("Killed", k, ids[0], "Call") for k in keys]
    enqueue(store, rows)
    # A dispatcher claimed the rows and its calls reached Salesforce, then the process died
    # before it recorded anything.
    with store.transaction() as tx:
        claimed = tx.outbox.claim_due(100)
    assert len(claimed) == len(rows)
    sent = [{"CM_Sync_Key__c": k, **task.payload} for k, task in zip(keys, rows[-3:], strict=True)]
    assert all(
        r.created for r in await CollectionsWriter(gateway).upsert("Task", "CM_Sync_Key__c", sent)
    )

    with store.transaction() as tx:  # the daemon's start-up
        assert tx.outbox.requeue_in_flight() == len(rows)
    before = calls(full_sandbox)
    report = await dispatcher(store, gateway, clock).drain()
    assert calls(full_sandbox) - before == Counter(update=1, upsert=1)
    assert report.done == len(rows) and statuses(store) == Counter({OutboxStatus.DONE: len(rows)})
    for key in keys:
        assert await task_count(gateway, key) == 1  # the repeat updated, never duplicated
    with store.transaction() as tx:
        actions = Counter(a.action for a in tx.queries.audit_after(0) if a.object == "Task")
    assert actions == Counter({"upsert:updated": 3})
    assert_newest_values(await accounts_by_name(gateway, "Killed"), ids)


async def test_a_window_smaller_than_the_queue_still_sends_full_calls(
    full_sandbox: RunningSandbox, gateway: SalesforceGateway, store: Store, clock: FakeClock
) -> None:
    ids = await new_accounts(gateway, "Window", 300)
    rows = [
        OutboxItem(f"window|{a}", "update", System.SALESFORCE, "Account", a, {"CM_MRR__c": 1.0})
        for a in ids
    ]
    enqueue(store, rows)
    drain = dispatcher(store, gateway, clock, policy=DispatchPolicy(window=250)).drain

    part = await drain(max_rows=120)  # a partial window still sends what it took
    assert (part.calls, part.done) == (1, 120)
    before = calls(full_sandbox)
    report = await drain()  # the other 180: one window, one call
    assert calls(full_sandbox) - before == Counter(update=1)
    assert (report.calls, report.done) == (1, 180)
    # 300 rows in windows of 250: without carrying the first window's last 50 rows over to
    # the second it would take 3 calls (200, 50, 50) where one full and one partial suffice.
    more = [
        OutboxItem(f"window2|{a}", "update", System.SALESFORCE, "Account", a, {"CM_MRR__c": 2.0})
        for a in ids
    ]
    enqueue(store, more)
    before = calls(full_sandbox)
    report = await drain()
    assert calls(full_sandbox) - before == Counter(update=2)
    assert report.sent == {("Account", "update"): 300} and report.done == 300
    accounts = await accounts_by_name(gateway, "Window")
    assert {r["CM_MRR__c"] for r in accounts.values()} == {2.0}


async def test_a_record_whose_rows_straddle_windows_is_still_written_once(
    full_sandbox: RunningSandbox, gateway: SalesforceGateway, store: Store, clock: FakeClock
) -> None:
    # Two rows per Account, far apart in id order (the second rows in reverse): claimed by id,
    # a window of 500 would end in the middle of the second rows and write a hundred Accounts
    # twice (400 records in the calls). Claimed by record, each Account goes out once.
    # (Due times keep the outbox from merging the rows as they are enqueued.)
    ids = await new_accounts(gateway, "Straddle", 300)
    first = [
        OutboxItem(f"straddle|1|{a}", "update", System.SALESFORCE, "Account", a,
                   {"CM_MRR__c": 1.0}, "first", not_before=START)
        for a in ids
    ]  # fmt: skip
    second = [
        OutboxItem(f"straddle|2|{a}", "update", System.SALESFORCE, "Account", a,
                   {"CM_MRR__c": 2.0, "CM_Plan__c": "Pro"}, "second", not_before=START)
        for a in reversed(ids)
    ]  # fmt: skip
    enqueue(store, [*first, *second])
    before = calls(full_sandbox)

    report = await dispatcher(store, gateway, clock, policy=DispatchPolicy(window=500)).drain()

    assert report.sent == {("Account", "update"): 300} and report.done == 600
    assert calls(full_sandbox) - before == Counter(update=2)  # the floor: ceil(300 / 200)
    accounts = await accounts_by_name(gateway, "Straddle")
    assert {(r["CM_MRR__c"], r["CM_Plan__c"]) for r in accounts.values()} == {(2.0, "Pro")}


async def test_rows_of_other_systems_and_kinds_are_left_alone_and_malformed_ones_die(
    full_sandbox: RunningSandbox, gateway: SalesforceGateway, store: Store, clock: FakeClock
) -> None:
    cm = OutboxItem("cm", "create_customer", System.CHARTMOGUL, "Customer", "acc-1", {"x": 1})
    other = OutboxItem("sf-del", "delete", System.SALESFORCE, "Task", "00T000000000001", {})
    no_key_field = OutboxItem("sf-bad", "upsert", System.SALESFORCE, "Task", "k", {"Subject": "x"})
    sets_id = OutboxItem("sf-id", "update", System.SALESFORCE, "Account", "001x", {"Id": "001y"})
    enqueue(store, [cm, other, no_key_field, sets_id])
    before = calls(full_sandbox)
    report = await dispatcher(store, gateway, clock).drain()
    assert calls(full_sandbox) == before and report.calls == 0 and report.dead == 2
    assert report.next_due_at is None  # nothing of the dispatcher's is waiting
    with store.transaction() as tx:
        left = {e.idempotency_key for e in tx.outbox.pending()}
        dead = {e.idempotency_key: e.last_error for e in tx.queries.dead_letters()}
    assert left == {"cm", "sf-del"}
    assert dead == {
        "sf-bad": "malformed outbox row: an upsert without its External ID field (key_field)",
        "sf-id": "malformed outbox row: the payload sets Id, which the key already decides",
    }


class BrokenWriter(CollectionsWriter):
    """A writer that fails in a way nobody planned for."""

    async def update(
        self, sobject: str, records: Sequence[Mapping[str, Any]]
    ) -> list[RecordResult]:
        raise RuntimeError("a bug")


async def test_an_unexpected_error_leaves_nothing_in_flight(
    gateway: SalesforceGateway, store: Store, clock: FakeClock
) -> None:
    rows = account_rows("Broken", ["001000000000001", "001000000000002"])
    enqueue(store, rows)
    broken = Dispatcher(store, BrokenWriter(gateway), gateway.budget, clock=clock)
    with pytest.raises(RuntimeError, match="a bug"):
        await broken.drain()
    assert statuses(store) == Counter({OutboxStatus.PENDING: len(rows)})
    with store.transaction() as tx:
        assert all(e.attempts == 0 for e in tx.outbox.pending())


async def test_upsert_keys_differing_only_by_case_go_in_separate_calls(
    full_sandbox: RunningSandbox, gateway: SalesforceGateway, store: Store, clock: FakeClock
) -> None:
    """Salesforce fails both records of an External ID value given twice in one collections
    upsert (DUPLICATE_VALUE, compared case-insensitively: REST API Developer Guide, "Upsert
    Multiple Records with Fewer Round-Trips"). Two outbox rows whose keys differ only by case
    are two records to the outbox, one to Salesforce: they go in two calls, in order."""
    [account] = await new_accounts(gateway, "Cased", 1)
    rows = [
        task_row("Cased", "churn|Cased-Key", account, "first"),
        task_row("Cased", "cased-other", account, "other"),
        task_row("Cased", "CHURN|cased-key", account, "second"),
    ]
    enqueue(store, rows)
    plan = preview(store)
    assert [[r.key for r in b.records] for b in plan.batches] == [
        ["churn|Cased-Key", "cased-other"],
        ["CHURN|cased-key"],
    ]
    before = calls(full_sandbox)
    report = await dispatcher(store, gateway, clock).drain()
    assert calls(full_sandbox) - before == Counter(upsert=2)
    assert (report.done, report.dead, report.retried) == (3, 0, 0)
    assert statuses(store) == Counter({OutboxStatus.DONE: 3})
    query = soql("SELECT Subject FROM Task WHERE CM_Sync_Key__c = {key}", key="churn|cased-key")
    [task] = (await gateway.query(query))["records"]
    assert task["Subject"] == "second"  # one record: created by the first, updated by the second
    assert await task_count(gateway, "cased-other") == 1
    with store.transaction() as tx:
        audit = [a for a in tx.queries.audit_after(0, limit=1000) if a.object == "Task"]
    actions = {a.fields["Subject"]: a.action for a in audit}
    assert {actions[s] for s in ("first", "other")} == {"upsert:created"}
    assert actions["second"] == "upsert:updated"
