"""``cmsync status``: what the daemon is doing, read from the store (read-only, any time).

Heartbeat (running, stale or stopped), the store (its schema revision and when it was
created), each scheduled job's health as the daemon last stored it (up or failing, how many
runs in a row failed, its last success and its last error), each step's latest run, the
cursors and how far behind they are, the outbox, the API budgets, and the open problems
(quarantine, dead letters, customers still unmatched) grouped by cause (``state.problems``):
each group with its count, a few of its records, the reason in words and the fix; the newest
dead letters with Salesforce's reason for each, and every unwound Closed-Won deal with its
invoice, amount and the actions it waits for; in ``--json``, the newest writes too, each with
its reason in words and the keys of what caused it. ``--json`` prints the same as one JSON object
for scripts and monitoring. The command exits with the verdict (``state.verdict``): 0 healthy,
1 degraded, 2 down, so cron and monitoring plugins need not parse anything.

A daemon whose store refuses writes (a full disk, a read-only file) cannot beat: the note it
writes beside the store (``state.storehealth``) makes the state "store unwritable", with the
reason and since when.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cmsync.machineclock import machine_clock
from state import QuarantineKind, QuarantineStatus, Store
from state.liveness import MachineClock, beat_age
from state.problems import group_problems
from state.storehealth import read_note
from state.verdict import judge

__all__ = [
    "STALE_AFTER",
    "collect",
    "cursor_lag",
    "render",
    "render_health",
    "render_verdict",
]

STALE_AFTER = timedelta(seconds=30)
DEAD_SHOWN = 10  # dead letters listed with their reasons (the dashboard lists them all)
WRITES_SHOWN = 20  # the newest audit entries in --json: why in words, and the keys
REASON_CHARS = 300
GROUPED = 10_000  # problems read for grouping: the counts above them stay exact


def cursor_lag(value: str, now: datetime) -> float | None:
    """Seconds between now and the newest record a watermark cursor read, if it is one."""
    try:
        stamp = json.loads(value).get("stamp")
    except (ValueError, AttributeError):
        return None
    if not isinstance(stamp, str):
        return None
    return (now - datetime.fromisoformat(stamp)).total_seconds()


def collect(path: Path, now: datetime, here: MachineClock | None = None) -> dict[str, Any]:
    """The status as plain JSON-ready data; ``here``: this machine's clocks (read if None)."""
    here = here or machine_clock()
    store = Store.open_readonly(path)
    try:
        created = store.created_at()
        with store.snapshot() as q:
            beat = q.heartbeat()
            jobs = q.latest_job_runs()
            health = q.job_health()
            cursors = q.cursors()
            counts = q.outbox_counts()
            budgets = q.budgets()
            entries = q.quarantine(QuarantineStatus.OPEN, limit=GROUPED)
            letters = q.dead_letters(limit=GROUPED)
            quarantined, dead = len(entries), counts.dead
            unmatched = q.pending_match_count()
            writes = q.recent_audit(WRITES_SHOWN)
    finally:
        store.close()
    # Judged by the beat's monotonic age where this machine can tell it, never by a beat dated
    # in the future (a clock stepped back would keep a killed daemon "running"): state.liveness.
    age = beat_age(beat, now, here) if beat is not None else None
    if beat is None:
        state = "never started"
    elif beat.stopped_at is not None:
        state = "stopped"
    elif age is None or age.age is None or age.age > STALE_AFTER:
        state = "stale"
    else:
        state = "running"
    # A daemon whose store refuses writes cannot beat: its note beside the store says why.
    note = read_note(path)
    if note is not None and note.fresh(now) and state != "stopped":
        state = "store unwritable"
    # The exit code: 0 healthy, 1 degraded, 2 down (state.verdict), with its reasons in words.
    verdict = judge(state, {r.job: r.failures for r in health}, dead, budgets)
    return {
        "verdict": verdict.as_json(),
        "daemon": {
            "state": state,
            "pid": beat.pid if beat else None,
            "target": beat.target if beat else None,
            "started_at": beat.started_at.isoformat() if beat else None,
            "last_beat": beat.beat_at.isoformat() if beat else None,
            "beat_age_seconds": age.age.total_seconds() if age and age.age is not None else None,
            "beat_age_by": age.by if age else None,
        },
        # A store created after the services' newest cmsync writes was restored or replaced:
        # `cmsync doctor` compares the two.
        "store": {
            "revision": store.revision,
            "created_at": created.isoformat() if created else None,
        },
        # None: the store takes writes (or no daemon said otherwise); an old note (its daemon
        # gone) is still shown, for the reason, with "fresh": false.
        "store_health": None if note is None else {**note.as_json(), "fresh": note.fresh(now)},
        # Per scheduled job (``cmsync.daemon.JOBS``), never per source: see state.jobhealth.
        "health": {record.job: record.as_json() for record in health},
        "jobs": {
            run.job: {
                "started_at": run.started_at.isoformat(),
                "result": run.result.value if run.result else "running",
                "seconds": run.duration_s,
                "detail": run.detail,
            }
            for run in jobs
        },
        "cursors": {
            c.name: {
                "updated_at": c.updated_at.isoformat(),
                "newest_record_age_seconds": cursor_lag(c.value, now),
            }
            for c in cursors
        },
        "outbox": {
            "pending": counts.pending,
            "retrying": counts.retrying,
            "in_flight": counts.in_flight,
            "dead": counts.dead,
        },
        "budgets": {
            b.system.value: {"used": b.used, "max": b.max, "share": b.share} for b in budgets
        },
        "problems": {"quarantined": quarantined, "dead_letters": dead, "unmatched": unmatched},
        # What an operator must read to act, one entry per cause: how many records, which,
        # why (in words and as the service said it) and what to do.
        "problem_groups": [g.as_json() for g in group_problems(letters, entries)],
        # What an operator must read to act: each dead letter's record and Salesforce's reason
        # (a validation rule's own message, say), newest first.
        "dead_letters": [
            {
                "object": d.target_object,
                "key": d.target_key,
                "reason": d.last_error or "",
                "why": d.reason,  # why it was to be written, in words
                "idempotency_key": d.idempotency_key,  # the signal it came from
            }
            for d in letters[:DEAD_SHOWN]
        ],
        # The newest writes, newest first: why in words, as the live feed shows them, and the
        # keys of the outbox rows each carried out (the signals they came from).
        "recent_writes": [
            {
                "at": w.at.isoformat(),
                "system": w.system.value,
                "object": w.object,
                "record_id": w.record_id,
                "action": w.action,
                "why": w.reason,
                "keys": w.keys.split("; ") if w.keys else [],
            }
            for w in writes
        ],
        # Deals imported, then moved out of Closed Won or deleted: revenue an operator must
        # void or keep (the dashboard's v and k); nothing changes until one is chosen.
        "unwound_deals": [
            {
                "problem": f"quarantine:{e.id}",
                "opportunity": e.record_key,
                "invoice": e.payload.get("invoice_uuid"),
                "amount": e.payload.get("amount"),
                "reason": e.reason,
                "actions": list(e.payload.get("actions") or ("void", "keep")),
            }
            for e in entries
            if e.kind is QuarantineKind.DEAL_UNWOUND
        ],
    }


def render(status: dict[str, Any]) -> str:
    """The status for a terminal."""
    daemon = status["daemon"]
    lines = [f"daemon    {daemon['state']} (pid {daemon['pid']}, target {daemon['target']})"]
    if "store" in status:
        store = status["store"]
        created = store["created_at"] or "unknown (made before cmsync recorded it)"
        lines.append(f"store     created {created}, schema revision {store['revision']}")
    if (health := status.get("store_health")) is not None:
        lines.append(
            f"store     unwritable: {health['reason']} (since {health['since']}, last said "
            f"{health['written_at']} by pid {health['pid']})"
        )
    for name, record in sorted(status.get("health", {}).items()):
        lines.append(render_health(name, record))
    for name, job in sorted(status["jobs"].items()):
        seconds = f"{job['seconds']:.1f}s" if job["seconds"] is not None else "-"
        lines.append(f"job       {name:<13} {job['result']:<8} {seconds:>7}  {job['started_at']}")
    for name, cursor in sorted(status["cursors"].items()):
        lag = cursor["newest_record_age_seconds"]
        newest = f"newest read {lag / 3600:.1f} h old" if lag is not None else ""
        lines.append(f"cursor    {name:<26} polled {cursor['updated_at']}  {newest}")
    outbox = status["outbox"]
    lines.append("outbox    " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in outbox.items()))
    for system, budget in status["budgets"].items():
        lines.append(
            f"budget    {system}: {budget['used']}/{budget['max']} used, cmsync's share "
            f"{budget['share']:.0%}"
        )
    problems = status["problems"]
    lines.append(
        f"problems  {problems['quarantined']} quarantined, {problems['dead_letters']} dead "
        f"letters, {problems['unmatched']} customers unmatched"
    )
    for group in status.get("problem_groups", ()):
        lines.extend(render_group(group))
    for letter in status.get("dead_letters", ()):
        reason = letter["reason"] or "no reason recorded"
        lines.append(f"dead      {letter['object']} {letter['key']}: {reason[:REASON_CHARS]}")
    for deal in status.get("unwound_deals", ()):
        lines.append(
            f"unwound   Opportunity {deal['opportunity']} ({deal['problem']}): invoice "
            f"{deal['invoice']}, {deal['amount']}: {' or '.join(deal['actions'])} it"
        )
    if "verdict" in status:
        lines.append(render_verdict(status["verdict"]))
    return "\n".join(lines)


def render_verdict(verdict: dict[str, Any]) -> str:
    """The verdict for a terminal: what ``cmsync status`` exits with, and why."""
    why = "; ".join(verdict["reasons"])
    return f"verdict   {verdict['verdict']} (exit {verdict['exit_code']})" + (
        f": {why}" if why else ""
    )


def render_health(name: str, record: dict[str, Any]) -> str:
    """One job's health for a terminal: up, or failing with its count and last error."""
    success = record["last_success_at"] or "never"
    if record["up"]:
        return f"health    {name:<15} up, last success {success}"
    error = (record["last_error"] or "no reason recorded")[:REASON_CHARS]
    return (
        f"health    {name:<15} FAILING x{record['consecutive_failures']} (last success "
        f"{success}), last error at {record['last_error_at']}: {error}"
    )


def render_group(group: dict[str, Any]) -> list[str]:
    """One problem group for a terminal: the cause, the records, the reason and the fix."""
    shown = ", ".join(f"{k} ({r})" for k, r in zip(group["keys"], group["records"], strict=True))
    more = group["count"] - len(group["keys"])
    return [
        f"cause     [{group['cause']}] {group['kind']}: {group['what']} x{group['count']}",
        f"  records {shown}" + (f" and {more} more" if more > 0 else ""),
        f"  reason  {(group['reason'] or 'no reason recorded')[:REASON_CHARS]}",
        f"  fix     {group['fix']}",
    ]
