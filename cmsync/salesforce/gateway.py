"""The one funnel to Salesforce: simple-salesforce in worker threads, behind cmsync's errors.

simple-salesforce is synchronous, so every call runs on a small thread pool (bounded: the event
loop never blocks and Salesforce never sees more than ``max_workers`` calls at once). Each call
goes through ``call``, which

- logs in with the project's own OAuth flow (``auth.fetch_token``) on first use and hands the
  token to simple-salesforce (``session_id`` + ``instance_url`` + a CA-trusting session);
- on ``INVALID_SESSION_ID`` gets a new token once and repeats the call once;
- turns every simple-salesforce or requests exception into a cmsync error class, here only;
- feeds ``Sforce-Limit-Info`` into the ``ApiBudget`` and counts cmsync's own calls;
- feeds every answer's ``Date`` into ``server_clock`` (a response hook on the HTTP session, as
  simple-salesforce keeps only ``Sforce-Limit-Info`` of the headers), so windows can end at
  Salesforce's "now" rather than a skewed local clock's;
- retries transient failures with backoff and jitter (idempotent calls only: reads, updates and
  upserts on an External ID; a plain create whose answer was lost is never repeated);
- once a login has succeeded, backs off a refused one (``auth_gate``): until the backoff
  allows, every call raises ``AuthFailingError`` without a request, and one warning names the
  credential to fix (``cmsync.authgate``). A refused first login stays the caller's error.

It also keeps each sObject's describe for the process (``describe``): the daemon's start
needs the mapped objects' describes twice, for the mapping gate (``admin.org_gate``) and for
the field limits writes are fitted to (``field_limits.read_limits``), and the dry run's
preview a third time; one request per object serves them all. Those callers read the org as
it was at the start, which is what they are about (a field the operator adds later is taken
up at the next start, as before). Whoever must see the org as it is now (the doctor, whose
answer is the operator's check after a change) asks with ``fresh=True``, which also renews
the kept one; ``forget_describes`` drops them all.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceError as SimpleSalesforceError

from cmsync.authgate import CredentialGate
from cmsync.config import SalesforceSettings
from cmsync.retry import SALESFORCE_REQUESTS, RetryPolicy, retrying
from cmsync.salesforce.auth import Token, fetch_token, new_http_session
from cmsync.salesforce.budget import ApiBudget
from cmsync.salesforce.credentials import credential_advice
from cmsync.salesforce.errors import (
    TRANSIENT_CODES,
    BudgetExhaustedError,
    SalesforceAuthError,
    SalesforceError,
    SalesforcePermanentError,
    SalesforceRetriableError,
    SessionExpiredError,
    error_summary,
)
from state.authgate import AuthBackoff
from state.serverclock import ServerClock

__all__ = ["SalesforceGateway", "limits_refused", "map_error"]

log = logging.getLogger("cmsync.salesforce")
T = TypeVar("T")


def map_error(exc: BaseException) -> SalesforceError:
    """The cmsync error for anything simple-salesforce or requests raised."""
    if isinstance(exc, SalesforceError):
        return exc
    if isinstance(exc, SimpleSalesforceError):
        message, code = error_summary(exc.content)
        status = exc.status
        if status == 401:
            return SessionExpiredError(message, status=status, code=code)
        if code == "REQUEST_LIMIT_EXCEEDED":
            return BudgetExhaustedError(message, status=status, code=code)
        if status == 403:
            return SalesforceAuthError(message, status=status, code=code)
        if status >= 500 or code in TRANSIENT_CODES:
            return SalesforceRetriableError(message, status=status, code=code)
        return SalesforcePermanentError(message, status=status, code=code)
    if isinstance(exc, requests.Timeout):
        return SalesforceRetriableError("timed out")
    if isinstance(exc, requests.RequestException):
        return SalesforceRetriableError(f"connection failed ({type(exc).__name__})")
    if isinstance(exc, ValueError):  # an answer that is not the JSON it should be
        return SalesforceRetriableError(f"unreadable answer: {exc}")
    raise exc


def limits_refused(error: SalesforceError) -> bool:
    """``/limits`` refused because the user lacks "View Setup and Configuration".

    REST API Developer Guide, "Limits": the resource needs that permission; without it the
    answer is 403 INSUFFICIENT_ACCESS. The budget does not need it: ``Sforce-Limit-Info`` is
    on every answer (REST API Developer Guide, "Limit Info Header").
    """
    return (
        isinstance(error, SalesforceAuthError)
        and error.status == 403
        and error.code == "INSUFFICIENT_ACCESS"
    )


class SalesforceGateway:
    """Salesforce calls for the daemon; one instance per process."""

    def __init__(
        self,
        settings: SalesforceSettings,
        *,
        budget: ApiBudget | None = None,
        max_workers: int = 4,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        server_clock: ServerClock | None = None,
        auth_backoff: AuthBackoff | None = None,
    ) -> None:
        self.settings = settings
        self.auth_gate = CredentialGate("Salesforce", auth_backoff)
        self.server_clock = server_clock or ServerClock()
        self.budget = budget or ApiBudget()
        self.policy = policy or SALESFORCE_REQUESTS
        self._sleep = sleep
        self._executor = ThreadPoolExecutor(max_workers, thread_name_prefix="salesforce")
        self._http = new_http_session(settings)
        self._http.hooks["response"].append(self._observe_date)
        self._client: Salesforce | None = None
        self._renew_lock = threading.Lock()
        self.logins = 0
        self.limits_refused = False  # /limits answered 403: the budget comes from headers
        self._described: dict[str, Mapping[str, Any]] = {}  # sObject (casefolded) -> describe

    def __repr__(self) -> str:
        return f"SalesforceGateway({str(self.settings.login_url)!r})"

    async def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._http.close()

    def _observe_date(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """A requests response hook: every answer's ``Date``, login and errors included."""
        self.server_clock.observe(response.headers.get("Date"))

    # --- the funnel ---------------------------------------------------------------------

    async def call(self, fn: Callable[[Salesforce], T], *, idempotent: bool = True) -> T:
        """Run ``fn(client)`` in a worker thread with renewal, error mapping and retries."""

        def should_retry(exc: BaseException) -> bool:
            return (
                idempotent
                and isinstance(exc, SalesforceRetriableError)
                and not isinstance(exc, BudgetExhaustedError)
            )

        loop = asyncio.get_running_loop()
        what = getattr(fn, "__name__", "call")
        async for attempt in retrying(
            self.policy, should_retry, sleep=self._sleep, logger=log, what=f"Salesforce {what}"
        ):
            with attempt:
                return await loop.run_in_executor(self._executor, self._call_sync, fn)
        raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover

    def _call_sync(self, fn: Callable[[Salesforce], T]) -> T:
        client = self._current_client()
        try:
            return self._attempt(client, fn)
        except SessionExpiredError:
            log.info("Salesforce session expired; logging in again")
            client = self._renew(client)
            return self._attempt(client, fn)

    def _attempt(self, client: Salesforce, fn: Callable[[Salesforce], T]) -> T:
        self.budget.count_call()
        try:
            result = fn(client)
        except Exception as exc:
            error = map_error(exc)
            if isinstance(error, BudgetExhaustedError):
                self.budget.mark_exhausted()
            raise error from None
        usage = client.api_usage.get("api-usage")
        if usage is not None:
            self.budget.observe(usage.used, usage.total)
        return result

    def _current_client(self) -> Salesforce:
        with self._renew_lock:
            if self._client is None:
                self._client = self._login()
            return self._client

    def _renew(self, stale: Salesforce) -> Salesforce:
        with self._renew_lock:
            # Another thread may have renewed already; or a login failed since (None).
            if self._client is stale or self._client is None:
                self._client = self._login()
            return self._client

    def _login(self) -> Salesforce:
        """A new session (under ``_renew_lock``); a refused one drops the old session, so
        the next attempt, when the gate allows it, starts with a login."""
        self.auth_gate.check()
        try:
            token: Token = fetch_token(self.settings, self._http)
        except SalesforceAuthError as exc:
            self._client = None
            advice = credential_advice(self.settings, exc.code, exc.api_message)
            held = self.auth_gate.refused(exc.api_message, check=advice.check, fix=advice.fix)
            if held is None:
                raise
            raise held from None
        except BaseException:
            self.auth_gate.released()
            raise
        self.auth_gate.accepted()
        self.logins += 1
        return Salesforce(
            instance_url=token.instance_url,
            session_id=token.access_token.get_secret_value(),
            version=self.settings.api_version,
            session=self._http,
        )

    # --- conveniences -------------------------------------------------------------------

    async def query(self, soql: str, *, include_deleted: bool = False) -> dict[str, Any]:
        """The first page of a query: ``records``, ``done``, ``nextRecordsUrl``, ``totalSize``."""
        result: dict[str, Any] = await self.call(
            lambda sf: sf.query(soql, include_deleted=include_deleted)
        )
        return result

    async def query_more(self, next_records_url: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call(
            lambda sf: sf.query_more(next_records_url, identifier_is_url=True)
        )
        return result

    async def query_pages(
        self, soql: str, *, include_deleted: bool = False
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Every page of records of a query, one page in memory at a time."""
        page = await self.query(soql, include_deleted=include_deleted)
        while True:
            yield list(page.get("records", []))
            next_url = page.get("nextRecordsUrl")
            if page.get("done", True) or not next_url:
                return
            page = await self.query_more(next_url)

    async def restful(
        self,
        path: str,
        *,
        method: str = "GET",
        json: Any = None,
        params: dict[str, Any] | None = None,
        idempotent: bool = True,
    ) -> Any:
        """A REST call below ``/services/data/vNN.N/`` (e.g. ``composite/sobjects``)."""
        return await self.call(
            lambda sf: sf.restful(path, params=params, method=method, json=json),
            idempotent=idempotent,
        )

    async def describe(self, sobject: str, *, fresh: bool = False) -> Mapping[str, Any]:
        """``sobjects/{sobject}/describe/`` (``sobject`` a checked name), kept for the process
        after the first answer (see the module's doc for who may read the kept one); with
        ``fresh``, asked again and kept anew. Failures are not kept. The answer is shared:
        read it, never change it."""
        key = sobject.casefold()
        kept = None if fresh else self._described.get(key)
        if kept is None:
            kept = await self.restful(f"sobjects/{sobject}/describe/")
            assert isinstance(kept, Mapping)
            self._described[key] = kept
        return kept

    def forget_describes(self) -> None:
        """Drop every kept describe: the next ``describe`` of each object asks Salesforce."""
        self._described.clear()

    async def refresh_limits(self) -> dict[str, Any]:
        """``/limits``; also clears an exhausted budget once Salesforce answers again.

        An integration user without "View Setup and Configuration" is refused ``/limits``;
        that is no failure (``{}`` comes back): the ``Sforce-Limit-Info`` header of every
        other answer keeps the budget, which is said once per process.
        """
        try:
            limits: dict[str, Any] = await self.call(lambda sf: sf.limits())
        except SalesforceAuthError as exc:
            if not limits_refused(exc):
                raise
            if not self.limits_refused:
                log.warning(
                    "Salesforce refused /limits (%s): the integration user lacks View Setup "
                    "and Configuration; the API budget comes from the Sforce-Limit-Info header "
                    "of every answer instead",
                    exc.api_message,
                )
            self.limits_refused = True
            return {}
        daily = limits.get("DailyApiRequests", {})
        if "Max" in daily and "Remaining" in daily:
            self.budget.observe(int(daily["Max"]) - int(daily["Remaining"]), int(daily["Max"]))
        return limits
