"""Links, matches, quarantine, account states, signals, last written, and the journal tables."""

from __future__ import annotations

import dataclasses
import random
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from state import (
    AccountState,
    AuditItem,
    BudgetSnapshot,
    CommandKind,
    CommandStatus,
    FieldWrite,
    JobResult,
    LinkConflictError,
    MatchMethod,
    MinuteCount,
    QuarantineItem,
    QuarantineKind,
    QuarantineStatus,
    RecordRef,
    SignalRef,
    StageSummary,
    StaleStateError,
    Store,
    System,
    Transaction,
)
from state.signalhash import customer_range, signal_hash
from state.tables import STAGE_TOTAL_TRIGGERS
from tests.support.clock import START, FakeClock


def test_links_tie_one_customer_to_one_account(store: Store) -> None:
    with store.transaction() as tx:
        tx.pending_matches.add("cus_1", "no candidate")
        link = tx.links.put("cus_1", "001A", MatchMethod.CONTACT_EMAIL)
        assert tx.links.put("cus_1", "001A", MatchMethod.OPERATOR) == link  # same pair: no-op
        assert tx.pending_matches.count() == 0  # a linked customer is no longer pending
        assert tx.links.by_account("001A") == link
        assert tx.links.get_many(["cus_1", "cus_2"]) == {"cus_1": link}
        assert tx.links.by_accounts(["001A"]) == {"001A": link}
        with pytest.raises(LinkConflictError, match="already linked to Account 001A"):
            tx.links.put("cus_1", "001B", MatchMethod.DOMAIN)
        with pytest.raises(LinkConflictError, match="already linked to customer cus_1"):
            tx.links.put("cus_2", "001A", MatchMethod.DOMAIN)
        assert tx.links.remove("cus_1")
        assert (
            tx.links.put("cus_2", "001A", MatchMethod.OPERATOR).matched_by is MatchMethod.OPERATOR
        )


def test_links_put_many_links_once_and_refuses_what_put_would(store: Store) -> None:
    with store.transaction() as tx:
        tx.pending_matches.add("cus_1", "no candidate")
        tx.pending_matches.add("cus_9", "no candidate")
        held = tx.links.put("cus_0", "001Z", MatchMethod.OPERATOR)
        links, refused = tx.links.put_many(
            [
                ("cus_1", "001A", MatchMethod.CONTACT_EMAIL),
                ("cus_0", "001Z", MatchMethod.DOMAIN),  # the same pair: the existing link
                ("cus_0", "001B", MatchMethod.DOMAIN),  # the customer is linked elsewhere
                ("cus_2", "001Z", MatchMethod.DOMAIN),  # the Account is someone else's
                ("cus_3", "001A", MatchMethod.DOMAIN),  # taken earlier in this batch
            ]
        )
        assert set(links) == {"cus_1", "cus_0"} and links["cus_0"] == held
        assert links["cus_1"].matched_by is MatchMethod.CONTACT_EMAIL
        assert "linked to Account 001Z" in refused["cus_0"]
        assert "linked to customer cus_0" in refused["cus_2"]
        assert "linked to customer cus_1" in refused["cus_3"]
        assert tx.links.get_many(["cus_1", "cus_2", "cus_3"]) == {"cus_1": links["cus_1"]}
        assert [p.customer_uuid for p in tx.pending_matches.oldest(10)] == ["cus_9"]


def test_links_read_by_the_page_are_the_links_read_one_by_one(store: Store) -> None:
    """``get_many`` reads plain rows and converts them itself (every page of the feed reads
    its customers' links): each link it gives is the one ``get``'s typed read gives."""
    methods = list(MatchMethod)
    with store.transaction() as tx:
        tx.links.put_many((f"cus_{i}", f"001{i:03d}", methods[i % len(methods)]) for i in range(12))
    with store.transaction() as tx:
        many = tx.links.get_many([f"cus_{i}" for i in range(14)])
        assert many == {f"cus_{i}": tx.links.get(f"cus_{i}") for i in range(12)}
        assert {type(link.matched_by) for link in many.values()} == {MatchMethod}
        assert all(link.matched_at.utcoffset() == timedelta(0) for link in many.values())


def test_pending_matches_count_attempts_and_come_back_least_recently_tried(
    store: Store, clock: FakeClock
) -> None:
    with store.transaction() as tx:
        tx.pending_matches.add("cus_a", "no candidate")
    clock.advance(60)
    with store.transaction() as tx:
        tx.pending_matches.add("cus_b", "no candidate")
    clock.advance(60)
    with store.transaction() as tx:
        again = tx.pending_matches.add("cus_a", "still nothing")
        assert (again.attempts, again.first_seen_at, again.last_tried_at) == (2, START, clock.now)
        assert [p.customer_uuid for p in tx.pending_matches.oldest(10)] == ["cus_b", "cus_a"]
        assert tx.pending_matches.remove(["cus_b", "cus_zzz"]) == 1
        assert tx.queries.pending_match_count() == 1


def test_quarantine_is_one_open_entry_per_record_refreshed_with_the_latest_evidence(
    store: Store, clock: FakeClock
) -> None:
    first = QuarantineItem(
        QuarantineKind.AMBIGUOUS_MATCH,
        System.CHARTMOGUL,
        "cus_1",
        "two Accounts share the domain",
        ("001A", "001B"),
        {"uuid": "cus_1"},
    )
    with store.transaction() as tx:
        entry_id = tx.quarantine.add(first)
    clock.advance(60)
    with store.transaction() as tx:
        later = dataclasses.replace(first, candidates=("001A", "001B", "001C"))
        assert tx.quarantine.add(later) == entry_id
        other_kind = dataclasses.replace(first, kind=QuarantineKind.BAD_RECORD)
        assert tx.quarantine.add(other_kind) != entry_id
        entry = tx.quarantine.get(entry_id)
        assert entry is not None
        assert entry.candidates == ("001A", "001B", "001C")
        assert entry.payload == {"uuid": "cus_1"}
        assert (entry.created_at, entry.updated_at) == (START, clock.now)
        assert tx.quarantine.open_keys(["cus_1", "cus_2"]) == {"cus_1"}
        assert tx.quarantine.resolve(entry_id, "operator chose 001B")
        assert not tx.quarantine.resolve(entry_id, "twice")
        assert tx.quarantine.skip(tx.quarantine.add(other_kind))
        assert tx.quarantine.open_keys(["cus_1"]) == set()
        reopened = tx.quarantine.add(first)  # a new occurrence after resolution is new
        assert reopened not in {entry_id}
        assert [e.id for e in tx.queries.quarantine()] == [reopened]
        resolved = tx.queries.quarantine(QuarantineStatus.RESOLVED)
        assert [(e.id, e.resolution) for e in resolved] == [(entry_id, "operator chose 001B")]


def test_account_states_round_trip_and_refuse_lost_updates(store: Store, clock: FakeClock) -> None:
    since = datetime(2024, 1, 15, 12, 0, tzinfo=UTC)
    new = AccountState(
        "cus_1",
        "trial",
        mrr_cents=0,
        plan="Pro",
        customer_since=since.astimezone(timezone(timedelta(hours=2))),
        memo={"failed_invoices": ["inv_1"]},
    )
    with store.transaction() as tx:
        tx.accounts.put_many([new, AccountState("cus_2", "lead")])
    with store.transaction() as tx:
        stored = tx.accounts.get("cus_1")
        assert stored is not None
        assert stored.revision == 1 and stored.updated_at == START
        assert stored.customer_since == since and stored.customer_since.tzinfo == UTC
        assert stored.memo == {"failed_invoices": ["inv_1"]}
        assert set(tx.accounts.get_many(["cus_1", "cus_2", "cus_3"])) == {"cus_1", "cus_2"}
    clock.advance(1)
    with store.transaction() as tx:
        tx.accounts.put(dataclasses.replace(stored, lifecycle_state="new", mrr_cents=9900))
    with pytest.raises(StaleStateError, match="cus_1") as stale:
        _write_states(store, [dataclasses.replace(stored, lifecycle_state="churned")])
    assert stale.value.customer_uuids == ("cus_1",)
    with pytest.raises(StaleStateError, match="cus_2"):
        _write_states(store, [AccountState("cus_2", "trial")])  # written before, read as new
    with store.transaction() as tx:
        current = tx.accounts.get("cus_1")
        assert current is not None and (current.lifecycle_state, current.revision) == ("new", 2)
        assert tx.cursors.get("page") is None  # the stale units were rolled back whole
        with pytest.raises(ValueError, match="one state per customer"):
            tx.accounts.put_many([current, current])


EST = timezone(timedelta(hours=-5))


def test_states_read_by_customer_equal_the_typed_read(store: Store) -> None:
    """``get_many`` reads plain tuples and converts them itself: it must give exactly what
    the typed columns give (``select``), every field set or left empty."""
    full = AccountState(
        "cus_full", "at_risk", mrr_cents=12_345, arr_cents=148_140, currency="EUR", plan="pl_1",
        status="Past Due", customer_since=datetime(2023, 5, 1, 8, 30, 15, 250, tzinfo=UTC),
        churn_risk="High", last_activity_at=datetime(2026, 1, 2, tzinfo=EST),
        memo={"failures": [["inv_1", "2026-01-02T00:00:00+00:00"]], "as_of": None},
    )  # fmt: skip
    with store.transaction() as tx:
        tx.accounts.put_many([full, AccountState("cus_bare", "lead")])
    with store.transaction() as tx:
        typed = {s.customer_uuid: s for s in tx.accounts.select()}
        plain = tx.accounts.get_many(["cus_full", "cus_bare", "cus_none"])
    assert plain == typed and set(plain) == {"cus_full", "cus_bare"}
    assert plain["cus_full"].customer_since == full.customer_since
    assert plain["cus_bare"].customer_since is None and plain["cus_bare"].memo == {}


def _write_states(store: Store, states: list[AccountState]) -> None:
    with store.transaction() as tx:
        tx.cursors.set("page", "2")
        tx.accounts.put_many(states)


def test_naive_datetimes_are_refused(store: Store) -> None:
    with pytest.raises(Exception, match="naive datetime"), store.transaction() as tx:
        tx.accounts.put(AccountState("cus_1", "new", customer_since=datetime(2024, 1, 1)))


def test_applied_signals_are_remembered_per_customer(store: Store) -> None:
    one, two, other = SignalRef("cus_1", "s1"), SignalRef("cus_1", "s2"), SignalRef("cus_2", "s1")
    with store.transaction() as tx:
        assert tx.signals.mark([one, other]) == 2
        assert tx.signals.mark([one, two]) == 1
        assert tx.signals.applied([one, two, SignalRef("cus_3", "s1")]) == {one, two}
        assert tx.signals.has(other) and not tx.signals.has(SignalRef("cus_2", "s2"))


def test_a_merged_customers_applied_signals_are_carried_to_the_survivor(store: Store) -> None:
    """Its keys, rewritten with the survivor's UUID, count as applied to the survivor; a key
    the survivor has already is not counted twice; the merged customer's stay."""
    with store.transaction() as tx:
        tx.signals.mark([SignalRef("cus_old", "new_biz:cus_old:1"), SignalRef("cus_old", "x:2")])
        tx.signals.mark([SignalRef("cus_new", "x:2")])
        assert tx.signals.carry("cus_old", "cus_new") == 1
        assert tx.signals.applied(
            [SignalRef("cus_new", "new_biz:cus_new:1"), SignalRef("cus_new", "x:2")]
        ) == {SignalRef("cus_new", "new_biz:cus_new:1"), SignalRef("cus_new", "x:2")}
        assert tx.signals.has(SignalRef("cus_old", "new_biz:cus_old:1"))
        assert tx.signals.carry("cus_old", "cus_new") == 0


def _stored_with_hash(store: Store, customer: str, key: str, signal_hash: int) -> None:
    """An applied signal stored under a hash that is not its own: a collision, forced."""
    with sqlite3.connect(store.path) as conn:
        conn.execute(
            "INSERT INTO applied_signal (signal_hash, customer_uuid, signal_key, applied_at) "
            "VALUES (?, ?, ?, '2025-01-01T00:00:00.000000+00:00')",
            (signal_hash, customer, key),
        )


def _stored_pairs(store: Store) -> list[tuple[str, str]]:
    with sqlite3.connect(store.path) as conn:
        rows = conn.execute("SELECT customer_uuid, signal_key FROM applied_signal ORDER BY id")
        return [(c, k) for c, k in rows]


def test_two_pairs_sharing_a_hash_are_told_apart(store: Store) -> None:
    """Signals are found by a 64-bit hash and then compared: another pair stored under the
    same hash neither makes a signal look applied nor keeps it from being marked."""
    mine, theirs = SignalRef("cus_1", "s1"), SignalRef("cus_9", "other")
    _stored_with_hash(store, theirs.customer_uuid, theirs.key, signal_hash("cus_1", "s1"))
    with store.transaction() as tx:
        assert tx.signals.applied([mine]) == set() and not tx.signals.has(mine)
        assert tx.signals.mark([mine, mine]) == 1  # once, though named twice
        assert tx.signals.applied([mine, theirs]) == {mine, theirs}
        assert tx.signals.mark([mine, theirs]) == 0
    assert _stored_pairs(store) == [("cus_9", "other"), ("cus_1", "s1")]  # each once


def _undone(tx: Transaction, work: Callable[[], None]) -> None:
    """``work`` in a savepoint that fails after it: what it wrote is rolled back."""
    with tx.savepoint():
        work()
        raise RuntimeError("the record failed")


def test_signals_looked_up_are_marked_once_and_an_undone_mark_is_not_remembered(
    store: Store,
) -> None:
    """A page looks its signals up, then marks the new ones without looking again; a mark
    undone with its savepoint (a record contained as bad) leaves the signal unapplied, and
    marking it after the undo stores it, once."""
    one, two = SignalRef("cus_1", "s1"), SignalRef("cus_1", "s2")
    with store.transaction() as tx:

        def marked() -> None:
            assert tx.signals.mark([one, two]) == 2
            assert tx.signals.applied([one, two]) == {one, two}

        def looked_up() -> None:
            assert tx.signals.applied([one]) == set()

        assert tx.signals.applied([one, two]) == set()
        with pytest.raises(RuntimeError):
            _undone(tx, marked)
        assert tx.signals.applied([one, two]) == set()
        assert tx.signals.mark([two]) == 1
        with pytest.raises(RuntimeError):
            _undone(tx, looked_up)
        assert tx.signals.mark([one, two]) == 1
        assert tx.signals.mark([one]) == 0
        assert tx.signals.applied([one, two]) == {one, two}
    assert _stored_pairs(store) == [("cus_1", "s2"), ("cus_1", "s1")]
    with store.transaction() as tx:  # a new unit of work asks the store
        assert tx.signals.applied([one, two, SignalRef("cus_1", "s3")]) == {one, two}


def test_a_carry_takes_only_the_merged_customers_signals_from_its_range(store: Store) -> None:
    """One customer's rows are a range of the hash index; another customer's row in that
    range (its 32-bit part the same) stays its own."""
    low, high = customer_range("cus_old")
    _stored_with_hash(store, "cus_intruder", "y:cus_old:1", low)
    _stored_with_hash(store, "cus_intruder2", "z:cus_old:1", high)
    with store.transaction() as tx:
        tx.signals.mark([SignalRef("cus_old", "x:cus_old:1")])
        assert tx.signals.carry("cus_old", "cus_new") == 1
        assert tx.signals.applied(
            [SignalRef("cus_new", k) for k in ("x:cus_new:1", "y:cus_new:1", "z:cus_new:1")]
        ) == {SignalRef("cus_new", "x:cus_new:1")}


def test_carry_keeps_when_each_signal_was_applied(store: Store, clock: FakeClock) -> None:
    with store.transaction() as tx:
        tx.signals.mark([SignalRef("cus_old", "x:1")])
    clock.advance(3 * 86_400)
    with store.transaction() as tx:
        assert tx.signals.carry("cus_old", "cus_new") == 1
    with sqlite3.connect(store.path) as conn:
        stamps = dict(conn.execute("SELECT customer_uuid, applied_at FROM applied_signal"))
    assert stamps["cus_new"] == stamps["cus_old"]


def test_last_written_values_per_record_and_field(store: Store) -> None:
    a, b = RecordRef("Account", "001A"), RecordRef("Account", "001B")
    with store.transaction() as tx:
        tx.last_written.put_many(
            [
                FieldWrite("Account", "001A", "CM_MRR__c", 99.0),
                FieldWrite("Account", "001A", "CM_Plan__c", None),
                FieldWrite("Account", "001B", "CM_Plan__c", "Pro"),
                FieldWrite("Contact", "001A", "CM_Plan__c", "Other object"),
            ]
        )
        tx.last_written.put_many([FieldWrite("Account", "001B", "CM_Plan__c", "Enterprise")])
        assert tx.last_written.get_many([a, b, RecordRef("Account", "001C")]) == {
            a: {"CM_MRR__c": 99.0, "CM_Plan__c": None},
            b: {"CM_Plan__c": "Enterprise"},
        }
        assert tx.last_written.forget([a]) == 2
        assert tx.last_written.get_many([a]) == {}


def test_job_runs_time_themselves_and_are_purged(store: Store, clock: FakeClock) -> None:
    with store.transaction() as tx:
        old = tx.jobs.start("poll_activities")
    clock.advance(2.5)
    with store.transaction() as tx:
        run = tx.jobs.finish(old, JobResult.OK, "3 pages")
        assert (run.duration_s, run.finished_at, run.detail) == (2.5, clock.now, "3 pages")
        with pytest.raises(KeyError):
            tx.jobs.finish(404, JobResult.ERROR)
    clock.advance(86_400 * 8)
    with store.transaction() as tx:
        recent = tx.jobs.start("poll_activities")
        dispatch = tx.jobs.start("dispatch")
        tx.jobs.finish(dispatch, JobResult.SKIPPED, "budget")
        latest = tx.queries.latest_job_runs()
        assert [(r.job, r.id, r.result) for r in latest] == [
            ("dispatch", dispatch, JobResult.SKIPPED),
            ("poll_activities", recent, None),  # still running
        ]
        assert tx.jobs.purge(before=clock.now - timedelta(days=7)) == 1
        assert [r.id for r in tx.queries.job_runs("poll_activities")] == [recent]


def test_commands_from_the_dashboard_are_carried_out_once(store: Store) -> None:
    with store.transaction() as tx:
        retry = tx.commands.add(CommandKind.RETRY, "outbox:7")
        resolve = tx.commands.add(CommandKind.RESOLVE_MATCH, "quarantine:3", {"account": "001B"})
    with store.transaction() as tx:
        new = tx.commands.new()
        assert [(c.id, c.kind, c.args) for c in new] == [
            (retry, CommandKind.RETRY, {}),
            (resolve, CommandKind.RESOLVE_MATCH, {"account": "001B"}),
        ]
        assert tx.commands.finish(retry, CommandStatus.DONE, "requeued")
        assert tx.commands.finish(resolve, CommandStatus.FAILED, "Account 001B is gone")
        assert not tx.commands.finish(retry, CommandStatus.FAILED)
        with pytest.raises(ValueError, match="done or failed"):
            tx.commands.finish(resolve, CommandStatus.NEW)
        assert tx.commands.new() == []
        done = tx.commands.get(retry)
        assert done is not None and (done.status, done.result) == (CommandStatus.DONE, "requeued")
        assert [c.id for c in tx.queries.recent_commands()] == [resolve, retry]


def test_audit_trail_feeds_recent_history_and_writes_per_minute(
    store: Store, clock: FakeClock
) -> None:
    def write(record: str) -> AuditItem:
        return AuditItem(System.SALESFORCE, "Account", record, "update", {"CM_MRR__c": 1}, "sig")

    with store.transaction() as tx:
        assert tx.audit.append([write("001A"), write("001B")]) == 2
    clock.advance(61)
    with store.transaction() as tx:
        tx.audit.append([write("001A")])
        entries = tx.queries.recent_audit(limit=2)
        assert [(e.record_id, e.at) for e in entries] == [("001A", clock.now), ("001B", START)]
        assert [e.id for e in tx.queries.audit_after(entries[1].id)] == [entries[0].id]
        assert len(tx.queries.record_history("Account", "001A")) == 2
        assert tx.queries.writes_per_minute(START) == [
            MinuteCount(START, 2),
            MinuteCount(START + timedelta(minutes=1), 1),
        ]
        assert tx.queries.writes_per_minute(START + timedelta(seconds=30)) == [
            MinuteCount(START + timedelta(minutes=1), 1)
        ]


def test_heartbeat_budget_cursors_and_stage_summary(store: Store, clock: FakeClock) -> None:
    with store.transaction() as tx:
        tx.daemon.beat(4242, START, "sandbox")
        tx.daemon.put_budget(BudgetSnapshot(System.SALESFORCE, used=1200, max=15000, share=0.5))
        tx.cursors.set("activities", '{"after": "2025-03-01"}')
        tx.accounts.put_many(
            [
                AccountState("cus_1", "active", mrr_cents=5000),
                AccountState("cus_2", "active", mrr_cents=7000),
                AccountState("cus_3", "churned"),
            ]
        )
    clock.advance(5)
    with store.transaction() as tx:
        tx.daemon.beat(4242, START, "sandbox")
        heartbeat = tx.queries.heartbeat()
        assert heartbeat is not None
        assert (heartbeat.beat_at, heartbeat.stopped_at) == (clock.now, None)
        tx.daemon.stopped()
        assert tx.daemon.heartbeat() == dataclasses.replace(heartbeat, stopped_at=clock.now)
        budget = tx.daemon.budget(System.SALESFORCE)
        assert budget is not None and (budget.used, budget.updated_at) == (1200, START)
        assert tx.daemon.budget(System.CHARTMOGUL) is None
        assert [b.system for b in tx.queries.budgets()] == [System.SALESFORCE]
        assert [(c.name, c.updated_at) for c in tx.queries.cursors()] == [("activities", START)]
        assert tx.queries.stage_summary() == [
            StageSummary("active", 2, 12000),
            StageSummary("churned", 1, 0),
        ]


def _counted(path: Path) -> list[StageSummary]:
    """The stage totals counted the slow way, straight from the states."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT lifecycle_state, count(*), sum(mrr_cents) FROM account_state "
            "GROUP BY lifecycle_state ORDER BY lifecycle_state"
        ).fetchall()
    return [StageSummary(state, n, mrr) for state, n, mrr in rows]


def test_stage_totals_follow_every_state_change(tmp_path: Path, clock: FakeClock) -> None:
    """The dashboard's per-stage sums are kept by triggers: they must equal a fresh count
    after inserts, stage moves, MRR-only changes and untouched rewrites."""
    rng = random.Random(7)
    path = tmp_path / "cmsync.db"
    stages = ["lead", "trial", "active", "at_risk", "churned"]
    with Store.open(path, clock=clock) as store:
        for _ in range(30):
            with store.transaction() as tx:
                uuids = rng.sample([f"cus_{n}" for n in range(40)], 10)
                known = tx.accounts.get_many(uuids)
                tx.accounts.put_many(
                    dataclasses.replace(
                        known[u], lifecycle_state=rng.choice(stages),
                        mrr_cents=rng.choice([known[u].mrr_cents, rng.randrange(0, 90_000)]),
                    ) if u in known
                    else AccountState(u, rng.choice(stages), mrr_cents=rng.randrange(0, 90_000))
                    for u in uuids
                )  # fmt: skip
            with store.transaction() as tx:
                assert tx.queries.stage_summary() == _counted(path)
    assert sum(s.accounts for s in _counted(path)) == 40


def test_a_store_without_stage_totals_gets_them_rebuilt_on_open(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "cmsync.db"
    with Store.open(path, clock=clock) as store, store.transaction() as tx:
        tx.accounts.put_many(
            AccountState(f"cus_{n}", "active", mrr_cents=100 * n) for n in range(5)
        )
    with sqlite3.connect(path) as conn:  # as a store made before the totals (and Alembic)
        for name in STAGE_TOTAL_TRIGGERS:
            conn.execute(f"DROP TRIGGER {name}")
        conn.execute("DROP TABLE stage_total")
        conn.execute("DROP TABLE alembic_version")
        conn.execute("DROP TABLE store_info")
        conn.execute("DROP TABLE job_health")
        conn.execute("DROP TABLE alert_sent")
        conn.execute("ALTER TABLE audit DROP COLUMN keys")
        conn.execute("ALTER TABLE outbox DROP COLUMN merged_keys")
        conn.execute("UPDATE schema_version SET version = 2")
    with Store.open(path, clock=clock) as store:
        with store.transaction() as tx:
            assert tx.queries.stage_summary() == [StageSummary("active", 5, 1000)]
            tx.accounts.put(AccountState("cus_9", "trial"))
        with store.transaction() as tx:
            assert tx.queries.stage_summary() == _counted(path)
