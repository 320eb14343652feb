"""Benchmark 6, onboarding: a company's first ``cmsync once``, every step, from an empty store.

The sandbox is seeded with the default scenario (``cmsync sandbox --accounts N --seed 21``:
per 20,000 Accounts about 40,000 Contacts, 1,750 converted Leads and 1,500 Closed-Won deals
not yet in ChartMogul) and a cmsync subprocess runs the steps of ``cmsync once`` in order
(``SyncPass``'s ``STEPS``, Closed-Won and enrichment on) over an empty store, each timed
(wall and CPU), as ``bench.drive pass`` does for the catch-up.

The floors are computed from the seeded world, not from what cmsync did:

- ChartMogul: every listing the pass reads, a page per 200 records (the customers twice: the
  sweep and the reconciliation; activities, invoices, plans; the metrics per reported
  period), plus the writes no batching avoids: one customer create per Account of a deal to
  import that has no ChartMogul customer cmsync can find (the seed's ground truth,
  ``scenario.json``), and one invoice import per deal to import;
- Salesforce: the query pages of what the pass must read (every Account, for matching and
  again for the reconciliation; every Contact email; the won deals not yet imported, then the
  imported ones, watched for unwinding; the Contacts and converted Leads in the enrichment
  window; the people carrying a customer UUID, for the reconciliation; the fallback owner),
  2,000 rows a page (the default batch size, REST API Developer Guide, "Query Options
  Header"), plus ceil(records / 200) sObject Collections calls per object written (the
  records the integration user wrote during the pass, counted in the emulator).
  Authentication, describe and limits calls are shown but not counted: a fixed few whatever
  the org's size;
- time: the ChartMogul floor at the client's rate limit (``TransportPolicy.max_rate``, 30
  requests a second). The Salesforce gateway has no per-second pace (the daily API budget
  only slows it near the org's allocation), so its calls add nothing to the time floor.

Targets: the pass within 1.5x the time floor, ChartMogul requests within 1.2x their floor,
Salesforce calls within 1.1x theirs, peak RSS under 250 MB.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.harness import Report, SandboxHost, drive
from cmsync.chartmogul.transport import TransportPolicy
from cmsync.config import load_settings
from cmsync.pipeline.sync_pass import STEPS
from cmsync.sandbox.runner import RunningSandbox
from cmsync.sandbox.salesforce.records import Record
from cmsync.sandbox.scenario.model import LinkKind

__all__ = ["LIMIT_MB", "SEED", "World", "run"]

SEED = 21
LIMIT_MB = 250.0
TIME_FACTOR = 1.5
CHARTMOGUL_FACTOR = 1.2
SALESFORCE_FACTOR = 1.1
CM_PAGE = 200  # ChartMogul's largest per_page
SF_QUERY_PAGE = 2000  # rows a query page holds by default
SF_COLLECTION = 200  # records an sObject Collections call takes


_FOUND = frozenset({LinkKind.LINKED, LinkKind.EXTERNAL_ID, LinkKind.CONTACT_EMAIL, LinkKind.DOMAIN})


def _pages(records: int, size: int) -> int:
    return max(1, math.ceil(records / size))


def _day(value: object) -> date | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC).date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value:
        return date.fromisoformat(value[:10])
    return None


class World:
    """What a seeded sandbox holds that the floors are computed from, read before the pass."""

    def __init__(
        self, sandbox: RunningSandbox, *, closed_won_days: int, enrichment_days: int
    ) -> None:
        today = datetime.now(UTC).date()
        self.deal_start = today - timedelta(days=closed_won_days)
        self.person_start = today - timedelta(days=enrichment_days)
        sf = sandbox.salesforce.store
        cm = sandbox.chartmogul.store
        with cm.lock:
            self.cm_listings = {
                "customers": len(cm.registry.customers),
                "activities": len(cm.registry.feed),
                "invoices": len(cm.registry.invoices),
                "plans": len(cm.registry.plans),
            }
        # The seed's ground truth: the Accounts it gave a ChartMogul customer that can be
        # found (customer UUID, external id, a Contact's email, the website's domain). A
        # customer with no email, a free-mail one, or one whose email two Accounts' Contacts
        # share is no Account's for certain: a deal of its Account makes a new customer.
        truth = json.loads((sandbox.options.directory / "scenario.json").read_text())
        ids = {key: plan["id"] for key, plan in truth["accounts"].items()}
        owned = [
            (ids[c["account"]], c["link"]) for c in truth["customers"].values() if c.get("account")
        ]
        known = {account for account, link in owned if link in _FOUND}
        with sf.lock:
            accounts = {r.id: r for r in self._rows(sf.tables["Account"])}
            contacts = list(self._rows(sf.tables["Contact"]))
            leads = list(self._rows(sf.tables["Lead"]))
            deals = [
                r
                for r in self._rows(sf.tables["Opportunity"])
                if r.get("IsWon") and not r.get("CM_Sync_Key__c")
            ]
        self.accounts = len(accounts)
        self.contacts = len(contacts)
        self.emails = sum(1 for c in contacts if c.get("Email") and c.get("AccountId"))
        self.won_unsynced = len(deals)
        self.new_contacts = sum(
            1 for c in contacts if (d := _day(c.get("CreatedDate"))) and d >= self.person_start
        )
        self.converted_leads = sum(
            1
            for lead in leads
            if lead.get("IsConverted")
            and lead.get("ConvertedContactId")
            and (d := _day(lead.get("ConvertedDate"))) is not None
            and d >= self.person_start
        )
        # The deals a first pass imports: won within the backfill window, with an Account
        # and a positive Amount, whose Account has no ChartMogul customer (a deal of an
        # Account with a customer is that customer's billing, already in ChartMogul).
        to_import = [
            deal
            for deal in deals
            if (d := _day(deal.get("CloseDate"))) is not None
            and d >= self.deal_start
            and isinstance(amount := deal.get("Amount"), int | float)
            and amount > 0
            and (account := accounts.get(str(deal.get("AccountId")))) is not None
            and account.id not in known
        ]
        self.deals_to_import = len(to_import)
        self.customers_to_create = len({deal.get("AccountId") for deal in to_import})

    @staticmethod
    def _rows(table: Iterable[Record]) -> Iterable[Record]:
        return (r for r in table if not r.deleted)

    def chartmogul_reads(self, report_periods: int) -> dict[str, int]:
        pages = {name: _pages(n, CM_PAGE) for name, n in self.cm_listings.items()}
        pages["customers"] *= 2  # the sweep, then the reconciliation
        pages["metrics"] = 2 * report_periods  # all and mrr, per period
        return pages

    def salesforce_queries(
        self, written: dict[str, int], *, imported: bool, fallback_owner: bool
    ) -> dict[str, int]:
        """Query pages of every read a first pass needs; ``written``: the records the pass
        wrote (the reconciliation reads back the people it enriched)."""
        pages = {
            "Account (context, reconciliation)": 2 * _pages(self.accounts, SF_QUERY_PAGE),
            "Contact emails": _pages(self.emails, SF_QUERY_PAGE),
            "Opportunity won, not imported": _pages(self.won_unsynced, SF_QUERY_PAGE),
            "Contact new": _pages(self.new_contacts, SF_QUERY_PAGE),
            "Lead converted": _pages(self.converted_leads, SF_QUERY_PAGE),
            # The reconciliation's people: Contacts and open Leads carrying a customer UUID.
            "Contact, Lead enriched": _pages(written.get("Contact", 0), SF_QUERY_PAGE) + 1,
        }
        if imported:  # the imported deals, watched for unwinding from the first import on
            pages["Opportunity imported"] = 1
        if fallback_owner:
            pages["User (fallback owner)"] = 1
        return pages


def _is_query(endpoint: str) -> bool:
    return "/query" in endpoint


def _is_collection(endpoint: str) -> bool:
    return "/composite/sobjects" in endpoint


def _step(result: dict[str, Any], name: str) -> dict[str, Any]:
    return next((s["outcome"] or {} for s in result["steps"] if s["name"] == name), {})


def run(quick: bool, work: Path, accounts: int | None = None) -> Report:
    accounts = accounts or (2_000 if quick else 20_000)
    report = Report("onboarding", f"the first cmsync once over {accounts:,} Accounts "
                    f"(seed {SEED}), from an empty store", quick)  # fmt: skip
    with SandboxHost(work / "sandbox", accounts=accounts, seed=SEED) as host:
        settings = load_settings(host.config)
        world = World(
            host.sandbox,
            closed_won_days=settings.closed_won.backfill_days,
            enrichment_days=settings.enrichment.backfill_days,
        )
        host.reset_stats()
        since = datetime.now(UTC)
        args = ["pass", "--config", str(host.config), "--steps", ",".join(STEPS)]
        result = drive(args, work / "drive.log")
        cm_requests, sf_requests = host.requests()
        written = host.written_since(since)
        seed_seconds = host.seed_seconds
    failed = [s["name"] for s in result["steps"] if not s["ok"]]
    if failed:
        report.notes.append(f"steps failed: {failed}; see {work / 'drive.log'}")

    report.add("Accounts, Contacts (with an email)",
               f"{world.accounts:,}, {world.contacts:,} ({world.emails:,})")  # fmt: skip
    report.add("converted Leads in the window", f"{world.converted_leads:,}")
    report.add("deals to import (customers to create)",
               f"{world.deals_to_import:,} ({world.customers_to_create:,})")  # fmt: skip
    for step in result["steps"]:
        report.add(f"step {step['name']} (CPU {step['cpu_seconds']:.1f} s)",
                   f"{step['seconds']:.1f} s")  # fmt: skip

    periods = len(_step(result, "reports").get("periods", []))
    cm_reads = world.chartmogul_reads(periods)
    cm_floor = sum(cm_reads.values()) + world.customers_to_create + world.deals_to_import
    cm_total = sum(cm_requests.values())
    rate = TransportPolicy().max_rate
    time_floor = cm_floor / rate
    wall = sum(s["seconds"] for s in result["steps"])
    report.add(f"time floor: the ChartMogul floor at {rate:.0f} requests/s",
               f"{time_floor:.1f} s")  # fmt: skip
    report.add("pass / time floor", f"{wall:.1f} / {time_floor:.1f} s = {wall / time_floor:.2f}x",
               f"<= {TIME_FACTOR}x", wall <= TIME_FACTOR * time_floor)  # fmt: skip
    report.add("ChartMogul floor", f"{cm_floor:,}")
    for name, n in cm_reads.items():
        report.add(f"  listing pages: {name}", f"{n:,}")
    report.add("  customer creates", f"{world.customers_to_create:,}")
    report.add("  invoice imports", f"{world.deals_to_import:,}")
    report.add("ChartMogul requests / floor",
               f"{cm_total:,} = {cm_total / cm_floor:.2f}x", f"<= {CHARTMOGUL_FACTOR}x",
               cm_total <= CHARTMOGUL_FACTOR * cm_floor)  # fmt: skip
    for endpoint, n in cm_requests.most_common(6):
        report.add(f"  {endpoint}", f"{n:,}")

    sf_queries = world.salesforce_queries(
        written, imported=world.deals_to_import > 0,
        fallback_owner=bool(settings.sync.fallback_owner),
    )  # fmt: skip
    sf_writes = {name: _pages(n, SF_COLLECTION) for name, n in sorted(written.items())}
    sf_floor = sum(sf_queries.values()) + sum(sf_writes.values())
    queries = sum(n for e, n in sf_requests.items() if _is_query(e))
    collections = sum(n for e, n in sf_requests.items() if _is_collection(e))
    fixed = sum(sf_requests.values()) - queries - collections
    report.add("Salesforce floor", f"{sf_floor:,}")
    for name, n in sf_queries.items():
        report.add(f"  query pages: {name}", f"{n:,}")
    for name, n in sf_writes.items():
        report.add(f"  collections: {name} ({written[name]:,} records)", f"{n:,}")
    report.add("Salesforce query + collections calls / floor",
               f"{queries:,} + {collections:,} = {(queries + collections) / sf_floor:.2f}x",
               f"<= {SALESFORCE_FACTOR}x",
               queries + collections <= SALESFORCE_FACTOR * sf_floor)  # fmt: skip
    report.add("  other calls (auth, describe, limits), not counted", f"{fixed:,}")

    peak = float(result["max_rss_mb"])
    report.add("peak RSS of the pass (VmHWM)", f"{peak:.0f} MB", f"< {LIMIT_MB:.0f} MB",
               peak < LIMIT_MB and not failed)  # fmt: skip
    report.add("cmsync CPU time / wall time",
               f"{result['cpu_seconds']:.0f} / {result['seconds']:.0f} s")  # fmt: skip
    closed_won = _step(result, "closed_won")
    if closed_won and closed_won.get("imported") != world.deals_to_import:
        report.notes.append(
            f"cmsync imported {closed_won.get('imported')} deals and created "
            f"{closed_won.get('customers_created')} customers; the world counts "
            f"{world.deals_to_import} and {world.customers_to_create}"
        )
    report.figures = {
        "accounts": accounts,
        "seed": SEED,
        "sandbox_seed_seconds": round(seed_seconds, 1),
        "world": {k: v for k, v in vars(world).items() if isinstance(v, int | dict)},
        "pass_seconds": wall,
        "time_floor_seconds": time_floor,
        "chartmogul_floor": cm_floor,
        "chartmogul_requests": dict(cm_requests),
        "salesforce_floor": sf_floor,
        "salesforce_query_floor": sf_queries,
        "salesforce_collections_floor": sf_writes,
        "salesforce_records_written": written,
        "salesforce_requests": dict(sf_requests),
        "steps": [
            [
                s["name"],
                round(s["seconds"], 2),
                round(s["cpu_seconds"], 2),
                round(s["max_rss_mb_after"], 1),
                s["detail"],
            ]
            for s in result["steps"]
        ],
        "cpu_seconds": result["cpu_seconds"],
        "max_rss_mb": peak,
    }
    return report
