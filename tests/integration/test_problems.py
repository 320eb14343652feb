"""Problems an operator can act on, after real passes against the sandbox over real sockets.

Salesforce refuses the writes of three Accounts (``/__sandbox/reject``: two by a validation
rule, ``FIELD_CUSTOM_VALIDATION_EXCEPTION`` with the rule's own message; one with
``STRING_TOO_LONG`` on the CM URL field, whose message starts with the field's label, as
Salesforce's does; SOAP API Developer Guide, "StatusCode"). Then:

- ``cmsync status`` (and ``--json``) and ``cmsync problems list`` show the dead letters grouped
  by cause, each with its records, the reason and a fix naming a command that exists;
- ``cmsync problems retry --cause``, ``skip``, ``unlink`` and ``relink`` act on the store with
  no daemon running (under the store's lock, through the daemon's own command handling), and
  through the command table while a daemon holds the store;
- the daemon, meeting those refusals, keeps every job's health up: a refused record is a
  record problem, never a failed job, and the log never says a service is down.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from typer.testing import CliRunner

from cmsync.cli import app
from cmsync.daemon import Daemon
from cmsync.daemon.commands import carry_out
from cmsync.lock import exclusive
from cmsync.pipeline.once import run_once
from cmsync.pipeline.translate import Translator
from cmsync.problems import Asked, Outcome, ask
from cmsync.sandbox.serve import LoopThread
from cmsync.status import collect, render
from state import (
    CommandKind,
    CommandStatus,
    MatchMethod,
    OutboxStatus,
    QuarantineItem,
    QuarantineKind,
    Store,
    System,
    Transaction,
)
from tests.support.drive import import_invoice, start_world, sync_until_settled
from tests.support.invariants import World, load_world_settings, read_truth
from tests.support.processes import FAST

RULE = "Partner accounts take no MRR from billing"
TOO_LONG = "CM URL: data value too large: https://app.chartmogul.com/x (max length=255)"


def _reject(world: World, ids: list[str], code: str, message: str) -> None:
    admin = world.sandbox.info["salesforce"]["admin_url"] + "/reject"
    answer = requests.post(
        admin, json={"ids": ids, "errorCode": code, "message": message},
        verify=world.sandbox.info["ca_bundle"], timeout=30,
    )  # fmt: skip
    assert answer.status_code == 200, answer.text


def _pass(world: World) -> None:
    """A pass whose only failures are dead letters (its report is dropped: see
    ``test_owners_and_rules._pass_with_dead_letters``)."""
    report = asyncio.run(run_once(world.settings))
    for step in report.steps:
        assert step.ok or "dead-lettered" in step.detail, report.summary()


class Refused:
    """The world, and which Accounts Salesforce refuses (and their customers)."""

    def __init__(self, world: World, paying: list[tuple[str, str]]) -> None:
        self.world = world
        (self.ruled_a, self.ruled_b, self.long, self.free, self.spare) = paying[:5]

    @property
    def config(self) -> Path:
        return self.world.sandbox.options.directory / "cmsync.toml"

    def refuse_again(self) -> None:
        for uuid, _ in (self.ruled_a, self.ruled_b, self.long):
            import_invoice(self.world, uuid, f"again-{uuid[-6:]}-{_count()}")


_COUNTER = iter(range(1_000_000))


def _count() -> int:
    return next(_COUNTER)


@pytest.fixture(scope="module")
def refused(
    sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Refused]:
    directory = tmp_path_factory.mktemp("problems")
    with start_world(sandbox_loop, directory, seed=29, accounts=20) as world:
        asyncio.run(sync_until_settled(world))
        truth = asyncio.run(read_truth(world.settings))
        paying = sorted(
            (uuid, account)
            for uuid, account in world.prompt_linked().items()
            if (c := truth.customers.get(uuid)) is not None and c.status == "Active"
        )
        assert len(paying) >= 5, paying
        state = Refused(world, paying)
        _reject(world, [state.ruled_a[1], state.ruled_b[1]], "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                RULE)  # fmt: skip
        _reject(world, [state.long[1]], "STRING_TOO_LONG", TOO_LONG)
        state.refuse_again()
        _pass(world)
        yield state


def _groups(refused: Refused) -> list[dict[str, Any]]:
    status = collect(refused.world.store_path, refused.world.sandbox.ctx.clock.now())
    groups: list[dict[str, Any]] = status["problem_groups"]
    return groups


def _group(groups: list[dict[str, Any]], code: str) -> dict[str, Any]:
    (found,) = [g for g in groups if g["code"] == code]
    return found


def _dead_keys(path: Path) -> dict[str, str]:
    """Dead letter key -> the Account it writes."""
    store = Store.open(path)
    try:
        with store.transaction() as tx:
            return {f"outbox:{d.id}": d.target_key for d in tx.queries.dead_letters(1000)}
    finally:
        store.close()


def _outbox_status(path: Path, key: str) -> OutboxStatus:
    store = Store.open(path)
    try:
        with store.transaction() as tx:
            row = tx.outbox.get(int(key.partition(":")[2]))
            assert row is not None
            return row.status
    finally:
        store.close()


def test_status_groups_refusals_by_cause_with_the_reason_and_the_fix(refused: Refused) -> None:
    groups = _groups(refused)
    ruled = _group(groups, "FIELD_CUSTOM_VALIDATION_EXCEPTION")
    accounts = {refused.ruled_a[1], refused.ruled_b[1]}
    assert {r.split()[1] for r in ruled["records"]} == accounts
    assert ruled["what"] == f"FIELD_CUSTOM_VALIDATION_EXCEPTION on Account: {RULE}"
    assert ruled["reason"] == f"FIELD_CUSTOM_VALIDATION_EXCEPTION: {RULE}"
    assert f"cmsync problems retry --cause {ruled['cause']}" in ruled["fix"]
    assert "validation rule" in ruled["fix"]
    long = _group(groups, "STRING_TOO_LONG")
    assert long["what"] == 'STRING_TOO_LONG on Account field "CM URL"'
    assert {r.split()[1] for r in long["records"]} == {refused.long[1]}
    assert "Lengthen the field" in long["fix"]
    dead = sum(g["count"] for g in groups if g["kind"] == "dead letter")
    shown = render(collect(refused.world.store_path, refused.world.sandbox.ctx.clock.now()))
    assert f"{dead} dead letters" in shown
    assert f"[{ruled['cause']}] dead letter: {ruled['what']} x{ruled['count']}" in shown
    assert f"  fix     {ruled['fix']}" in shown

    as_json = CliRunner().invoke(app, ["status", "--json", "--config", str(refused.config)])
    assert as_json.exit_code == 2, as_json.output  # passes ran, no daemon: down
    assert json.loads(as_json.stdout)["problem_groups"] == groups
    listed = CliRunner().invoke(
        app, ["problems", "list", "--json", "--config", str(refused.config)]
    )
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout) == groups
    plain = CliRunner().invoke(app, ["problems", "list", "--config", str(refused.config)])
    assert plain.exit_code == 0, plain.output
    assert f"[{ruled['cause']}] dead letter: {ruled['what']} x{ruled['count']}" in plain.stdout
    assert f"  fix     {long['fix']}" in plain.stdout


def test_retry_by_cause_and_skip_on_the_store_without_a_daemon(refused: Refused) -> None:
    runner = CliRunner()
    ruled = _group(_groups(refused), "FIELD_CUSTOM_VALIDATION_EXCEPTION")
    done = runner.invoke(
        app, ["problems", "retry", "--cause", ruled["cause"], "--config", str(refused.config)]
    )
    assert done.exit_code == 0, done.output
    assert done.stdout.count("ok     retry outbox:") == ruled["count"]
    path = refused.world.store_path
    assert all(_outbox_status(path, k) is OutboxStatus.PENDING for k in ruled["keys"])
    (long_key,) = _group(_groups(refused), "STRING_TOO_LONG")["keys"][:1]
    skipped = runner.invoke(app, ["problems", "skip", long_key, "--config", str(refused.config)])
    assert skipped.exit_code == 0, skipped.output
    assert _outbox_status(path, long_key) is OutboxStatus.SKIPPED
    again = runner.invoke(app, ["problems", "skip", long_key, "--config", str(refused.config)])
    assert again.exit_code == 1
    # A second operator's skip of the same record says who handled it and does nothing else.
    assert f"FAILED skip {long_key} (command " in again.stdout
    assert f"already handled: {long_key} (Account " in again.stdout
    assert "was skipped at " in again.stdout and "(command " in again.stdout.split("at ")[-1]
    bad = runner.invoke(app, ["problems", "skip", "17", "--config", str(refused.config)])
    assert bad.exit_code == 2


def test_a_refused_record_leaves_every_job_up_and_a_command_goes_through_the_daemon(
    refused: Refused, caplog: pytest.LogCaptureFixture
) -> None:
    """The real daemon, its dispatch meeting the refusals again: dead letters, health up, and
    the log never says a service is down; meanwhile ``cmsync problems skip`` is answered by
    it through the command table."""
    world = refused.world
    refused.refuse_again()
    settings = load_world_settings(world.sandbox.options.directory, **FAST)
    daemon = Daemon(settings, target_label="sandbox")
    before = set(_dead_keys(world.store_path))

    translator = Translator(settings.fields, settings.sync)

    async def main() -> tuple[list[Outcome], int, str]:
        stop = asyncio.Event()
        running = asyncio.create_task(daemon.run(stop))
        for _ in range(150):  # at most 15 s: the first jobs run at once
            await asyncio.sleep(0.1)
            if set(_dead_keys(world.store_path)) - before:
                break
        await asyncio.sleep(0.5)  # the job that dead-lettered them reports to its health
        # The daemon holds the store: a skip goes through the command table, and its answer
        # comes from the daemon's own command job.
        again = sorted(set(_dead_keys(world.store_path)) - before)
        asked = [Asked(CommandKind.SKIP, again[0])]
        answered = await asyncio.to_thread(ask, world.store_path, asked, translator, wait=10)
        retried = await asyncio.to_thread(
            CliRunner().invoke, app,
            ["problems", "retry", again[1], "--wait", "10", "--config", str(refused.config)],
        )  # fmt: skip
        stop.set()
        await running
        return answered, retried.exit_code, retried.stdout

    with caplog.at_level(logging.INFO):
        answered, code, said = asyncio.run(main())
    assert set(_dead_keys(world.store_path)) - before, "nothing was refused again"
    assert [(o.status, o.result) for o in answered] == [
        (CommandStatus.DONE, f"outbox row {answered[0].asked.target[7:]} skipped")
    ]
    assert code == 0 and said.startswith("ok     retry outbox:"), said
    assert "queued again" in said
    assert all(h.up for h in daemon.health.values()), {
        n: h.reason for n, h in daemon.health.items() if not h.up
    }
    said = caplog.text
    assert "is down" not in said and "recovered" not in said and "is failing" not in said


def test_unlink_and_relink_on_the_store_then_a_pass_writes_the_account(refused: Refused) -> None:
    world, runner = refused.world, CliRunner()
    uuid, account = refused.spare
    other_uuid, other_account = refused.free
    config = ["--config", str(refused.config)]
    unlinked = runner.invoke(app, ["problems", "unlink", uuid, *config])
    assert unlinked.exit_code == 0, unlinked.output
    assert f"customer {uuid} unlinked from Account {account}" in unlinked.stdout
    # A pass sweeps before it dispatches: the Account still shows the customer's UUID when it
    # matches, and must not link it back by that field.
    _pass(world)
    assert world.sandbox.salesforce.store.get("Account", account).get("CM_Customer_UUID__c") in (
        None, uuid,  # cleared, or written again by a match on the customer's other keys
    )  # fmt: skip
    store = Store.open(world.store_path)
    try:
        with store.transaction() as tx:
            again = tx.links.get(uuid)
            assert again is None or again.matched_by is not MatchMethod.UUID_FIELD, again
    finally:
        store.close()

    refused_relink = runner.invoke(app, ["problems", "relink", uuid, other_account, *config])
    assert refused_relink.exit_code == 1
    assert f"unlink that customer first (`cmsync problems unlink {other_uuid}`" in (
        refused_relink.stdout
    )
    not_an_id = runner.invoke(app, ["problems", "relink", uuid, "nonsense", *config])
    assert not_an_id.exit_code == 1 and "is not a Salesforce Account Id" in not_an_id.stdout

    relinked = runner.invoke(app, ["problems", "relink", uuid, account, *config])
    assert relinked.exit_code == 0, relinked.output
    _pass(world)
    sf = world.sandbox.salesforce.store
    assert sf.get("Account", account).get("CM_Customer_UUID__c") == uuid
    store = Store.open(world.store_path)
    try:
        with store.transaction() as tx:
            link = tx.links.get(uuid)
            assert link is not None and link.account_id == account
            assert link.matched_by.value == "operator"
    finally:
        store.close()


def test_through_the_command_table_while_the_daemon_holds_the_store(refused: Refused) -> None:
    """The store's lock is held as a running daemon holds it: the command goes through the
    command table and the daemon's own handling (``carry_out``) answers it."""
    world = refused.world
    uuid, account = refused.spare
    translator = Translator(world.settings.fields, world.settings.sync)
    stop = threading.Event()

    def reapply(tx: Transaction, payload: dict[str, object]) -> str:
        raise AssertionError("no illegal transition here")

    def the_daemon() -> None:
        store = Store.open(world.store_path)
        try:
            while not stop.is_set():
                with store.transaction() as tx:
                    for command in tx.commands.new():
                        carry_out(tx, command, reapply, translator)
                stop.wait(0.1)
        finally:
            store.close()

    with exclusive(world.store_path):
        worker = threading.Thread(target=the_daemon)
        worker.start()
        try:
            asked = [Asked(CommandKind.UNLINK, f"link:{uuid}"),
                     Asked(CommandKind.RELINK, f"link:{uuid}", {"account": account})]  # fmt: skip
            outcomes = ask(world.store_path, asked, translator, wait=10)
        finally:
            stop.set()
            worker.join()
    assert [o.status for o in outcomes] == [CommandStatus.DONE, CommandStatus.DONE], outcomes
    assert f"linked to Account {account}" in outcomes[1].result


def test_an_illegal_transition_retried_without_a_daemon_is_left_for_it(refused: Refused) -> None:
    """Re-applying a movement needs the daemon's view of Salesforce: the command waits for it."""
    store = Store.open(refused.world.store_path)
    try:
        with store.transaction() as tx:
            entry = tx.quarantine.add(
                QuarantineItem(
                    QuarantineKind.ILLEGAL_TRANSITION, System.CHARTMOGUL, refused.free[0],
                    "churned -> payment_recovered", payload={},
                )
            )  # fmt: skip
    finally:
        store.close()
    key = f"quarantine:{entry}"
    said = CliRunner().invoke(app, ["problems", "retry", key, "--config", str(refused.config)])
    assert said.exit_code == 1
    assert said.stdout.startswith(f"queued retry {key}") and "left for the daemon" in said.stdout
    store = Store.open(refused.world.store_path)
    try:
        with store.transaction() as tx:
            waiting = tx.commands.new()
            assert [(c.kind, c.target) for c in waiting] == [(CommandKind.RETRY, key)]
            tx.quarantine.skip(entry)  # the other tests see no such entry
            tx.commands.finish(waiting[0].id, CommandStatus.FAILED, "test over")
    finally:
        store.close()


def test_two_operators_on_one_dead_letter_the_second_hears_already_handled(
    refused: Refused,
) -> None:
    """The real daemon against the sandbox, an operator's dashboard over its store. Salesforce
    refuses more writes while the dashboard shows a dead letter: the new ones are listed ahead
    of it and the selection stays on its record. Another operator skips that record with
    ``cmsync problems skip``; the dashboard's own skip, sent before it refreshed, names the
    record, and the daemon answers it "already handled": nothing else is skipped."""
    from tui import Dashboard, DataSource
    from tui.commands import CommandWriter
    from tui.screens import ConfirmScreen
    from tui.widgets import ProblemsTable

    world = refused.world
    settings = load_world_settings(world.sandbox.options.directory, **FAST)
    daemon = Daemon(settings, target_label="sandbox")
    source, writer = DataSource(world.store_path), CommandWriter(world.store_path)
    board = Dashboard(source, target_label="sandbox", commands=writer, refresh_every=None)

    async def refused_again(known: set[str]) -> set[str]:
        refused.refuse_again()
        for _ in range(150):  # at most 15 s: the daemon's polls and dispatch run every 1-2 s
            await asyncio.sleep(0.1)
            if fresh := set(_dead_keys(world.store_path)) - known:
                return fresh
        raise AssertionError("nothing was refused again")

    async def main() -> tuple[list[str], str, set[str], set[str]]:
        stop = asyncio.Event()
        running = asyncio.create_task(daemon.run(stop))
        try:
            async with board.run_test(size=(160, 48)) as pilot:
                fresh = await refused_again(set(_dead_keys(world.store_path)))
                await board.refresh_now().wait()
                await pilot.pause()
                table = board.query_one(ProblemsTable)
                chosen = max(fresh, key=lambda key: int(key[7:]))
                table.move_cursor(row=table.get_row_index(chosen))
                await pilot.pause()
                await refused_again(set(_dead_keys(world.store_path)))
                await board.refresh_now().wait()
                await pilot.pause()
                ahead = table.keys[: table.keys.index(chosen)]
                assert any(int(k[7:]) > int(chosen[7:]) for k in ahead if k.startswith("outbox"))
                assert table.selected_key() == chosen

                dead_before = set(_dead_keys(world.store_path))
                cli = await asyncio.to_thread(
                    CliRunner().invoke, app,
                    ["problems", "skip", chosen, "--wait", "10", "--config", str(refused.config)],
                )  # fmt: skip
                assert cli.exit_code == 0, cli.stdout
                await pilot.press("s")  # its row still listed: no refresh since
                await pilot.pause()
                assert isinstance(board.screen, ConfirmScreen)
                assert board.screen.title_text.startswith(f"Skip {chosen} (Account ")
                await pilot.press("y")
                for _ in range(100):  # the daemon's commands job runs every 0.5 s
                    await asyncio.sleep(0.1)
                    await board.refresh_now().wait()
                    await pilot.pause()
                    said = [n.message for n in board._notifications]
                    if any("already handled" in m for m in said):
                        break
                assert table.gone_key == chosen
                dead_after = set(_dead_keys(world.store_path))
        finally:
            stop.set()
            await running
            writer.close()
            source.close()
        return said, chosen, dead_before, dead_after

    said, chosen, dead_before, dead_after = asyncio.run(main())
    [late] = [m for m in said if "already handled" in m]
    assert late.startswith(f"skip {chosen}: already handled: {chosen} (Account "), late
    assert " was skipped at " in late and late.endswith(": skip)")
    assert dead_before - {chosen} <= dead_after  # no neighbour was skipped
    assert chosen not in dead_after
