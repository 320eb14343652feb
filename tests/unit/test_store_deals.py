"""Imported Closed-Won deals in the store, and the void and keep commands that settle them."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from cmsync.daemon.commands import carry_out
from cmsync.pipeline.closed_won.effect import VOID_DEAL
from cmsync.pipeline.closed_won.unwound import unwound_problem
from state import (
    CommandKind,
    CommandStatus,
    DealStatus,
    ImportedDeal,
    OutboxStatus,
    QuarantineKind,
    QuarantineStatus,
    Store,
    Transaction,
)
from tests.support.clock import FakeClock

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
DEAL = ImportedDeal("006A", "001A", "cus_1", "inv_1", 100_000, "USD")
LOST = {"Id": "006A", "Name": "Big deal", "StageName": "Closed Lost", "IsWon": False}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START, tick=1)  # each of the store's writes a second after the last


def _never(tx: Transaction, payload: dict[str, object]) -> str:
    raise AssertionError("no illegal transition here")


def test_a_deal_recorded_again_keeps_its_status(store: Store) -> None:
    with store.transaction() as tx:
        assert tx.deals.first_live() is None
        tx.deals.record(DEAL)
        first = tx.deals.first_live()
        assert first is not None
        assert tx.deals.mark("006A", DealStatus.UNWOUND, was=DealStatus.LIVE)
        assert not tx.deals.mark("006A", DealStatus.UNWOUND, was=DealStatus.LIVE)
    with store.transaction() as tx:  # a replayed page records it again
        tx.deals.record(DEAL)
        found = tx.deals.get("006A")
        assert found is not None and found.status is DealStatus.UNWOUND
        assert tx.deals.first_live() is None  # nothing live is left to watch
        assert tx.deals.get_many(["006A", "006B"]).keys() == {"006A"}


def test_the_problem_names_the_opportunity_the_invoice_and_the_amount() -> None:
    item = unwound_problem(DEAL, LOST)
    assert item.record_key == "006A"
    assert "'Big deal' is now 'Closed Lost'" in item.reason
    assert "inv_1 (1000.00 USD)" in item.reason and "cus_1" in item.reason
    deleted = unwound_problem(DEAL, {**LOST, "IsDeleted": True, "IsWon": True})
    assert "was deleted" in deleted.reason and deleted.payload["deleted"] is True


def _unwound(store: Store) -> int:
    with store.transaction() as tx:
        tx.deals.record(DEAL)
        tx.deals.mark("006A", DealStatus.UNWOUND, was=DealStatus.LIVE)
        return tx.quarantine.add(unwound_problem(DEAL, LOST))


def test_keep_settles_the_deal_and_closes_the_problem_at_once(store: Store) -> None:
    entry_id = _unwound(store)
    with store.transaction() as tx:
        command = tx.commands.get(tx.commands.add(CommandKind.KEEP, f"quarantine:{entry_id}"))
        assert command is not None
        outcome = carry_out(tx, command, _never)
        assert outcome.ok and not outcome.queued, outcome.result
        deal, entry = tx.deals.get("006A"), tx.quarantine.get(entry_id)
        assert tx.outbox.of_records("Invoice", ["inv_1"]) == []
    assert deal is not None and deal.status is DealStatus.KEPT
    assert entry is not None and entry.status is QuarantineStatus.RESOLVED


def test_a_void_is_an_outbox_effect_the_problem_stays_open_until_it_is_sent(
    store: Store,
) -> None:
    """The command only queues the delete (target ChartMogul, the invoice); the executor
    settles the deal and the problem when ChartMogul has answered."""
    entry_id = _unwound(store)
    with store.transaction() as tx:
        command = tx.commands.get(tx.commands.add(CommandKind.VOID, f"quarantine:{entry_id}"))
        assert command is not None
        outcome = carry_out(tx, command, _never)
        assert outcome.ok and outcome.queued and outcome.voiding, outcome.result
        assert outcome.result.startswith("void queued: invoice inv_1 of Opportunity 006A")
        [row] = tx.outbox.of_records("Invoice", ["inv_1"])
        deal, entry = tx.deals.get("006A"), tx.quarantine.get(entry_id)
        done = tx.commands.get(command.id)
    assert (row.kind, row.target_system.value, row.status) == (
        VOID_DEAL,
        "chartmogul",
        OutboxStatus.PENDING,
    )
    assert row.payload == {
        "opportunity_id": "006A", "invoice_uuid": "inv_1", "entry_id": entry_id,
        "command_id": command.id,
    }  # fmt: skip
    assert deal is not None and deal.status is DealStatus.UNWOUND
    assert entry is not None and entry.status is QuarantineStatus.OPEN
    assert done is not None and done.status is CommandStatus.DONE


@pytest.mark.parametrize("second", [CommandKind.VOID, CommandKind.KEEP])
def test_a_queued_void_refuses_a_second_void_or_a_keep(store: Store, second: CommandKind) -> None:
    entry_id = _unwound(store)
    with store.transaction() as tx:
        for kind in (CommandKind.VOID, second):
            command = tx.commands.get(tx.commands.add(kind, f"quarantine:{entry_id}"))
            assert command is not None
            outcome = carry_out(tx, command, _never)
        assert len(tx.outbox.of_records("Invoice", ["inv_1"])) == 1
        entry = tx.quarantine.get(entry_id)
    assert not outcome.ok and "a void of invoice inv_1 is queued already" in outcome.result
    assert entry is not None and entry.status is QuarantineStatus.OPEN


def test_an_unwound_deal_is_not_retried(store: Store) -> None:
    entry_id = _unwound(store)
    with store.transaction() as tx:
        command = tx.commands.get(tx.commands.add(CommandKind.RETRY, f"quarantine:{entry_id}"))
        assert command is not None
        outcome = carry_out(tx, command, _never)
    assert not outcome.ok and "voided or kept, not retried" in outcome.result


def test_void_and_keep_are_refused_for_other_problems(store: Store) -> None:
    bad = dataclasses.replace(unwound_problem(DEAL, LOST), kind=QuarantineKind.BAD_RECORD)
    with store.transaction() as tx:
        other = tx.quarantine.add(bad)
        command_id = tx.commands.add(CommandKind.KEEP, f"quarantine:{other}")
        command = tx.commands.get(command_id)
        assert command is not None
        outcome = carry_out(tx, command, _never)
    assert not outcome.ok and "only an unwound" in outcome.result


def test_a_voided_deal_imported_anew_is_live_again(store: Store) -> None:
    with store.transaction() as tx:
        tx.deals.record(DEAL)
        tx.deals.mark("006A", DealStatus.UNWOUND, was=DealStatus.LIVE)
        tx.deals.mark("006A", DealStatus.VOIDED, was=DealStatus.UNWOUND)
        tx.deals.record(DEAL)  # the same invoice seen again: still voided
        assert (found := tx.deals.get("006A")) is not None and found.status is DealStatus.VOIDED
        tx.deals.record(dataclasses.replace(DEAL, invoice_uuid="inv_new"))  # won, imported anew
        assert (found := tx.deals.get("006A")) is not None and found.status is DealStatus.LIVE
