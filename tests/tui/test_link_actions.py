"""Unlink and relink from the dashboard: each asks first, naming the record, and the daemon's
own command handling (``cmsync.daemon.commands.carry_out``) carries the command out."""

from __future__ import annotations

from collections.abc import Callable

from textual.widgets import Input, Static

from cmsync.config import FieldSettings, SyncSettings
from cmsync.daemon.commands import carry_out
from cmsync.pipeline.translate import Translator
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
from tests.tui.test_actions import SIZE, new_commands, select, settle
from tui import Dashboard
from tui.screens import AccountIdScreen, ConfirmScreen
from tui.widgets import ProblemsTable

LINKED = "cus_000000000000006"  # linked by the store fill
ITS_ACCOUNT = "001000000000000006"
CHOSEN = "001ACME00000000009"


def the_daemon(store: Store) -> list[str]:
    """What the daemon does with new commands: its own ``carry_out``; the results."""

    def reapply(tx: Transaction, payload: dict[str, object]) -> str:
        raise AssertionError("no illegal transition here")

    translator = Translator(FieldSettings(), SyncSettings())
    with store.transaction() as tx:
        return [carry_out(tx, c, reapply, translator).result for c in tx.commands.new()]


def screen_text(app: Dashboard) -> str:
    return "\n".join(str(static.render()) for static in app.screen.query(Static))


def account_writes(store: Store, account: str) -> list[dict[str, object]]:
    with store.transaction() as tx:
        rows = tx.outbox.pending(target_keys=[account])
    return [
        dict(r.payload)
        for r in rows
        if r.target_key == account and r.status is OutboxStatus.PENDING
    ]


async def test_relink_asks_for_the_account_confirms_naming_both_and_links(
    daemon: Store, make_app: Callable[..., Dashboard]
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await select(app, pilot, "quarantine:1")  # the ambiguous match of cus_ambiguous_1
        await pilot.press("l")
        await pilot.pause()
        assert isinstance(app.screen, AccountIdScreen)
        assert "Relink ChartMogul customer cus_ambiguous_1" in screen_text(app)
        app.screen.query_one(Input).value = CHOSEN
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        said = screen_text(app)
        assert f"Link ChartMogul customer cus_ambiguous_1 to Account {CHOSEN}?" in said
        assert "From: chartmogul cus_ambiguous_1" in said
        await pilot.press("y")
        await settle(app, pilot)
        sent = new_commands(daemon)
        assert [(c.kind, c.target, dict(c.args)) for c in sent] == [
            (CommandKind.RELINK, "link:cus_ambiguous_1", {"account": CHOSEN})
        ]

        assert the_daemon(daemon) == [f"customer cus_ambiguous_1 linked to Account {CHOSEN}"]
        await app.refresh_now().wait()
        await pilot.pause()
        assert "quarantine:1" not in app.query_one(ProblemsTable).keys  # resolved by it
    with daemon.transaction() as tx:
        link = tx.links.get("cus_ambiguous_1")
        assert link is not None and link.account_id == CHOSEN
        assert link.matched_by is MatchMethod.OPERATOR
        done = tx.commands.get(sent[0].id)
        assert done is not None and done.status is CommandStatus.DONE
    assert {"CM_Customer_UUID__c": "cus_ambiguous_1"} in account_writes(daemon, CHOSEN)


async def test_unlink_confirms_naming_the_customer_and_cancel_sends_nothing(
    daemon: Store, make_app: Callable[..., Dashboard]
) -> None:
    with daemon.transaction() as tx:
        tx.quarantine.add(
            QuarantineItem(
                QuarantineKind.BAD_RECORD, System.SALESFORCE, "006000000000000001",
                f"Closed-Won Opportunity 'Big deal': Account 001000000000000001 points to "
                f"ChartMogul customer {LINKED} (contact_email), which is linked to Account "
                f"{ITS_ACCOUNT}: unlink it, then edit the Opportunity to import it",
                payload={"object": "Opportunity", "account_id": "001000000000000001"},
            )
        )  # fmt: skip
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await select(app, pilot, "outbox:11")
        await pilot.press("u")  # a dead letter's row names no customer: refused, no screen
        await settle(app, pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        await select(app, pilot, "quarantine:3")
        await pilot.press("u")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        said = screen_text(app)
        assert f"Unlink ChartMogul customer {LINKED}?" in said
        assert "From: salesforce 006000000000000001" in said
        await pilot.press("n")
        await settle(app, pilot)
        assert new_commands(daemon) == []
        await pilot.press("u")
        await pilot.pause()
        await pilot.press("y")
        await settle(app, pilot)
        sent = new_commands(daemon)
        assert [(c.kind, c.target) for c in sent] == [(CommandKind.UNLINK, f"link:{LINKED}")]
        (result,) = the_daemon(daemon)
        assert result.startswith(f"customer {LINKED} unlinked from Account {ITS_ACCOUNT}")
    with daemon.transaction() as tx:
        assert tx.links.get(LINKED) is None
        assert LINKED in {p.customer_uuid for p in tx.pending_matches.oldest(100)}
    cleared = account_writes(daemon, ITS_ACCOUNT)
    assert any(w.get("CM_Customer_UUID__c", "x") is None for w in cleared), cleared


async def test_f_shows_the_selected_problems_cause_and_fix(
    daemon: Store, make_app: Callable[..., Dashboard]
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await select(app, pilot, "outbox:11")  # refused by a validation rule
        await pilot.press("f")
        await pilot.pause()
        (shown,) = [n.message for n in app._notifications]
        assert "FIELD_CUSTOM_VALIDATION_EXCEPTION on Account: MRR must not be negative" in shown
        assert "Fix: A validation rule in Salesforce refused the write" in shown
        assert "cmsync problems retry --cause" in shown
        # Why the write was to be made, in words, and the key it is kept by.
        assert "Why: mrr movement of cus_00011\nKey: cus_00011:mrr:11" in shown
