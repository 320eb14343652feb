"""The doctor's ChartMogul checks: the API key, the clock, the configured data source, the plans.

Through the daemon's own client (``cmsync.chartmogul.connect``) with a short retry policy.
A refused key or an unreachable API ends the checks with one finding saying what to fix.
"""

from __future__ import annotations

from cmsync.admin.clock_checks import skew_finding
from cmsync.admin.findings import Finding
from cmsync.chartmogul import (
    ChartMogulAuthError,
    ChartMogulClient,
    ChartMogulError,
    TransportPolicy,
    connect,
)
from cmsync.config import ChartMogulSettings
from cmsync.retry import QUICK_CHECKS
from state.serverclock import ServerClock

__all__ = ["check_chartmogul"]

AREA = "ChartMogul"
QUICK = TransportPolicy(retry=QUICK_CHECKS)
# Deals can be imported only into a source made for the Import API ("Import API" in older
# accounts), not into one a billing system (Stripe, Recurly...) feeds.
_IMPORTABLE = frozenset({"custom", "import api"})
_NEW_SOURCE = "create one in ChartMogul (Data Platform > Add a source > Custom/Import API)"


async def _data_source(client: ChartMogulClient, uuid: str | None) -> tuple[Finding, str | None]:
    """The data source finding, and the uuid to count plans in (None: the whole account)."""
    if uuid is None:
        return Finding.warning(
            AREA, "chartmogul.data_source_uuid", "not set: Closed-Won deals cannot be imported",
            f"set it to a custom data source's uuid, or {_NEW_SOURCE}",
        ), None  # fmt: skip
    sources = await client.data_sources()
    found = next((s for s in sources if s.uuid == uuid), None)
    if found is None:
        known = ", ".join(f"{s.uuid} ({s.name})" for s in sources) or "none"
        return Finding.error(
            AREA, uuid, f"data source not found in this account (it has: {known})",
            f"set chartmogul.data_source_uuid to one of them, or {_NEW_SOURCE}",
        ), None  # fmt: skip
    if (found.system or "custom").casefold() not in _IMPORTABLE:
        return Finding.warning(
            AREA, uuid, f"data source {found.name!r} is fed by {found.system}: imports into it "
            "are refused", f"use a custom data source instead; {_NEW_SOURCE}",
        ), uuid  # fmt: skip
    return Finding.ok(AREA, uuid, f"data source {found.name!r} ({found.system})"), uuid


async def _plans(client: ChartMogulClient, data_source_uuid: str | None) -> Finding:
    where = f"data source {data_source_uuid}" if data_source_uuid else "the account"
    async for page in client.plan_pages(data_source_uuid=data_source_uuid):
        count = f"{len(page.entries)}{'+' if page.has_more else ''}"
        if page.entries:
            return Finding.ok(AREA, "plans", f"{count} plan(s) in {where}")
        break
    return Finding.warning(
        AREA, "plans", f"no plans in {where}: Account plan fields stay empty until plans exist",
        "create the plans you sell in ChartMogul (or let imports create them)",
    )  # fmt: skip


def _key_refused(exc: ChartMogulAuthError) -> Finding:
    return Finding.error(
        AREA, "API key", f"refused: {exc.api_message}",
        "check chartmogul.api_key (or api_key_file): a Read & Write key from ChartMogul "
        "> Profile > API keys",
    )  # fmt: skip


async def check_chartmogul(settings: ChartMogulSettings) -> list[Finding]:
    """The API key, the configured data source, and whether plans exist."""
    try:
        return await _check(settings)
    except OSError as exc:  # an unreadable ca_bundle, before any request is made
        fix = "check chartmogul.ca_bundle (a PEM file the cmsync user can read)"
        return [Finding.error(AREA, "TLS", f"cannot set up TLS: {exc}", fix)]


async def _check(settings: ChartMogulSettings) -> list[Finding]:
    clock = ServerClock()
    async with connect(settings, QUICK, server_clock=clock) as client:
        try:
            pong = await client.ping()
        except ChartMogulAuthError as exc:
            return [_key_refused(exc)]
        except ChartMogulError as exc:
            unreachable = f"cannot reach {settings.base_url}: {exc.api_message}"
            fix = "check chartmogul.base_url, the network path and chartmogul.ca_bundle"
            return [Finding.error(AREA, "ping", unreachable, fix)]
        if not pong:
            return [Finding.error(AREA, "ping", f"{settings.base_url} is not the ChartMogul API")]
        findings = [Finding.ok(AREA, "ping", f"API key accepted by {settings.base_url}")]
        skew = skew_finding(AREA, "ChartMogul", clock)
        findings += [skew] if skew else []
        try:
            source, plans_in = await _data_source(client, settings.data_source_uuid)
            findings += [source, await _plans(client, plans_in)]
        except ChartMogulAuthError as exc:  # a read-only or restricted key
            findings.append(_key_refused(exc))
        except ChartMogulError as exc:
            findings.append(Finding.error(AREA, exc.path or "API", f"failed: {exc.api_message}"))
        return findings
