"""Alerts out: a JSON POST to an incoming webhook when a condition starts and when it clears.

Nothing calls in: the daemon posts to the URL in ``alerts.webhook_url`` (a secret, given as
``webhook_url_file`` or in the environment, never logged). The body is ``{"text": "..."}``,
the body of Slack's incoming webhooks (Slack API docs, "Sending messages using incoming
webhooks": a POST of a JSON payload whose ``text`` is the message), which any endpoint taking
a JSON POST reads as well (a Microsoft Teams workflow needs a step that posts the body's
``text``: Teams' Workflows post Adaptive Cards only, per Microsoft Learn's "Create and send
messages"). No Authorization header: such a URL carries its own secret.

Each check (every ``alerts.check_every`` seconds) reads the store, observes the conditions
(``state.alerting.observe``: a job failing ``failures_in_a_row`` runs in a row, new dead
letters, new quarantined records, an API budget past ``budget_threshold`` by the rule of
``cmsync status``, another daemon's beat on this store) and decides the messages against the
alerts already sent (``state.alerting.decide``). A message is recorded in the store only once
its POST succeeded (a 2xx answer), in the same order it was sent: a POST refused, timed out or
unreachable is logged and decided again at the next check, and never stops the daemon.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from typing import Any

import aiohttp

from cmsync.config import AlertSettings
from cmsync.storeio import in_store
from state import Store, Transaction
from state.alerting import Kind, Message, decide, observe
from state.records import Heartbeat

__all__ = ["AlertSender"]

log = logging.getLogger("cmsync.alerts")


def _body(target: str, message: Message) -> dict[str, Any]:
    head = "cmsync alert" if message.kind is Kind.RAISED else "cmsync resolved"
    return {"text": f"{head} ({target}, pid {os.getpid()}): {message.text}"}


class AlertSender:
    """Checks and posts; ``other`` says which foreign beat the daemon last met (or None)."""

    def __init__(
        self,
        settings: AlertSettings,
        *,
        target: str,
        other: Callable[[], Heartbeat | None] = lambda: None,
    ) -> None:
        assert settings.webhook_url is not None
        self.settings = settings
        self.target = target
        self.other = other
        self._url = settings.webhook_url.get_secret_value()
        self._session: aiohttp.ClientSession | None = None
        self.posted = 0  # messages the webhook accepted, in this process
        self.checks = 0  # checks completed, in this process

    def _decide(self, tx: Transaction) -> list[Message]:
        q = tx.queries
        counts = q.outbox_counts()
        conditions = observe(
            health=q.job_health(),
            failures_in_a_row=self.settings.failures_in_a_row,
            dead_letters=counts.dead,
            newest_dead_letter=q.newest_id("dead"),
            quarantined=q.quarantine_count(),
            newest_quarantined=q.newest_id("quarantine"),
            budgets=q.budgets(),
            budget_threshold=self.settings.budget_threshold,
            other=self.other(),
        )
        return decide(conditions, tx.daemon.alerts_sent())

    async def check(self, store: Store) -> int:
        """One check: the messages due posted and recorded; how many went out."""
        messages = await in_store(store, self._decide)
        sent = 0
        for message in messages:
            if not await self._post(message):
                break  # in order: the rest waits for the next check with this one
            await in_store(store, functools.partial(_record, message=message))
            sent += 1
        self.checks += 1
        return sent

    async def _post(self, message: Message) -> bool:
        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=self.settings.timeout_seconds)
            self._session = aiohttp.ClientSession(timeout=timeout)
        try:
            async with self._session.post(self._url, json=_body(self.target, message)) as answer:
                if 200 <= answer.status < 300:
                    self.posted += 1
                    return True
                reason = f"answered {answer.status} {answer.reason or ''}".strip()
        except (aiohttp.ClientError, TimeoutError) as exc:
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            reason = reason.replace(self._url, "<webhook>")  # the URL is the secret
        log.warning(
            "alerts: posting the %s message for %s failed (%s); trying again at the next check",
            message.kind.value, message.key, reason,
        )  # fmt: skip
        return False

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _record(tx: Transaction, message: Message) -> None:
    if message.kind is Kind.RAISED:
        tx.daemon.alert_sent(message.sent)
    else:
        tx.daemon.alert_cleared(message.key)
