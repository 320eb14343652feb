"""Problems grouped by cause (``state.problems``): normalised causes, reasons and fixes.

The error shapes are Salesforce's: a record's errors as ``statusCode``/``message``/``fields``,
a field error's message starting with the field's label (SOAP API Developer Guide,
"StatusCode"), a validation rule's message its own text (Salesforce Help, "Validation Rules").
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime

from cmsync.cli import app
from state import (
    OutboxEntry,
    OutboxStatus,
    QuarantineEntry,
    QuarantineKind,
    QuarantineStatus,
    System,
)
from state.problems import (
    CHARTMOGUL_FIXES,
    FIXES,
    GENERIC_FIX,
    cause_of_dead_letter,
    customer_of,
    group_problems,
    keys_of,
)

AT = datetime(2025, 3, 1, tzinfo=UTC)


def dead(n: int, error: str, obj: str = "Account") -> OutboxEntry:
    return OutboxEntry(
        id=n, idempotency_key=f"k{n}", kind="update", target_system=System.SALESFORCE,
        target_object=obj, target_key=f"001Dn00000000{n:02d}IAA", key_field=None, payload={},
        reason="", status=OutboxStatus.DEAD, attempts=1, next_attempt_at=AT, last_error=error,
        created_at=AT, updated_at=AT,
    )  # fmt: skip


def quarantined(n: int, kind: QuarantineKind, reason: str, key: str) -> QuarantineEntry:
    return QuarantineEntry(
        id=n, kind=kind, source=System.CHARTMOGUL, record_key=key, reason=reason,
        candidates=(), payload={}, status=QuarantineStatus.OPEN, resolution=None,
        created_at=AT, updated_at=AT,
    )  # fmt: skip


def test_field_errors_group_by_field_whatever_the_value() -> None:
    letters = [
        dead(
            1, "STRING_TOO_LONG: CM URL: data value too large: " + "x" * 300 + " (max length=255)"
        ),
        dead(2, "STRING_TOO_LONG: CM URL: data value too large: yyy (max length=255)"),
        dead(3, "STRING_TOO_LONG: CM Plan: data value too large: zzz (max length=255)"),
    ]
    groups = group_problems(letters, [])
    assert [(g.cause.text, g.count) for g in groups] == [
        ('STRING_TOO_LONG on Account field "CM URL"', 2),
        ('STRING_TOO_LONG on Account field "CM Plan"', 1),
    ]
    assert groups[0].keys == ("outbox:1", "outbox:2")
    assert groups[0].fix == FIXES["STRING_TOO_LONG"].format(cause=groups[0].cause.id)


def test_validation_rules_group_by_their_message_and_retries_by_their_own_cause() -> None:
    rule = "FIELD_CUSTOM_VALIDATION_EXCEPTION: Partner accounts take no MRR"
    other = "FIELD_CUSTOM_VALIDATION_EXCEPTION: Close date must be in the past"
    groups = group_problems([dead(1, rule), dead(2, rule), dead(3, other)], [])
    assert [g.count for g in groups] == [2, 1]
    first = groups[0]
    assert (
        first.cause.text
        == "FIELD_CUSTOM_VALIDATION_EXCEPTION on Account: Partner accounts take no MRR"
    )
    assert f"cmsync problems retry --cause {first.cause.id}" in first.fix
    assert keys_of(groups, first.cause.id) == ["outbox:1", "outbox:2"]
    assert keys_of(groups, "FIELD_CUSTOM_VALIDATION_EXCEPTION") == [
        "outbox:1",
        "outbox:2",
        "outbox:3",
    ]


def test_transient_give_ups_unknown_codes_and_codeless_failures() -> None:
    assert (
        cause_of_dead_letter(dead(1, "gave up after 8 attempts: UNABLE_TO_LOCK_ROW: x")).code
        == "TRANSIENT"
    )
    unknown = group_problems([dead(2, "SOMETHING_NEW: record 001Dn0000000012IAA is odd")], [])
    assert unknown[0].cause.text == "SOMETHING_NEW on Account: record <id> is odd"
    assert unknown[0].fix == GENERIC_FIX.format(cause=unknown[0].cause.id)
    bare = group_problems([dead(3, None)], [])  # type: ignore[arg-type]
    assert bare[0].cause.code == "ERROR" and bare[0].reason == ""


def test_a_chartmogul_dead_letter_names_chartmogul_in_its_cause_and_fix() -> None:
    """A Closed-Won import or an operator's void that kept failing is ChartMogul's failure: its
    group is apart from Salesforce's, and its fix never sends the operator to Salesforce."""
    outage = "gave up after 10 attempts: ChartMogul answered 503 on POST /v1/import/invoices"

    def cm(n: int, error: str) -> OutboxEntry:
        return replace(dead(n, error, "Invoice"), target_system=System.CHARTMOGUL,
                       kind="import_deal", target_key=f"006Dn00000000{n:02d}IAA")  # fmt: skip

    groups = group_problems(
        [cm(1, outage), cm(2, outage), dead(3, "gave up after 10 attempts: timed out")], []
    )
    [chartmogul] = [g for g in groups if g.count == 2]
    [salesforce] = [g for g in groups if g.count == 1]
    assert chartmogul.cause.text.startswith("TRANSIENT on ChartMogul Invoice: ChartMogul ")
    assert chartmogul.fix.startswith("ChartMogul kept failing on these writes")
    assert "Salesforce" not in chartmogul.fix
    assert chartmogul.fix == CHARTMOGUL_FIXES["TRANSIENT"].format(cause=chartmogul.cause.id)
    assert salesforce.fix.startswith("Salesforce kept failing on these writes")
    assert salesforce.cause.text.startswith("TRANSIENT on Account")

    refused = cm(4, "ChartMogul refused the delete of invoice inv_0123abcd-99: 422 invalid")
    [group] = group_problems([refused], [])
    assert (group.cause.code, group.cause.scope) == ("ERROR", "ChartMogul Invoice")
    assert group.fix.startswith("ChartMogul refused these writes as sent")


def test_quarantine_groups_by_kind_and_reason_without_the_records_identifiers() -> None:
    ambiguous, bad = QuarantineKind.AMBIGUOUS_MATCH, QuarantineKind.BAD_RECORD
    entries = [
        quarantined(1, ambiguous, "2 Accounts match by domain", "cus_1234abcd-0000"),
        quarantined(2, ambiguous, "3 Accounts match by domain", "cus_1234abce-0000"),
        quarantined(3, bad, "customer cus_99999999-0001: mrr 'abc' is no number",
                    "customer:cus_99999999-0001"),
    ]  # fmt: skip
    groups = group_problems([], entries)
    assert [(g.cause.family, g.count) for g in groups] == [
        ("ambiguous_match", 2), ("bad_record", 1),
    ]  # fmt: skip
    assert "cmsync problems relink CUSTOMER_UUID ACCOUNT_ID" in groups[0].fix
    assert customer_of(entries[0]) == "cus_1234abcd-0000"
    assert customer_of(entries[2]) == ""  # ChartMogul's bad record: nothing to (un)link


def test_a_refused_deal_names_the_customer_whose_link_is_in_the_way() -> None:
    reason = (
        "Closed-Won Opportunity 'Big': Account 001Dn0000000001IAA points to ChartMogul "
        "customer cus_5e0c1a2b-77aa-4a0e-9e0e-0d7f2c2b9a11 (contact_email), which is linked "
        "to Account 001Dn0000000002IAA: unlink it"
    )
    deal = quarantined(4, QuarantineKind.BAD_RECORD, reason, "006Dn0000000001IAA")
    deal = replace(deal, source=System.SALESFORCE)
    assert customer_of(deal) == "cus_5e0c1a2b-77aa-4a0e-9e0e-0d7f2c2b9a11"
    email = replace(deal, kind=QuarantineKind.AMBIGUOUS_MATCH, reason="on cus_1 and cus_2")
    assert customer_of(email) == ""


def test_every_fix_names_commands_that_exist() -> None:
    """A fix proposing ``cmsync problems VERB`` or ``cmsync CMD`` names a real command."""
    from state import problems

    texts = [*FIXES.values(), GENERIC_FIX, *problems._QUARANTINE_FIXES.values()]
    commands = {c.name for c in app.registered_commands} | {g.name for g in app.registered_groups}
    (group,) = [g for g in app.registered_groups if g.name == "problems"]
    assert group.typer_instance is not None
    verbs = {c.name for c in group.typer_instance.registered_commands}
    assert verbs == {"list", "retry", "skip", "unlink", "relink", "void", "keep"}
    for text in texts:
        for verb in re.findall(r"cmsync problems (\w+)", text):
            assert verb in verbs, text
        for command in re.findall(r"`cmsync (\w[\w-]*)", text):
            assert command in commands, text
