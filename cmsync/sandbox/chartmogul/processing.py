"""Processing delay: an import's effects become visible only after its data source's delay.

ChartMogul does not process imports instantly. Import API data is "reported within a few
minutes" (help.chartmogul.com, article 360002155580); billing sources driven by webhooks are
held about ten minutes, PayPal runs hours behind and the app stores a day. Until then the
customer's MRR, status and activities are what they were: the import answered 201, the
invoice is listed, but nothing it changes shows. A movement can therefore appear in the feed
after movements dated later were read (its date is the business date, not when it showed up).

Model: every rebuild of a customer's history (``history.rebuild``) is *computed* at once but
*held* until ``now + delay`` of the customer's data source, following the emulated clock (so
``POST /__sandbox/clock {"advance_seconds": N}`` releases it). ``settle`` (called before every
operation under the store's lock) swaps in each customer's newest due history, with fresh feed
positions and uuids, exactly as an immediate rebuild would. A delay of 0 (the default) changes
nothing: histories are swapped in as they are computed.

Seeded data goes in before any delay is set: the scenario's history was imported long before
the sandbox's "now", so it has been processed.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass
from itertools import count

from cmsync.sandbox.chartmogul.engine import History
from cmsync.sandbox.chartmogul.records import Customer, DataSource, Plan, Subscription

__all__ = ["Held", "Processing"]


@dataclass(frozen=True, slots=True)
class Held:
    """A computed history waiting for its data source's delay."""

    visible_at: int
    history: History[Plan]
    subscriptions: tuple[Subscription, ...]  # as the engine indexed them


class Processing:
    """Per-data-source delays (seconds) and the histories held by them."""

    def __init__(self, default_delay: int = 0) -> None:
        self.default_delay = default_delay
        self.delays: dict[str, int] = {}  # data source uuid -> seconds
        self._held: dict[str, list[Held]] = {}  # customer uuid -> oldest first
        self._customers: dict[str, Customer] = {}
        self._due: list[tuple[int, int, str]] = []  # (visible_at, tie, customer uuid)
        self._tie = count()

    def delay_for(self, source: DataSource) -> int:
        return max(0, self.delays.get(source.uuid, self.default_delay))

    def pending(self, source: DataSource | None = None) -> int:
        """Histories still held (for one data source, or all)."""
        return sum(
            len(held)
            for uuid, held in self._held.items()
            if source is None or self._customers[uuid].data_source is source
        )

    def hold(self, customer: Customer, held: Held) -> None:
        self._held.setdefault(customer.uuid, []).append(held)
        self._customers[customer.uuid] = customer
        heapq.heappush(self._due, (held.visible_at, next(self._tie), customer.uuid))

    def drop(self, customer: Customer) -> None:
        """Forget what is held for ``customer`` (a newer history replaced it at once)."""
        self._held.pop(customer.uuid, None)
        self._customers.pop(customer.uuid, None)

    def settle(self, now: int, release: Callable[[Customer, Held], None]) -> None:
        """Release, per customer, the newest held history that is due at ``now``."""
        while self._due and self._due[0][0] <= now:
            _, _, uuid = heapq.heappop(self._due)
            held = self._held.get(uuid)
            if not held or held[0].visible_at > now:
                continue  # released already with a later entry, or dropped
            due = [h for h in held if h.visible_at <= now]
            rest = [h for h in held if h.visible_at > now]
            customer = self._customers[uuid]
            if rest:
                self._held[uuid] = rest
            else:
                self.drop(customer)
            release(customer, due[-1])
