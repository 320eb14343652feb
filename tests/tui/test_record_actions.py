"""The dashboard's actions address a record, never a row position.

Two operators once acted on one dead letter three seconds apart: the first skipped it, the
second's dashboard had moved its rows meanwhile and the same row position skipped another
record. Here rows move under the selection (records added ahead of it in the store), the
chosen record leaves (handled by another operator through ``cmsync problems``), and two
dashboards send the same skip: the selection stays on its key, an action names and carries
that key, and the second operator hears "already handled" while the neighbour is untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from cmsync.config import FieldSettings, SyncSettings
from cmsync.pipeline.translate import Translator
from cmsync.problems import Asked, ask
from state import (
    CommandKind,
    CommandStatus,
    OutboxDead,
    OutboxStatus,
    QuarantineItem,
    QuarantineKind,
    QuarantineStatus,
    Store,
    System,
)
from tests.tui.storefill import NOW
from tests.tui.test_actions import SIZE, carry_out, new_commands, select, settle
from tui import Dashboard
from tui.screens import ConfirmScreen

CHOSEN = "outbox:12"  # the newer of the two dead letters the store fill leaves


def add_problems_ahead(store: Store) -> list[str]:
    """Three new dead letters and a new quarantine entry: every one listed above ``CHOSEN``."""
    from tests.tui.storefill import _item

    with store.transaction() as tx:
        tx.outbox.enqueue(_item(n) for n in range(31, 34))
        claimed = tx.outbox.claim_due(50)
        fresh = [e.id for e in claimed if e.target_key.endswith(("31", "32", "33"))]
        tx.outbox.mark_dead(
            OutboxDead(i, "INACTIVE_OWNER_OR_USER: owner is inactive") for i in fresh
        )
        tx.outbox.release([e.id for e in claimed if e.id not in fresh])
        entry = tx.quarantine.add(
            QuarantineItem(
                QuarantineKind.BAD_RECORD,
                System.CHARTMOGUL,
                "customer:cus_broken_2",
                "customer cus_broken_2: field 'mrr' is missing",
            )
        )
    return [f"quarantine:{entry}", *(f"outbox:{i}" for i in fresh)]


def outbox_status(store: Store, key: str) -> OutboxStatus:
    with store.transaction() as tx:
        row = tx.outbox.get(int(key.partition(":")[2]))
    assert row is not None
    return row.status


def messages(app: Dashboard) -> list[str]:
    return [n.message for n in app._notifications]


async def test_the_selection_follows_its_record_when_rows_move_and_the_action_acts_on_it(
    daemon: Store, make_app: Callable[..., Dashboard]
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        table = await select(app, pilot, CHOSEN)
        row = table.cursor_row
        under_it_before = table.keys[row]
        assert under_it_before == CHOSEN

        added = add_problems_ahead(daemon)
        await app.refresh_now().wait()
        await pilot.pause()
        assert set(added) <= set(table.keys)
        assert table.keys.index(CHOSEN) > row  # rows were inserted ahead of it
        neighbour = table.keys[row]  # what now stands where the record stood
        assert neighbour != CHOSEN
        assert table.selected_key() == CHOSEN
        assert table.keys[table.cursor_row] == CHOSEN  # the cursor went with it

        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.title_text.startswith(f"Skip {CHOSEN} (Account ")
        assert "INVALID_FIELD" in app.screen.body  # its own reason, not the neighbour's
        await pilot.press("y")
        await settle(app, pilot)
        assert [(c.kind, c.target) for c in new_commands(daemon)] == [(CommandKind.SKIP, CHOSEN)]

        await carry_out(daemon)
        await app.refresh_now().wait()
        await pilot.pause()
        assert outbox_status(daemon, CHOSEN) is OutboxStatus.SKIPPED
        assert neighbour in table.keys  # untouched
        assert any(f"skip {CHOSEN} done: outbox row 12 skipped" in m for m in messages(app))


async def test_a_record_another_operator_handled_is_gone_and_nothing_is_sent(
    daemon: Store, db_path: Path, make_app: Callable[..., Dashboard]
) -> None:
    translator = Translator(FieldSettings(), SyncSettings())
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        table = await select(app, pilot, CHOSEN)
        row = table.cursor_row

        # Another operator skips the same dead letter from the command line.
        [other] = ask(db_path, [Asked(CommandKind.SKIP, CHOSEN)], translator)
        assert other.status is CommandStatus.DONE, other
        await app.refresh_now().wait()
        await pilot.pause()
        assert CHOSEN not in table.keys
        neighbour = table.keys[row]  # the cursor stands on the row that moved up
        assert table.selected_key() is None and table.gone_key == CHOSEN
        assert table.has_class("-gone")  # the neighbour under the cursor is shown unchosen
        assert table.get_component_styles("datatable--cursor").text_style.italic
        assert str(table.border_subtitle).startswith(f"{CHOSEN} is gone: choose a row · ")

        await pilot.press("s")  # not onto the neighbour: nothing asked, nothing sent
        await settle(app, pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        assert new_commands(daemon) == []
        said = messages(app)[-1]
        assert said.startswith(f"{CHOSEN} (Account 001000000000000012 (update_account)) is no")
        assert "skip done at " in said and "outbox row 12 skipped" in said
        assert "Nothing was sent" in said
        assert outbox_status(daemon, neighbour) is OutboxStatus.DEAD

        await pilot.press("enter")  # the operator chooses the row under the cursor
        await pilot.pause()
        assert table.selected_key() == neighbour
        assert "is gone" not in str(table.border_subtitle)
        assert not table.has_class("-gone")
        assert not table.get_component_styles("datatable--cursor").text_style.italic


async def test_two_dashboards_skip_one_record_and_the_second_hears_already_handled(
    daemon: Store, make_app: Callable[..., Dashboard]
) -> None:
    first, second = make_app(), make_app()
    async with first.run_test(size=SIZE) as one, second.run_test(size=SIZE) as two:
        for app, pilot in ((first, one), (second, two)):
            await settle(app, pilot)
            await select(app, pilot, CHOSEN)
        await one.press("s", "y")
        await settle(first, one)
        await two.press("s", "y")  # three seconds later, before its next refresh
        await settle(second, two)
        sent = new_commands(daemon)
        assert [(c.kind, c.target) for c in sent] == [(CommandKind.SKIP, CHOSEN)] * 2

        from cmsync.daemon.commands import carry_out as daemon_carry_out

        with daemon.transaction() as tx:  # the daemon's command job, as it runs them
            results = [
                daemon_carry_out(
                    tx, c, lambda tx, p: "", Translator(FieldSettings(), SyncSettings())
                )
                for c in tx.commands.new()
            ]
        assert [r.ok for r in results] == [True, False]
        late = results[1].result
        assert late.startswith(f"already handled: {CHOSEN} (Account 001000000000000012) ")
        assert f"was skipped at {(NOW - timedelta(seconds=2)):%Y-%m-%d %H:%M:%S} UTC" in late
        assert late.endswith(f"(command {sent[0].id}: skip)")

        for app, pilot in ((first, one), (second, two)):
            await app.refresh_now().wait()
            await pilot.pause()
        assert any(f"skip {CHOSEN} done" in m for m in messages(first))
        assert any(m == f"skip {CHOSEN}: {late}" for m in messages(second))
        assert outbox_status(daemon, "outbox:11") is OutboxStatus.DEAD  # nothing else moved
        with daemon.transaction() as tx:
            quarantined = tx.quarantine.get(1)
        assert quarantined is not None and quarantined.status is QuarantineStatus.OPEN
