"""Which alerts go out (state.alerting): each condition once, new items as news, a recovery
when it clears, nothing twice, judged purely from what the store holds and what was sent;
and the alerts sent as the store keeps them across a restart."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from state import JobHealthRecord, Store, System
from state.alerting import Condition, Kind, Message, Sent, decide, observe
from state.records import BudgetSnapshot, Heartbeat

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def _observe(
    *,
    failures: int = 0,
    dead: tuple[int, int] = (0, 0),
    quarantined: tuple[int, int] = (0, 0),
    used: int = 0,
    other: Heartbeat | None = None,
) -> list[Condition]:
    return observe(
        health=[
            JobHealthRecord("chartmogul", failures, None, "payments: 503" if failures else None)
        ],
        failures_in_a_row=3,
        dead_letters=dead[0],
        newest_dead_letter=dead[1],
        quarantined=quarantined[0],
        newest_quarantined=quarantined[1],
        budgets=[BudgetSnapshot(System.SALESFORCE, used, 100_000, 0.5)],
        budget_threshold=0.9,
        other=other,
    )


def _run(
    conditions: Iterable[Condition], sent: Mapping[str, Sent]
) -> tuple[list[Message], dict[str, Sent]]:
    """Decide, then keep what was sent as the daemon does after each accepted POST."""
    messages = decide(conditions, sent)
    kept = dict(sent)
    for message in messages:
        if message.kind is Kind.RAISED:
            kept[message.key] = message.sent
        else:
            kept.pop(message.key)
    return messages, kept


def test_nothing_wrong_sends_nothing() -> None:
    assert decide(_observe(failures=2), {}) == []  # under failures_in_a_row


def test_a_job_failing_n_times_is_said_once_and_its_recovery_once() -> None:
    first, sent = _run(_observe(failures=3), {})
    assert first == [
        Message(
            "job:chartmogul",
            Kind.RAISED,
            "job chartmogul failing: 3 failed runs in a row; last error: payments: 503",
        )
    ]
    again, sent = _run(_observe(failures=7), sent)
    assert again == []  # still failing: nothing new to say
    back, sent = _run(_observe(failures=0), sent)
    assert back == [Message("job:chartmogul", Kind.CLEARED, "job chartmogul runs again")]
    assert sent == {}
    assert _run(_observe(failures=0), sent)[0] == []


def test_new_dead_letters_are_news_even_while_older_ones_wait() -> None:
    first, sent = _run(_observe(dead=(2, 41)), {})
    assert [(m.kind, m.text, m.mark) for m in first] == [
        (
            Kind.RAISED,
            "new dead letters: 2 writes refused for good wait in the outbox (cmsync problems list)",
            41,
        )
    ]
    assert _run(_observe(dead=(2, 41)), sent)[0] == []
    more, sent = _run(_observe(dead=(3, 57)), sent)
    assert [(m.kind, m.mark) for m in more] == [(Kind.RAISED, 57)]
    # One resolved (retried or discarded): fewer, none newer: nothing to say.
    assert _run(_observe(dead=(2, 57)), sent)[0] == []
    cleared, sent = _run(_observe(), sent)
    assert [(m.kind, m.text) for m in cleared] == [(Kind.CLEARED, "no dead letters left")]


def test_quarantine_budget_and_another_daemon_in_words() -> None:
    other = Heartbeat(4242, NOW, NOW, "production")
    messages = decide(_observe(quarantined=(1, 9), used=45_000, other=other), {})
    assert [(m.key, m.text) for m in messages] == [
        ("budget:salesforce", "salesforce API budget nearly spent: 45000 of the 50000 calls "
         "cmsync may use (50% of 100000 a day)"),
        ("other_daemon", "another cmsync beats on this store (pid 4242, target production): "
         "two daemons on one store double every write; stop one"),
        ("quarantine", "new quarantined records: 1 record held back (cmsync problems list)"),
    ]  # fmt: skip
    assert decide(_observe(used=44_999), {}) == []  # under 90% of the share


def test_recoveries_come_after_the_alerts_and_a_condition_no_longer_watched_clears() -> None:
    sent = {
        "job:renamed_away": Sent("job:renamed_away", 0, "job renamed_away failing"),
        "quarantine": Sent("quarantine", 3, "new quarantined records"),
    }
    messages = decide(_observe(failures=3), sent)
    assert [(m.kind, m.key) for m in messages] == [
        (Kind.RAISED, "job:chartmogul"),
        (Kind.CLEARED, "job:renamed_away"),
        (Kind.CLEARED, "quarantine"),
    ]
    assert messages[1].text == "cleared: job renamed_away failing"


def test_the_store_keeps_the_alerts_sent_until_they_clear(tmp_path: Path) -> None:
    path = tmp_path / "cmsync.db"
    with Store.open(path, clock=lambda: NOW) as store, store.transaction() as tx:
        tx.daemon.alert_sent(Sent("dead_letters", 41, "new dead letters"))
        tx.daemon.alert_sent(Sent("dead_letters", 57, "new dead letters: 3"))
        tx.daemon.alert_sent(Sent("job:chartmogul", 0, "job chartmogul failing"))
    with Store.open(path, clock=lambda: NOW) as store, store.transaction() as tx:
        assert tx.daemon.alerts_sent() == {
            "dead_letters": Sent("dead_letters", 57, "new dead letters: 3"),
            "job:chartmogul": Sent("job:chartmogul", 0, "job chartmogul failing"),
        }
        tx.daemon.alert_cleared("job:chartmogul")
        assert list(tx.daemon.alerts_sent()) == ["dead_letters"]
