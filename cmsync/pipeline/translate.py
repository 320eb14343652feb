"""Effects (plain data from the core) into Salesforce outbox rows (field names and values).

This is the one place where the core's logical fields meet the configured Salesforce field
names, and where money in integer cents becomes a Salesforce currency value (``wire``). The
rows it makes follow the dispatcher's contract: ``kind`` "update" (by Account Id) or "upsert"
(on the sync-key External ID), a JSON object of API field names to JSON-ready values, an
idempotency key made of the effect's natural key, and its reason in words (``state.words``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from cmsync.config import FieldSettings, SyncSettings
from state import OutboxItem, System
from state.effects import (
    AccountField,
    AlertRecord,
    ChurnRiskAlert,
    Effect,
    ExpansionOpportunity,
    FieldValue,
    MilestoneReached,
    Money,
    Priority,
    UpdateAccount,
    WithdrawAlert,
)
from state.lifecycle import Stage
from state.sftime import format_datetime
from state.words import effect_words
from state.writeplan import Operation

__all__ = ["STAGE_LABELS", "AccountTarget", "Translator", "wire"]

# The Account's lifecycle picklist shows words, the core keeps identifiers.
STAGE_LABELS = {
    Stage.LEAD.value: "Lead",
    Stage.TRIAL.value: "Trial",
    Stage.NEW.value: "New",
    Stage.ACTIVE.value: "Active",
    Stage.AT_RISK.value: "At Risk",
    Stage.CHURNED.value: "Churned",
}
_CASE_PRIORITY = {Priority.HIGH: "High", Priority.NORMAL: "Medium", Priority.LOW: "Low"}
_TEXT_LIMIT = 32_000  # long text areas hold 32k characters


def wire(value: FieldValue) -> Any:
    """A value as Salesforce takes it in JSON; money from cents to a currency amount."""
    match value:
        case Money(cents=cents):
            return cents / 100  # int / int is correctly rounded, as Decimal then float was
        case datetime():
            return format_datetime(value)
        case date():
            return value.isoformat()
        case _:
            return value


@dataclass(frozen=True, slots=True)
class AccountTarget:
    """The Salesforce Account an effect is for, and the user who gets its Tasks and Cases."""

    account_id: str
    owner_id: str | None = None
    name: str | None = None


class Translator:
    """Builds outbox rows for effects, with the configured field names and policy."""

    def __init__(
        self,
        fields: FieldSettings,
        sync: SyncSettings,
        plan_names: Mapping[str, str] | None = None,
        *,
        today: Callable[[], date] | None = None,
    ) -> None:
        self.fields = fields
        self.sync = sync
        self.plan_names = dict(plan_names or {})
        # Salesforce's date, for Task due dates (``state.lifecycle.apply``); None: the caller's.
        self.today = today
        self._names_from: object = None
        self._names: dict[AccountField, str] = {}

    def _api_names(self) -> dict[AccountField, str]:
        """Each logical field's API name, looked up once per field settings, not once per
        value: every activity of a catch-up makes an Account update of four or five fields."""
        names = self.fields.account
        if names is not self._names_from:
            self._names = {field: getattr(names, field.value) for field in AccountField}
            self._names_from = names
        return self._names

    def account_fields(self, values: Mapping[AccountField, FieldValue]) -> dict[str, Any]:
        """Logical Account fields as ``{API name: wire value}``."""
        names = self._api_names()
        out: dict[str, Any] = {}
        for name, value in values.items():
            if name is AccountField.STAGE and isinstance(value, str):
                value = STAGE_LABELS.get(value, value)
            elif name is AccountField.PLAN and isinstance(value, str):
                value = self.plan_names.get(value, value)
            out[names[name]] = wire(value)
        return out

    def rows(self, effect: Effect, target: AccountTarget) -> list[OutboxItem]:
        match effect:
            case UpdateAccount():
                return [self._update(effect, target)]
            case ChurnRiskAlert():
                return [self._alert(effect, target)]
            case ExpansionOpportunity():
                return [self._opportunity(effect, target)]
            case MilestoneReached():
                return [self._milestone(effect, target)]
            case WithdrawAlert():
                return [self._withdraw(effect)]
        raise AssertionError(f"unhandled effect {effect!r}")  # pragma: no cover

    def update_row(
        self,
        target: AccountTarget,
        values: Mapping[AccountField, FieldValue],
        key: str,
        reason: str,
    ) -> OutboxItem:
        """An Account update outside the lifecycle (figures, links) with its own key."""
        return OutboxItem(
            idempotency_key=key,
            kind=Operation.UPDATE.value,
            target_system=System.SALESFORCE,
            target_object="Account",
            target_key=target.account_id,
            payload=self.account_fields(values),
            reason=reason,
        )

    def _update(self, effect: UpdateAccount, target: AccountTarget) -> OutboxItem:
        key = f"{effect.idempotency_key}|{target.account_id}"
        return self.update_row(target, effect.values, key, effect_words(effect))

    def _upsert(
        self, sobject: str, sync_key: str, key: str, fields: dict[str, Any], reason: str
    ) -> OutboxItem:
        return OutboxItem(
            idempotency_key=key,
            kind=Operation.UPSERT.value,
            target_system=System.SALESFORCE,
            target_object=sobject,
            target_key=sync_key,
            key_field=self.fields.sync_key,
            payload={k: v for k, v in fields.items() if v is not None},
            reason=reason,
        )

    def _alert(self, alert: ChurnRiskAlert, target: AccountTarget) -> OutboxItem:
        description = alert.description[:_TEXT_LIMIT]
        if alert.record is AlertRecord.CASE:
            fields = {
                "Subject": alert.subject[:255],
                "Description": description,
                "Priority": _CASE_PRIORITY[alert.priority],
                "Status": "New",
                "Origin": "Web",
                "AccountId": target.account_id,
                "OwnerId": target.owner_id,
            }
        else:
            fields = {
                "Subject": alert.subject[:255],
                "Description": description,
                "Priority": alert.priority.value,
                "Status": "Not Started",
                "ActivityDate": wire(alert.due),
                "WhatId": target.account_id,
                "OwnerId": target.owner_id,
            }
        return self._upsert(
            alert.record.value, alert.sync_key, alert.idempotency_key, fields, effect_words(alert)
        )

    def _opportunity(self, opp: ExpansionOpportunity, target: AccountTarget) -> OutboxItem:
        prefix = f"{target.name} - " if target.name else ""
        fields = {
            "Name": (prefix + opp.name)[:120],
            "StageName": self.sync.opportunity_stage,
            "CloseDate": wire(opp.close_date),
            "Amount": wire(opp.amount),
            "Type": "Existing Customer - Upgrade",
            "AccountId": target.account_id,
            "OwnerId": target.owner_id,
            "Description": opp.description[:_TEXT_LIMIT],
        }
        return self._upsert(
            "Opportunity", opp.sync_key, opp.idempotency_key, fields, effect_words(opp)
        )

    def _milestone(self, milestone: MilestoneReached, target: AccountTarget) -> OutboxItem:
        due = milestone.at.date() + timedelta(days=self.sync.due_days)
        fields = {
            "Subject": milestone.subject[:255],
            "Description": (
                f"ChartMogul MRR reached {wire(milestone.mrr)} on "
                f"{milestone.at.date().isoformat()}, crossing {wire(milestone.milestone)}."
            ),
            "Priority": Priority.NORMAL.value,
            "Status": "Not Started",
            "ActivityDate": wire(due),
            "WhatId": target.account_id,
            "OwnerId": target.owner_id,
        }
        return self._upsert(
            "Task", milestone.sync_key, milestone.idempotency_key, fields, effect_words(milestone)
        )

    def _withdraw(self, withdrawal: WithdrawAlert) -> OutboxItem:
        """Close the alert on its sync key. The picklists are the catalogue's (a new org's
        defaults): a Task's closed Status is "Completed", a Case's "Closed"; an Opportunity
        goes to "Closed Lost". Closed rather than deleted: the record keeps what the account
        manager may have added to it."""
        fields: dict[str, Any] = {"Description": withdrawal.description[:_TEXT_LIMIT]}
        if withdrawal.record == "Opportunity":
            fields["StageName"] = "Closed Lost"
        else:
            case = withdrawal.record == AlertRecord.CASE.value
            fields["Status"] = "Closed" if case else "Completed"
        return self._upsert(
            withdrawal.record,
            withdrawal.sync_key,
            withdrawal.idempotency_key,
            fields,
            effect_words(withdrawal),
        )
