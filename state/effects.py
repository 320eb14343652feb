"""Effects: what the lifecycle machine decides should be written, as plain frozen data.

The core never writes anything: it returns effects, the shell's dispatcher carries them out.
Field updates name logical fields (``AccountField``); the shell maps them to the configured
Salesforce field names. Money stays integer cents (``Money``) until the one place in the shell
that turns it into a Salesforce currency value. Every effect has an ``idempotency_key`` made of
natural keys, unique per intended write, so a replay enqueues nothing new, and ``words``: why
it is written, as the live feed and the audit trail show it (``state.words``). The words are
not part of the key nor of an effect's equality: the same write said otherwise is the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

__all__ = [
    "AccountField",
    "AlertKind",
    "AlertRecord",
    "ChurnRiskAlert",
    "Effect",
    "ExpansionOpportunity",
    "FieldValue",
    "MilestoneReached",
    "Money",
    "Priority",
    "UpdateAccount",
    "WithdrawAlert",
]


@dataclass(frozen=True)
class Money:
    """An amount in integer cents of the ChartMogul account currency."""

    cents: int


FieldValue = str | int | bool | date | datetime | Money | None


class AccountField(StrEnum):
    CUSTOMER_UUID = "customer_uuid"
    MRR = "mrr"
    ARR = "arr"
    PLAN = "plan"
    STATUS = "status"
    CUSTOMER_SINCE = "customer_since"
    STAGE = "stage"
    CHURN_RISK = "churn_risk"
    LAST_ACTIVITY = "last_activity"
    URL = "url"


@dataclass(frozen=True)
class UpdateAccount:
    """Set fields on the Account linked to ``customer_uuid``."""

    customer_uuid: str
    fields: tuple[tuple[AccountField, FieldValue], ...]
    reason: str  # the signal key that caused it (the effect's key, never shown as its why)
    words: str = field(default="", compare=False)  # why, for people (``state.words``)

    @classmethod
    def of(
        cls,
        customer_uuid: str,
        fields: Mapping[AccountField, FieldValue],
        reason: str,
        words: str = "",
    ) -> UpdateAccount:
        return cls(customer_uuid, tuple(sorted(fields.items())), reason, words)

    @property
    def values(self) -> dict[AccountField, FieldValue]:
        return dict(self.fields)

    @property
    def idempotency_key(self) -> str:
        return f"fields|{self.reason}"


class AlertKind(StrEnum):
    CONTRACTION = "contraction"
    DOWNGRADE = "downgrade"
    PAYMENT_FAILED = "payment_failed"
    CHURN = "churn"


class AlertRecord(StrEnum):
    TASK = "Task"
    CASE = "Case"


class Priority(StrEnum):
    HIGH = "High"
    NORMAL = "Normal"
    LOW = "Low"


@dataclass(frozen=True)
class ChurnRiskAlert:
    """A Task or Case for the account's owner, upserted on ``sync_key``."""

    customer_uuid: str
    sync_key: str
    kind: AlertKind
    record: AlertRecord
    priority: Priority
    due: date
    subject: str
    description: str
    mrr_at_stake: Money
    words: str = field(default="", compare=False)  # why, for people (``state.words``)

    @property
    def idempotency_key(self) -> str:
        return f"alert|{self.sync_key}"


@dataclass(frozen=True)
class ExpansionOpportunity:
    """An upgrade Opportunity; a second expansion of a subscription on a day updates it."""

    customer_uuid: str
    sync_key: str  # one per (customer, subscription, day)
    amount: Money  # the ARR increase, all expansions of that day together
    close_date: date
    name: str
    description: str
    words: str = field(default="", compare=False)  # why, for people (``state.words``)

    @property
    def idempotency_key(self) -> str:
        return f"opp|{self.sync_key}|{self.amount.cents}"


@dataclass(frozen=True)
class MilestoneReached:
    """The customer's MRR crossed a configured milestone upwards: tell the owner."""

    customer_uuid: str
    sync_key: str
    milestone: Money
    mrr: Money
    at: datetime
    subject: str
    words: str = field(default="", compare=False)  # why, for people (``state.words``)

    @property
    def idempotency_key(self) -> str:
        return f"milestone|{self.sync_key}"


@dataclass(frozen=True)
class WithdrawAlert:
    """Take back an alert raised for a movement ChartMogul regrouped away.

    ChartMogul regroups a customer's movements within 60 minutes and retypes them afterwards
    (Smart Activity Classification, help article 4416682609426): a churn read an hour ago
    becomes a contraction once the customer bought again, an upgrade undone within the hour
    disappears. The alert raised for the old type is closed, never deleted: a Task or Case
    is completed (closed), an Opportunity set to Closed Lost, so whatever an account manager
    did with it stays on the record. ``record`` names the sObject and ``sync_key`` the
    alert's External ID value; an alert still waiting in the outbox is dropped instead.
    """

    customer_uuid: str
    record: str  # "Task", "Case" or "Opportunity"
    sync_key: str
    reason: str  # the signal that retyped it, or "vanished|" and the movement's key
    description: str
    words: str = field(default="", compare=False)  # why, for people (``state.words``)

    @property
    def idempotency_key(self) -> str:
        return f"withdraw|{self.sync_key}|{self.reason}"


Effect = UpdateAccount | ChurnRiskAlert | ExpansionOpportunity | MilestoneReached | WithdrawAlert
