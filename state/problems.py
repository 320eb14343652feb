"""Problems grouped by cause, each with the reason in words and the fix an operator can apply.

Eighty-six dead letters are rarely eighty-six problems: most come from a handful of causes (a
validation rule, one field too short for its values). ``group_problems`` puts dead letters
together by a normalised cause (the object, Salesforce's error code and what it is about: the
field for a field's error, the rule's own message for a validation rule) and quarantine
entries by kind, source and their reason with the record's own identifiers taken out. Each
group carries its count, the first few record keys (the command targets ``outbox:<id>`` and
``quarantine:<id>``, and the record they are about), the reason in words and the fix.

A dead letter's cause and fix name the system its write was for: a Salesforce row's cause is
about the object ("STRING_TOO_LONG on Account"), a ChartMogul row's (a Closed-Won deal's
import, an operator's void) about "ChartMogul Invoice", and its fix speaks of ChartMogul.

Every fix names an action that exists: ``cmsync problems retry|skip|unlink|relink`` and the
dashboard's keys (r, s, m, u, l), or a step in Salesforce or ChartMogul. Unknown causes get a
generic fix with the same actions.

Salesforce's field errors start their message with the field's label ("CM URL: data value too
large: ... (max length=255)"; SOAP API Developer Guide, "StatusCode"; the REST API answers the
same ``errorCode``/``message``/``fields`` list): the label is what names the field here, the
value (which differs per record) is left out.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from state.records import OutboxEntry, QuarantineEntry, QuarantineKind, System

__all__ = [
    "CHARTMOGUL_FIXES",
    "CHARTMOGUL_GENERIC_FIX",
    "FIELD_CODES",
    "FIXES",
    "GENERIC_FIX",
    "Cause",
    "ProblemGroup",
    "cause_of_dead_letter",
    "cause_of_quarantine",
    "customer_of",
    "explain",
    "group_problems",
    "keys_of",
    "matches_cause",
]

KEYS_SHOWN = 5  # record keys listed per group (the count says how many there are)
_SUBJECT_CHARS = 160

_GAVE_UP = re.compile(r"^gave up after \d+ attempts: ")
_CODE = re.compile(r"^([A-Z][A-Z0-9_]{2,}): ?(.*)$", re.DOTALL)
# Identifiers that differ per record and would split one cause into many groups.
_CHARTMOGUL_UUID = re.compile(r"\b[a-z]{2,4}_[0-9a-fA-F-]{8,}\b")
_SALESFORCE_ID = re.compile(r"\b(?=[a-zA-Z0-9]*\d)[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?\b")
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_NUMBER = re.compile(r"\b\d+(?:\.\d+)?\b")
_CUSTOMER = re.compile(r"\bcus_[0-9a-fA-F-]{8,}\b")

# Codes Salesforce gives for one field's value; their message starts with the field's label.
FIELD_CODES = frozenset(
    {
        "STRING_TOO_LONG",
        "NUMBER_OUTSIDE_VALID_RANGE",
        "INVALID_EMAIL_ADDRESS",
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "MALFORMED_ID",
        "INVALID_TYPE_ON_FIELD_IN_RECORD",
        "FIELD_INTEGRITY_EXCEPTION",
        "REQUIRED_FIELD_MISSING",
    }
)

_RETRY = "then retry them: `cmsync problems retry --cause {cause}` (r on the dashboard)"
_SKIP = "`cmsync problems skip KEY` (s on the dashboard)"

# Known causes -> what to do. ``{cause}`` is the group's id, for ``--cause``.
FIXES: dict[str, str] = {
    "FIELD_CUSTOM_VALIDATION_EXCEPTION": (
        "A validation rule in Salesforce refused the write; its message is the reason. Fix "
        "the records' data in Salesforce, or the rule, " + _RETRY + "; or give up on a "
        "write: " + _SKIP + "."
    ),
    "STRING_TOO_LONG": (
        "The value is longer than the Salesforce field allows. Lengthen the field (Setup, "
        "Object Manager) or shorten the value where it comes from (in ChartMogul), "
        + _RETRY
        + "; or give up on a write: "
        + _SKIP
        + "."
    ),
    "NUMBER_OUTSIDE_VALID_RANGE": (
        "The number does not fit the Salesforce field's precision. Widen the field (Setup, "
        "Object Manager) or correct the figure in ChartMogul, " + _RETRY + "; or give up on "
        "a write: " + _SKIP + "."
    ),
    "INVALID_EMAIL_ADDRESS": (
        "Salesforce refused the email address. Correct it where it comes from (the "
        "ChartMogul customer), " + _RETRY + "; or give up on a write: " + _SKIP + "."
    ),
    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST": (
        "The field's picklist lacks the value. Add it (`cmsync doctor` names missing "
        "picklist values) or unrestrict the picklist, " + _RETRY + "."
    ),
    "INVALID_FIELD": (
        "The field is missing or hidden from the integration user. Run `cmsync doctor` and "
        "apply its fix (deploy the metadata, assign the permission set), " + _RETRY + "."
    ),
    "INVALID_FIELD_FOR_INSERT_UPDATE": (
        "The integration user may not write the field. Run `cmsync doctor` and apply its fix "
        "(field-level security), " + _RETRY + "."
    ),
    "INSUFFICIENT_ACCESS_OR_READONLY": (
        "The integration user may not edit these records. Give it access (sharing, the "
        "cmsync_Integration permission set), " + _RETRY + "."
    ),
    "ENTITY_IS_DELETED": (
        "The record was deleted in Salesforce. Give up on the writes: " + _SKIP + "; or "
        "restore the record from the Recycle Bin, " + _RETRY + "."
    ),
    "DUPLICATE_VALUE": (
        "Another record already holds this unique value. Correct the duplicate in "
        "Salesforce, " + _RETRY + "; or give up on a write: " + _SKIP + "."
    ),
    "TRANSIENT": (
        "Salesforce kept failing on these writes for a while (a transient error: a lock, a "
        "timeout, an outage). Once it answers again, " + _RETRY + "."
    ),
}

# A ChartMogul row's fixes: ChartMogul gives no error codes of Salesforce's kind, so its dead
# letters are either transient (given up after retries) or refused as sent ("ERROR").
CHARTMOGUL_FIXES: dict[str, str] = {
    "TRANSIENT": (
        "ChartMogul kept failing on these writes for a while (a transient error: a timeout, "
        "rate limiting, an outage). Once it answers again, " + _RETRY + "."
    ),
}
CHARTMOGUL_GENERIC_FIX = (
    "ChartMogul refused these writes as sent; the reason says why. Fix what it names in "
    "ChartMogul (or the deal in Salesforce), " + _RETRY + "; or give up on a write: " + _SKIP + "."
)

GENERIC_FIX = (
    "Read the reason; fix the record in Salesforce or at its source, " + _RETRY + "; or give "
    "up on a write: " + _SKIP + "."
)

_QUARANTINE_FIXES: dict[tuple[QuarantineKind, System], str] = {
    (QuarantineKind.AMBIGUOUS_MATCH, System.CHARTMOGUL): (
        "cmsync never guesses a match. Link the customer to the right Account: m on the "
        "dashboard (one of the candidates), or `cmsync problems relink CUSTOMER_UUID "
        "ACCOUNT_ID` (l on the dashboard, any Account); if that Account is linked to another "
        "customer, `cmsync problems unlink` that one (u on the dashboard) first. Or fix the "
        "data in Salesforce and match again: `cmsync problems retry --cause {cause}` (r)."
    ),
    (QuarantineKind.AMBIGUOUS_MATCH, System.SALESFORCE): (
        "Several ChartMogul customers share this record's email, so nothing was written to "
        "it. Merge or correct the customers in ChartMogul so one has the email, then close "
        "the entries: `cmsync problems retry --cause {cause}` (r on the dashboard); the record "
        "is enriched the next time it changes in Salesforce (edit it to have it read now). Or "
        "leave the record as it is: " + _SKIP + "."
    ),
    (QuarantineKind.BAD_RECORD, System.CHARTMOGUL): (
        "ChartMogul holds a record cmsync cannot use (the reason names what is wrong). "
        "Correct it in ChartMogul: it is read again when it changes. Close the entry with "
        "`cmsync problems retry --cause {cause}` or " + _SKIP + "."
    ),
    (QuarantineKind.BAD_RECORD, System.SALESFORCE): (
        "Do what the reason says (a wrong link: `cmsync problems unlink CUSTOMER_UUID` or "
        "`relink CUSTOMER_UUID ACCOUNT_ID`, u or l on the dashboard), then edit the "
        "Opportunity so it is read again; close the entry with " + _SKIP + "."
    ),
    (QuarantineKind.ILLEGAL_TRANSITION, System.CHARTMOGUL): (
        "The movement could not be applied to the customer's lifecycle. Apply it again: "
        "`cmsync problems retry --cause {cause}` (r on the dashboard); or " + _SKIP + "."
    ),
    (QuarantineKind.DEAL_UNWOUND, System.SALESFORCE): (
        "The deal was imported into ChartMogul, then left Closed Won or was deleted; its "
        "invoice still counts as revenue. Take it out: `cmsync problems void KEY` (v on the "
        "dashboard) deletes the invoice in ChartMogul; or leave it: `cmsync problems keep KEY` "
        "(k), and the deal is not raised again."
    ),
    (QuarantineKind.FIELD_LIMIT, System.SALESFORCE): (
        "A value did not fit the Salesforce field (the reason names it) and was left out of "
        "the writes; the records' other fields were written. Widen the field or add the "
        "picklist value in Salesforce, then close the entry with `cmsync problems retry "
        "--cause {cause}` (r on the dashboard): each record sends it with its next write."
    ),
}


@dataclass(frozen=True, slots=True)
class Cause:
    """What a problem is about, the same for every record with that problem."""

    family: str  # "dead letter" or a quarantine kind's value
    scope: str  # the Salesforce object, or the quarantine entry's source
    code: str  # the Salesforce error code ("TRANSIENT", "ERROR" when there is none)
    subject: str  # the field's label, the rule's message, or the normalised reason

    @property
    def text(self) -> str:
        """The cause in words, e.g. ``STRING_TOO_LONG on Account field "CM URL"``."""
        if self.family != "dead letter":
            return f"{self.subject} ({self.scope})"
        if self.code in FIELD_CODES and self.subject:
            return f'{self.code} on {self.scope} field "{self.subject}"'
        if self.subject:
            return f"{self.code} on {self.scope}: {self.subject}"
        return f"{self.code} on {self.scope}"

    @property
    def id(self) -> str:
        """A short stable name for ``--cause``: the same cause gets the same id every time."""
        return hashlib.blake2s(
            "\0".join((self.family, self.scope, self.code, self.subject)).encode(), digest_size=4
        ).hexdigest()


@dataclass(frozen=True)
class ProblemGroup:
    cause: Cause
    count: int
    keys: tuple[str, ...]  # the first ``KEYS_SHOWN`` command targets
    records: tuple[str, ...]  # the records those keys are about, in the same order
    reason: str  # one full reason of the group, as the service gave it
    fix: str
    all_keys: tuple[str, ...] = field(default=(), repr=False)  # every target, for --cause

    def as_json(self) -> dict[str, object]:
        return {
            "cause": self.cause.id,
            "kind": self.cause.family.replace("_", " "),
            "what": self.cause.text,
            "code": self.cause.code,
            "count": self.count,
            "keys": list(self.keys),
            "records": list(self.records),
            "reason": self.reason,
            "fix": self.fix,
        }


def _normalised(text: str) -> str:
    text = _EMAIL.sub("<email>", text)
    text = _CHARTMOGUL_UUID.sub("<uuid>", text)
    text = _SALESFORCE_ID.sub("<id>", text)
    text = _QUOTED.sub("<value>", text)
    text = _NUMBER.sub("<n>", text)
    text = " ".join(text.split())
    return text[:_SUBJECT_CHARS]


def cause_of_dead_letter(entry: OutboxEntry) -> Cause:
    """The dead letter's cause from its last error (``CODE: message; ...``, see
    ``RecordResult.reason``; a whole call's failure has no code)."""
    reason = entry.last_error or ""
    transient = bool(_GAVE_UP.match(reason))
    first = _GAVE_UP.sub("", reason).split("; ")[0].strip()
    found = _CODE.match(first)
    if transient:
        code, subject = "TRANSIENT", _normalised(first)
    elif found is None:
        code, subject = "ERROR", _normalised(first) if first else "no reason recorded"
    else:
        code, message = found.group(1), found.group(2)
        if code in FIELD_CODES:
            label, sep, _ = message.partition(": ")
            subject = label.strip() if sep and len(label) <= 80 else _normalised(message)
        elif code == "FIELD_CUSTOM_VALIDATION_EXCEPTION":
            subject = " ".join(message.split())[:_SUBJECT_CHARS]  # the rule's own words
        else:
            subject = _normalised(message)
    scope = entry.target_object
    if entry.target_system is System.CHARTMOGUL:  # its own words, never Salesforce's
        scope = f"ChartMogul {scope}"
    return Cause("dead letter", scope, code, subject)


def cause_of_quarantine(entry: QuarantineEntry) -> Cause:
    return Cause(entry.kind.value, entry.source.value, entry.kind.value.upper(),
                 _normalised(entry.reason))  # fmt: skip


def customer_of(entry: QuarantineEntry) -> str:
    """The ChartMogul customer a quarantine entry is about, where it names one ("" if not):
    an ambiguous match's own customer, or the customer a refused Closed-Won deal names (the
    one whose link is in the way). A Contact's email shared by several customers names no
    one customer to unlink or relink."""
    if entry.kind is QuarantineKind.AMBIGUOUS_MATCH and entry.source is System.CHARTMOGUL:
        return entry.record_key
    named = entry.payload.get("customer_uuid")
    if isinstance(named, str) and named:
        return named
    if entry.kind is not QuarantineKind.BAD_RECORD or entry.source is not System.SALESFORCE:
        return ""
    found = _CUSTOMER.search(entry.reason)
    return found.group(0) if found else ""


def _fix(
    cause: Cause,
    kind: QuarantineKind | None,
    source: System | None,
    target: System = System.SALESFORCE,
) -> str:
    if kind is not None and source is not None:
        text = _QUARANTINE_FIXES.get((kind, source), GENERIC_FIX)
    elif target is System.CHARTMOGUL:
        text = CHARTMOGUL_FIXES.get(cause.code, CHARTMOGUL_GENERIC_FIX)
    else:
        text = FIXES.get(cause.code, GENERIC_FIX)
    return text.format(cause=cause.id)


def explain(entry: OutboxEntry | QuarantineEntry) -> tuple[Cause, str]:
    """One problem's cause and fix, as its group in ``group_problems`` has them."""
    if isinstance(entry, OutboxEntry):
        cause = cause_of_dead_letter(entry)
        return cause, _fix(cause, None, None, entry.target_system)
    cause = cause_of_quarantine(entry)
    return cause, _fix(cause, entry.kind, entry.source)


def group_problems(
    dead_letters: Sequence[OutboxEntry],
    quarantine: Sequence[QuarantineEntry],
    *,
    keys_shown: int = KEYS_SHOWN,
) -> list[ProblemGroup]:
    """Dead letters and open quarantine entries by cause, largest group first."""
    found: dict[Cause, list[tuple[str, str, str]]] = {}
    fixes: dict[Cause, str] = {}
    for d in dead_letters:
        cause = cause_of_dead_letter(d)
        record = f"{d.target_object} {d.target_key}"
        found.setdefault(cause, []).append((f"outbox:{d.id}", record, d.last_error or ""))
        fixes.setdefault(cause, _fix(cause, None, None, d.target_system))
    for q in quarantine:
        cause = cause_of_quarantine(q)
        record = f"{q.source.value} {q.record_key}"
        found.setdefault(cause, []).append((f"quarantine:{q.id}", record, q.reason))
        fixes.setdefault(cause, _fix(cause, q.kind, q.source))
    groups = [
        ProblemGroup(
            cause=cause,
            count=len(rows),
            keys=tuple(key for key, _, _ in rows[:keys_shown]),
            records=tuple(record for _, record, _ in rows[:keys_shown]),
            reason=rows[0][2],
            fix=fixes[cause],
            all_keys=tuple(key for key, _, _ in rows),
        )
        for cause, rows in found.items()
    ]
    groups.sort(key=lambda g: (-g.count, g.cause.text))
    return groups


def matches_cause(group: ProblemGroup, wanted: str) -> bool:
    """``--cause`` names a group by its id, its cause in words, or its error code."""
    return wanted in (group.cause.id, group.cause.text, group.cause.code)


def keys_of(groups: Iterable[ProblemGroup], wanted: str) -> list[str]:
    """Every command target of the groups ``wanted`` names."""
    return [key for g in groups if matches_cause(g, wanted) for key in g.all_keys]
