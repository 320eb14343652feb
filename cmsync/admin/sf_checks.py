"""The doctor's Salesforce checks: log in, describe each object cmsync touches, check the
fallback owner, read /limits; and one note on how converted Leads are handled (through their
Contact).

Everything goes through the daemon's own ``SalesforceGateway`` (same login flow, same error
mapping), with a short retry policy so an unreachable org is reported in seconds. A refused
login or an unreachable server ends the Salesforce checks with one finding that says what to
fix; it is never a traceback.
"""

from __future__ import annotations

import asyncio
from typing import Any

from cmsync.admin.clock_checks import skew_finding
from cmsync.admin.findings import Finding
from cmsync.admin.needs import ObjectNeed, needs
from cmsync.admin.permissions import PERMISSION_SET
from cmsync.admin.sf_schema import AREA, compare, missing_object
from cmsync.admin.store_history import store_finding
from cmsync.config import SalesforceSettings, Settings
from cmsync.retry import QUICK_CHECKS
from cmsync.salesforce.audience import PRODUCTION_AUDIENCE, SANDBOX_AUDIENCE
from cmsync.salesforce.auth import jwt_audience
from cmsync.salesforce.budget import ApiBudget
from cmsync.salesforce.errors import (
    SalesforceAuthError,
    SalesforceError,
    SalesforcePermanentError,
    SessionExpiredError,
)
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.salesforce.users import find_user
from state.serverclock import ServerClock

__all__ = [
    "budget_finding",
    "check_object",
    "check_salesforce",
    "clock_finding",
    "converted_leads_finding",
    "owner_finding",
]

BUDGET_AREA = "Salesforce API budget"
QUICK = QUICK_CHECKS
SLOW_MARGIN = 0.05  # as ApiBudget: within 5% of the share, cmsync slows down

_LOGIN_FIXES = {
    "jwt": (
        "check salesforce.client_id (the External Client App's or Connected App's consumer "
        "key) and salesforce.username; the certificate uploaded to the app must match "
        "salesforce.private_key; the "
        "app's policy must be 'Admin approved users are pre-authorized' with the integration "
        "user's profile or permission set added; salesforce.login_url must be "
        "login.salesforce.com, test.salesforce.com (sandboxes) or the org's My Domain"
    ),
    "client_credentials": (
        "check salesforce.client_id and client_secret, that the connected app enables the "
        "client credentials flow with a Run As user, and that login_url is the org's My Domain"
    ),
    "password": (
        "check salesforce.client_id, client_secret, username, password and security_token, "
        "and that the org allows the username-password flow"
    ),
}


def _audience_refused(settings: SalesforceSettings, exc: SalesforceError) -> Finding:
    """``audience is invalid``: which ``aud`` was sent, where it came from, what to set.

    Salesforce accepts https://login.salesforce.com (production, Developer Edition) or
    https://test.salesforce.com (sandboxes), never the My Domain URL (Salesforce Help, "OAuth
    2.0 JWT Bearer Flow for Server-to-Server Integration").
    """
    sent = jwt_audience(settings)
    source = (
        "salesforce.jwt_audience"
        if settings.jwt_audience is not None
        else f"derived from salesforce.login_url {str(settings.login_url).rstrip('/')}"
    )
    other = {PRODUCTION_AUDIENCE: SANDBOX_AUDIENCE, SANDBOX_AUDIENCE: PRODUCTION_AUDIENCE}
    instead = other.get(sent, f"{PRODUCTION_AUDIENCE} or {SANDBOX_AUDIENCE}")
    return Finding.error(
        AREA,
        "login",
        f"{exc.api_message}: the JWT audience sent was {sent} ({source})",
        f'set salesforce.jwt_audience = "{instead}": a production or Developer Edition org '
        f"accepts {PRODUCTION_AUDIENCE}, a sandbox org {SANDBOX_AUDIENCE}, never the My Domain "
        "URL (login_url stays the My Domain)",
    )


def _login_failure(settings: SalesforceSettings, exc: SalesforceError) -> Finding:
    if (
        settings.auth_flow == "jwt"
        and isinstance(exc, SalesforceAuthError)
        and "audience is invalid" in exc.api_message
    ):
        return _audience_refused(settings, exc)
    if isinstance(exc, SalesforceAuthError | SessionExpiredError):
        return Finding.error(
            AREA,
            "login",
            f"{exc.api_message} (as {settings.username or settings.client_id})",
            _LOGIN_FIXES[settings.auth_flow],
        )
    return Finding.error(
        AREA,
        "login",
        f"cannot reach {settings.login_url}: {exc.api_message}",
        "check salesforce.login_url, the network path (proxy, firewall) and salesforce.ca_bundle",
    )


async def check_object(
    gateway: SalesforceGateway, need: ObjectNeed, *, kept: bool = False
) -> list[Finding]:
    """One object's describe against what cmsync needs of it (``cmsync run`` checks the
    field mapping with it too, see ``org_gate``); a login failure propagates. The doctor
    reads the org as it is now; ``kept``: the describe the gateway holds will do (the
    daemon's start, which reads it again for the field limits)."""
    try:
        body = await gateway.describe(need.name, fresh=not kept)
    except SalesforcePermanentError as exc:
        if exc.status == 404 or exc.code in ("NOT_FOUND", "INVALID_TYPE"):
            return [missing_object(need)]
        return [Finding.error(AREA, need.name, f"describe failed: {exc.api_message}")]
    return compare(need, body)


async def _describe_reporting(gateway: SalesforceGateway, need: ObjectNeed) -> list[Finding]:
    """``check_object``, with any failure (after login) reported as that object's finding."""
    try:
        return await check_object(gateway, need)
    except SalesforceError as exc:
        return [Finding.error(AREA, need.name, f"describe failed: {exc.api_message}")]


def converted_leads_finding(settings: Settings) -> Finding:
    """How converted Leads are handled: never written, enriched through their Contact.

    Salesforce refuses every update of a converted Lead (CANNOT_UPDATE_CONVERTED_LEAD,
    Salesforce Help article 000384333) unless the user has "View and Edit Converted Leads";
    cmsync does not depend on that permission either way, so this is information, not a check.
    """
    if not settings.enrichment.enabled:
        return Finding.ok(AREA, "converted Leads", "not read: enrichment.enabled = false")
    return Finding.ok(
        AREA,
        "converted Leads",
        "converted Leads are enriched through their Contact (ConvertedContactId) and never "
        "updated themselves, as Salesforce refuses that (CANNOT_UPDATE_CONVERTED_LEAD); if "
        "the integration user has 'View and Edit Converted Leads', nothing changes",
    )


def budget_finding(limits: dict[str, Any], share: float) -> Finding:
    """Headroom of cmsync's share of the daily API allocation (``/limits``)."""
    daily = limits.get("DailyApiRequests") or {}
    if "Max" not in daily or "Remaining" not in daily:
        return Finding.warning(BUDGET_AREA, "DailyApiRequests", "not reported by /limits")
    maximum, remaining = int(daily["Max"]), int(daily["Remaining"])
    used = maximum - remaining
    allowed = int(maximum * share)
    headroom = allowed - used
    status = (
        f"{used:,} of {maximum:,} calls used in the last 24 hours; cmsync may drive usage up to "
        f"{allowed:,} (sync.api_budget_share = {share:g})"
    )
    if headroom <= 0:
        return Finding.error(
            BUDGET_AREA,
            "DailyApiRequests",
            f"{status}: no headroom, cmsync would pause every write",
            "wait for the 24-hour window to free calls, raise sync.api_budget_share, or find "
            "what else spends the org's API calls (Setup > System Overview)",
        )
    if headroom < maximum * SLOW_MARGIN:
        return Finding.warning(
            BUDGET_AREA,
            "DailyApiRequests",
            f"{status}: {headroom:,} calls of headroom, cmsync would run slowed",
            "raise sync.api_budget_share or reduce other integrations' usage",
        )
    return Finding.ok(BUDGET_AREA, "DailyApiRequests", f"{status}: {headroom:,} of headroom")


def _no_view_setup() -> Finding:
    """/limits refused: cmsync works without it (the header), so a warning, with the fix."""
    return Finding.warning(
        BUDGET_AREA,
        "/limits",
        "refused (INSUFFICIENT_ACCESS): the integration user lacks the View Setup and "
        "Configuration permission; cmsync reads its API budget from the Sforce-Limit-Info "
        "header of every answer instead",
        f"assign the {PERMISSION_SET} permission set (from `cmsync salesforce metadata`, it "
        "grants View Setup and Configuration) to the integration user, or grant that "
        "permission another way",
    )


def _limits_from_header(budget: ApiBudget) -> dict[str, Any]:
    """The daily allocation as the ``Sforce-Limit-Info`` headers of the checks showed it."""
    snapshot = budget.snapshot()
    if snapshot.used is None or snapshot.max is None:
        return {}
    return {"DailyApiRequests": {"Max": snapshot.max, "Remaining": snapshot.max - snapshot.used}}


async def owner_finding(gateway: SalesforceGateway, value: str | None) -> Finding | None:
    """``sync.fallback_owner`` must name an active user, or inactive owners' Tasks and Cases go
    to the integration user instead; None when it is not set."""
    if not value:
        return None
    subject = "sync.fallback_owner"
    try:
        user = await find_user(gateway, value)
    except SalesforceError as exc:
        return Finding.error(AREA, subject, f"cannot look up {value!r}: {exc.api_message}")
    fix = (
        "set sync.fallback_owner to the Id (005...) or username of an active user who should "
        "get the churn-risk Tasks and Cases of deactivated owners, or unset it"
    )
    if user is None:
        return Finding.error(AREA, subject, f"{value!r} names no Salesforce user", fix)
    if not user.active:
        return Finding.error(
            AREA, subject, f"{value!r} ({user.id}) is an inactive user",
            "reactivate the user (Setup > Users) or " + fix.removeprefix("set "),
        )  # fmt: skip
    return Finding.ok(AREA, subject, f"{value!r} is active user {user.id}")


def clock_finding(settings: SalesforceSettings, clock: ServerClock) -> Finding | None:
    """This machine's clock against Salesforce's (the ``Date`` of the checks' answers)."""
    # Salesforce Help, "OAuth 2.0 JWT Bearer Flow for Server-to-Server Integration": the
    # assertion's exp must be within three minutes, judged by Salesforce's clock.
    jwt = "a JWT assertion signed with this clock (it expires within 3 minutes) can be refused"
    also = jwt if settings.auth_flow == "jwt" else None
    return skew_finding(AREA, "Salesforce", clock, also=also)


async def check_salesforce(settings: Settings) -> list[Finding]:
    """Login, every object's describe against cmsync's needs, the clock and the API budget."""
    sf = settings.salesforce
    clock = ServerClock()
    gateway = SalesforceGateway(
        sf, budget=ApiBudget(settings.sync.api_budget_share), policy=QUICK, max_workers=4,
        server_clock=clock,
    )  # fmt: skip
    try:
        objects = needs(settings)
        try:  # the first describe logs in: a refused login ends here
            first = await check_object(gateway, objects[0])
        except SalesforceError as exc:
            return [_login_failure(sf, exc)]
        except OSError as exc:  # requests refuses an unreadable CA bundle this way
            fix = "check salesforce.ca_bundle (a PEM file the cmsync user can read)"
            return [Finding.error(AREA, "login", f"cannot set up TLS: {exc}", fix)]
        who = sf.username or sf.client_id
        findings = [Finding.ok(AREA, "login", f"{sf.auth_flow} flow as {who} accepted")]
        skew = clock_finding(sf, clock)
        findings += [*([skew] if skew else []), *first]
        rest = await asyncio.gather(*(_describe_reporting(gateway, n) for n in objects[1:]))
        findings += [f for group in rest for f in group]
        findings.append(converted_leads_finding(settings))
        owner = await owner_finding(gateway, settings.sync.fallback_owner)
        if owner is not None:
            findings.append(owner)
        store = await store_finding(gateway, settings)  # a store older than the org's writes
        if store is not None:
            findings.append(store)
        try:
            limits = await gateway.refresh_limits()
        except SalesforceError as exc:
            findings.append(Finding.error(BUDGET_AREA, "/limits", f"failed: {exc.api_message}"))
        else:
            if gateway.limits_refused:
                findings.append(_no_view_setup())
                limits = _limits_from_header(gateway.budget)
            findings.append(budget_finding(limits, gateway.budget.share))
        return findings
    finally:
        await gateway.close()
