"""Retry, skip and resolve write the right command rows; help, palette, and worker failures."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from rich.text import Text
from textual.command import CommandList, CommandPalette
from textual.pilot import Pilot

from state import (
    Command,
    CommandKind,
    CommandStatus,
    QuarantineItem,
    QuarantineKind,
    Store,
    StoreBusyError,
    System,
    Transaction,
)
from tests.tui.storefill import NOW, fill_store
from tui import Dashboard, DataSource
from tui.commands import CommandRequest
from tui.palette import PALETTE_ACTIONS
from tui.screens import ConfirmScreen, HelpScreen, ResolveScreen
from tui.widgets import AlertLine, DaemonBar, ProblemsTable

SIZE = (160, 48)


async def settle(app: Dashboard, pilot: Pilot[None]) -> None:
    """Let every worker finish and every message be handled."""
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


async def select(app: Dashboard, pilot: Pilot[None], key: str) -> ProblemsTable:
    table = app.query_one(ProblemsTable)
    table.move_cursor(row=table.get_row_index(key))
    await pilot.pause()
    return table


def new_commands(store: Store) -> list[Command]:
    with store.transaction() as tx:
        return tx.commands.new()


async def carry_out(store: Store) -> None:
    """The daemon's commands job over the new commands: ``run_new_commands``, as ``cmsync
    run`` calls it. No void is asked here, so no ChartMogul executor is needed; no signal is
    applied again either."""
    from cmsync.config import FieldSettings, SyncSettings
    from cmsync.daemon.commands import run_new_commands
    from cmsync.pipeline.translate import Translator

    def reapply(tx: Transaction, payload: dict[str, object]) -> str:
        raise AssertionError("no quarantined signal here")

    translator = Translator(FieldSettings(), SyncSettings())
    await run_new_commands(store, reapply, translator)
    with store.transaction() as tx:
        assert tx.commands.new() == []
        done = tx.queries.recent_commands()
    assert {c.status for c in done} == {CommandStatus.DONE}, [(c.target, c.result) for c in done]


async def test_retry_skip_and_resolve_write_commands_the_daemon_carries_out(
    daemon: Store, make_app: Callable[..., Dashboard]
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await select(app, pilot, "outbox:12")
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)  # naming the record, not the row
        assert app.screen.title_text.startswith("Retry outbox:12 (Account ")
        await pilot.press("y")
        await settle(app, pilot)
        await select(app, pilot, "quarantine:2")
        await pilot.press("s", "y")
        await settle(app, pilot)
        await select(app, pilot, "quarantine:1")
        await pilot.press("m")
        await pilot.pause()
        assert isinstance(app.screen, ResolveScreen)
        await pilot.press("down", "enter")  # the second candidate
        await settle(app, pilot)
        assert not isinstance(app.screen, ResolveScreen)

        sent = new_commands(daemon)
        assert [(c.kind, c.target, dict(c.args)) for c in sent] == [
            (CommandKind.RETRY, "outbox:12", {}),
            (CommandKind.SKIP, "quarantine:2", {}),
            (CommandKind.RESOLVE_MATCH, "quarantine:1", {"account": "001ACME00000000002"}),
        ]
        table = app.query_one(ProblemsTable)
        waiting = table.get_row("outbox:12")[-1]
        assert isinstance(waiting, Text) and waiting.plain == "retry asked…"

        await carry_out(daemon)
        await app.refresh_now().wait()
        await pilot.pause()
        assert table.keys == ["outbox:11"]
        with daemon.transaction() as tx:
            link = tx.links.get("cus_ambiguous_1")
        assert link is not None and link.account_id == "001ACME00000000002"


async def test_commands_that_make_no_sense_are_refused_and_not_written(
    daemon: Store, make_app: Callable[..., Dashboard]
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await select(app, pilot, "outbox:11")
        await pilot.press("m")  # a dead letter is no match to resolve
        await settle(app, pilot)
        assert not isinstance(app.screen, ResolveScreen)
        await pilot.press("s", "n")  # asked, and declined: no command
        await settle(app, pilot)
        await pilot.press("r", "y")
        await settle(app, pilot)
        await pilot.press("r", "s")  # already asked: nothing more until the daemon answers
        await settle(app, pilot)
        await select(app, pilot, "quarantine:1")
        await pilot.press("m")
        await pilot.pause()
        await pilot.press("escape")  # cancelled: no command
        await settle(app, pilot)
        assert [(c.kind, c.target) for c in new_commands(daemon)] == [
            (CommandKind.RETRY, "outbox:11")
        ]


async def test_help_screen_opens_and_closes(
    daemon: Store, make_app: Callable[..., Dashboard]
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


async def until(pilot: Pilot[None], condition: Callable[[], bool], seconds: float = 10) -> None:
    """Wait for something the app does asynchronously (no fixed sleeps: CI may be loaded)."""
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError("the dashboard never got there")


def palette_lines(app: Dashboard) -> str:
    results = app.screen.query_one(CommandList)
    return "\n".join(
        str(results.get_option_at_index(i).prompt) for i in range(results.option_count)
    )


async def test_the_palette_lists_every_action_and_runs_it(
    daemon: Store, make_app: Callable[..., Dashboard]
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        names = [action.name for action in PALETTE_ACTIONS]
        await until(pilot, lambda: all(name in palette_lines(app) for name in names))
        await pilot.press(*"show help")
        await until(pilot, lambda: palette_lines(app).startswith("Show help"))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))


async def test_a_failing_refresh_is_shown_and_the_dashboard_recovers(
    db_path: Path, make_app: Callable[..., Dashboard]
) -> None:
    app = make_app()  # no store yet: the daemon has never run
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        alert = app.query_one(AlertLine)
        assert alert.display
        assert "cannot read the store" in alert.message and "does not exist" in alert.message
        assert app.is_running
        fill_store(db_path).close()
        await app.refresh_now().wait()
        await pilot.pause()
        assert not alert.display
        assert "pid 4242" in app.query_one(DaemonBar).shown


class BusySink:
    def send(self, request: CommandRequest) -> int:
        raise StoreBusyError("the daemon held the write lock for longer than the busy timeout")


async def test_a_failing_command_is_reported_and_the_dashboard_carries_on(
    daemon: Store, make_app: Callable[..., Dashboard]
) -> None:
    app = make_app(commands=BusySink())
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await select(app, pilot, "outbox:11")
        await pilot.press("r", "y")
        await settle(app, pilot)
        assert app.is_running
        messages = [n.message for n in app._notifications]
        assert any("The command was not sent: StoreBusyError" in m for m in messages)


@pytest.mark.parametrize("stopped", [False, True])
async def test_the_header_tells_stale_from_stopped(
    daemon: Store, db_path: Path, stopped: bool
) -> None:
    if stopped:
        with daemon.transaction() as tx:
            tx.daemon.stopped()
    later = NOW.replace(minute=5)  # five minutes without a beat
    app = Dashboard(
        DataSource(db_path, clock=lambda: later),
        target_label="production",
        clock=lambda: later,
        refresh_every=None,
    )
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        header = app.query_one(DaemonBar).shown
        assert (" stopped " in header) is stopped
        assert (" stale " in header) is not stopped
        assert "(daemon points at sandbox!)" in header  # the config says production
    app.source.close()  # type: ignore[attr-defined]


async def test_void_and_keep_are_offered_for_an_unwound_deal_only(
    daemon: Store, make_app: Callable[..., Dashboard]
) -> None:
    with daemon.transaction() as tx:
        entry = tx.quarantine.add(
            QuarantineItem(
                kind=QuarantineKind.DEAL_UNWOUND,
                source=System.SALESFORCE,
                record_key="006UNWOUND0000001",
                reason="Closed-Won Opportunity 'Big deal' is now 'Closed Lost' after its import",
                payload={"invoice_uuid": "inv_1", "amount": "1000.00 USD"},
            )
        )
    target = f"quarantine:{entry}"
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        table = await select(app, pilot, target)
        assert table.get_row(target)[4] == "1000.00 USD"  # the revenue a void takes out
        assert "v void · k keep" in str(table.border_subtitle)
        await pilot.press("r")  # not retried: voided or kept
        await settle(app, pilot)
        await pilot.press("v")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert (
            app.screen.title_text == f"Void {target} (salesforce 006UNWOUND0000001, unwound deal)?"
        )
        assert "deleted in ChartMogul" in app.screen.body
        await pilot.press("y")
        await settle(app, pilot)
        await select(app, pilot, "outbox:12")
        await pilot.press("k")  # a dead letter has no invoice to keep
        await settle(app, pilot)
        assert [(c.kind, c.target) for c in new_commands(daemon)] == [(CommandKind.VOID, target)]
        [void] = new_commands(daemon)
        with daemon.transaction() as tx:  # the daemon could not void it: the operator keeps it
            tx.commands.finish(void.id, CommandStatus.FAILED, "ChartMogul refused the delete")
        await app.refresh_now().wait()
        await select(app, pilot, target)
        await pilot.press("k", "y")
        await settle(app, pilot)
        assert [(c.kind, c.target) for c in new_commands(daemon)] == [(CommandKind.KEEP, target)]
