"""Withdrawing alerts of movements ChartMogul regrouped away, against what the outbox holds.

The lifecycle decides *that* an alert is withdrawn (``state.lifecycle``, point 6: a churn
read an hour ago came back as a contraction, or an upgrade undone within the hour vanished
from the feed; Smart Activity Classification, help article 4416682609426). What that takes
depends on how far the alert got, which only the store knows, so it is settled here, in the
transaction that enqueues the effects:

- never sent (its rows pending and never tried, or dead): the rows are dropped (skipped),
  each with an audit line, and nothing goes to Salesforce;
- sent, in flight, or tried already (a lost answer may hide a write that happened): the
  withdrawal is enqueued behind it, an upsert on the same sync key that closes the record;
- raised in the same batch: both are left out.

An alert never enqueued at all (its account was not linked yet) has nothing to withdraw.
"""

from __future__ import annotations

from collections.abc import Sequence

from state import AuditItem, OutboxStatus, RecordRef, System, Transaction
from state.effects import ChurnRiskAlert, Effect, ExpansionOpportunity, WithdrawAlert
from state.words import effect_words

__all__ = ["settle_withdrawals"]


def _sent(tx: Transaction, withdrawal: WithdrawAlert) -> bool:
    """Whether the alert may be in Salesforce; drops its unsent rows (with audit lines)."""
    rows = tx.outbox.of_records(withdrawal.record, [withdrawal.sync_key])
    unsent = [
        r
        for r in rows
        if r.status is OutboxStatus.DEAD or (r.status is OutboxStatus.PENDING and r.attempts == 0)
    ]
    if unsent and tx.outbox.drop_unsent(r.id for r in unsent):
        line = AuditItem(
            System.SALESFORCE,
            withdrawal.record,
            withdrawal.sync_key,
            "withdraw",
            {"dropped_outbox_ids": [r.id for r in unsent]},
            f"unsent alert dropped: {effect_words(withdrawal)}"[:500],
            keys="; ".join(r.idempotency_key for r in unsent)[:2000],
        )
        tx.audit.append([line])
    maybe = any(r.status not in (OutboxStatus.DEAD, OutboxStatus.SKIPPED) and r not in unsent
                for r in rows)  # fmt: skip
    if maybe:
        return True
    return bool(tx.last_written.get_many([RecordRef(withdrawal.record, withdrawal.sync_key)]))


def settle_withdrawals(
    tx: Transaction, effects: Sequence[tuple[str, Effect]]
) -> list[tuple[str, Effect]]:
    """``effects`` (Account Id, effect) with each withdrawal settled as the module says."""
    if not any(isinstance(e, WithdrawAlert) for _, e in effects):
        return list(effects)
    out: list[tuple[str, Effect] | None] = []
    raised: dict[str, list[int]] = {}  # sync key -> positions in ``out`` of its alerts
    for account_id, effect in effects:
        if isinstance(effect, ChurnRiskAlert | ExpansionOpportunity):
            raised.setdefault(effect.sync_key, []).append(len(out))
        if isinstance(effect, WithdrawAlert):
            for position in raised.pop(effect.sync_key, []):
                out[position] = None  # raised and withdrawn in one batch: neither is sent
            if not _sent(tx, effect):
                continue
        out.append((account_id, effect))
    return [item for item in out if item is not None]
