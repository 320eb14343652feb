"""A command on a record another command handled first: "already handled", how, when, by whom.

``Commands.handled`` finds the command that got there first; ``carry_out`` answers the late
one with what became of the record and touches nothing else.
"""

from __future__ import annotations

from datetime import timedelta

from cmsync.config import FieldSettings, SyncSettings
from cmsync.daemon.commands import carry_out
from cmsync.pipeline.translate import Translator
from state import (
    CommandKind,
    CommandStatus,
    MatchMethod,
    OutboxDead,
    OutboxItem,
    OutboxStatus,
    QuarantineItem,
    QuarantineKind,
    Store,
    System,
    Transaction,
)
from state.journal import ALREADY_HANDLED
from tests.support.clock import START, FakeClock


def _reapply(tx: Transaction, payload: dict[str, object]) -> str:
    raise AssertionError("no illegal transition here")


def _run(store: Store, kind: CommandKind, target: str, **args: str) -> tuple[bool, str]:
    with store.transaction() as tx:
        command_id = tx.commands.add(kind, target, args)
        command = tx.commands.get(command_id)
        assert command is not None
        translator = Translator(FieldSettings(), SyncSettings())
        outcome = carry_out(tx, command, _reapply, translator)
        return outcome.ok, outcome.result


def _dead_letter(store: Store) -> int:
    item = OutboxItem(
        idempotency_key="cus_1:mrr:1", kind="update_account", target_system=System.SALESFORCE,
        target_object="Account", target_key="001A", payload={"CM_MRR__c": 10.0}, reason="mrr",
    )  # fmt: skip
    with store.transaction() as tx:
        tx.outbox.enqueue([item])
        [claimed] = tx.outbox.claim_due(1)
        tx.outbox.mark_dead([OutboxDead(claimed.id, "INACTIVE_OWNER_OR_USER: owner inactive")])
    return claimed.id


def test_handled_finds_the_newest_done_command_before_the_late_one(store: Store) -> None:
    with store.transaction() as tx:
        failed = tx.commands.add(CommandKind.RETRY, "outbox:7")
        done = tx.commands.add(CommandKind.SKIP, "outbox:7")
        other = tx.commands.add(CommandKind.SKIP, "outbox:8")
        late = tx.commands.add(CommandKind.SKIP, "outbox:7")
        tx.commands.finish(failed, CommandStatus.FAILED, "refused")
        tx.commands.finish(done, CommandStatus.DONE, "skipped")
        tx.commands.finish(other, CommandStatus.DONE, "skipped")
        first = tx.commands.handled("outbox:7", late)
        assert first is not None and first.id == done
        assert tx.commands.handled("outbox:7", done) is None  # only a failed one before it
        assert tx.commands.handled("outbox:9", late) is None


def test_a_second_skip_of_a_dead_letter_says_who_skipped_it_and_when(
    store: Store, clock: FakeClock
) -> None:
    row = _dead_letter(store)
    clock.now = START + timedelta(minutes=5)
    assert _run(store, CommandKind.SKIP, f"outbox:{row}") == (True, f"outbox row {row} skipped")
    clock.now = START + timedelta(minutes=5, seconds=3)
    ok, said = _run(store, CommandKind.SKIP, f"outbox:{row}")
    assert not ok
    assert said == (
        f"{ALREADY_HANDLED}outbox:{row} (Account 001A) was skipped at 2025-03-01 09:05:00 UTC "
        "(command 1: skip)"
    )
    ok, said = _run(store, CommandKind.RETRY, f"outbox:{row}")  # nothing is un-skipped
    assert not ok and said.startswith(f"{ALREADY_HANDLED}outbox:{row} ")
    with store.transaction() as tx:
        entry = tx.outbox.get(row)
        assert entry is not None and entry.status is OutboxStatus.SKIPPED
        late = tx.queries.recent_commands(1)[0]
        assert late.status is CommandStatus.FAILED and late.result == said


def test_a_retried_dead_letter_then_retried_again_says_it_was_queued(store: Store) -> None:
    row = _dead_letter(store)
    assert _run(store, CommandKind.RETRY, f"outbox:{row}")[0]
    ok, said = _run(store, CommandKind.RETRY, f"outbox:{row}")
    assert not ok and " was queued again at 2025-03-01 09:00:00 UTC (command 1: retry)" in said
    ok, said = _run(store, CommandKind.SKIP, "outbox:999")  # no such row: not "handled"
    assert not ok and said == "outbox row 999 is not a dead letter (any more)"


def test_a_quarantine_entry_resolved_or_closed_first_says_how(store: Store) -> None:
    with store.transaction() as tx:
        matched = tx.quarantine.add(
            QuarantineItem(QuarantineKind.AMBIGUOUS_MATCH, System.CHARTMOGUL, "cus_1",
                           "2 Accounts share the domain", candidates=("001A", "001B"))
        )  # fmt: skip
        bad = tx.quarantine.add(
            QuarantineItem(QuarantineKind.BAD_RECORD, System.CHARTMOGUL, "customer:cus_2",
                           "field 'mrr' is missing")
        )  # fmt: skip
    assert _run(store, CommandKind.RESOLVE_MATCH, f"quarantine:{matched}", account="001B")[0]
    ok, said = _run(store, CommandKind.RESOLVE_MATCH, f"quarantine:{matched}", account="001A")
    assert not ok
    assert said == (
        f"{ALREADY_HANDLED}quarantine:{matched} (chartmogul cus_1) was resolved (linked to "
        "Account 001B by an operator) at 2025-03-01 09:00:00 UTC (command 1: resolve match)"
    )
    with store.transaction() as tx:
        link = tx.links.get("cus_1")
        assert link is not None and link.account_id == "001B"  # the first choice stands

    assert _run(store, CommandKind.SKIP, f"quarantine:{bad}")[0]
    ok, said = _run(store, CommandKind.RETRY, f"quarantine:{bad}")
    assert not ok and said.startswith(f"{ALREADY_HANDLED}quarantine:{bad} (chartmogul customer:")
    assert "was closed without action at " in said and said.endswith(": skip)")


def test_a_second_unlink_says_when_the_first_unlinked_the_customer(
    store: Store, clock: FakeClock
) -> None:
    with store.transaction() as tx:
        tx.links.put("cus_1", "001A", MatchMethod.UUID_FIELD)
    ok, said = _run(store, CommandKind.UNLINK, "link:cus_2")  # never linked: a plain failure
    assert not ok and said == "customer cus_2 is not linked to an Account"
    clock.now = START + timedelta(seconds=30)
    assert _run(store, CommandKind.UNLINK, "link:cus_1")[0]
    ok, said = _run(store, CommandKind.UNLINK, "link:cus_1")
    assert not ok
    assert said == (
        f"{ALREADY_HANDLED}customer cus_1 was unlinked at 2025-03-01 09:00:30 UTC "
        "(command 2: unlink)"
    )
