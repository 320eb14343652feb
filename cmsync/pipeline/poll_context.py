"""What every poller is handed: the store, both clients, the settings and the pass's org.

The pollers (``streams``, the Closed-Won poll, reconciliation) each need the same handful of
things: the store to commit to, the ChartMogul client (and the Salesforce gateway for the ones
reading Salesforce), the org read at the start of the pass (``SyncContext``), the translator
from effects to outbox rows, the lifecycle policy and whether the pass is a dry run. One
frozen value carries them, built by ``SyncPass`` for each step from the context it holds then,
so a poller's own arguments are only what is its own (the moment its window ends, its
lookback, a listing to fill). The moment is not part of it: each poller takes its own
service's "now" just before its first request. The step's progress meter rides along.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from cmsync.chartmogul.client import ChartMogulClient
from cmsync.config import Settings
from cmsync.pipeline.accounts import policy_from
from cmsync.pipeline.context import SyncContext
from cmsync.pipeline.translate import Translator
from cmsync.progress import NO_METER, Meter
from cmsync.salesforce.gateway import SalesforceGateway
from state import Store
from state.lifecycle import LifecyclePolicy

__all__ = ["PollContext"]


@dataclass(frozen=True)
class PollContext:
    """The arguments every poller shares, for one step of one pass."""

    settings: Settings
    store: Store
    chartmogul: ChartMogulClient
    gateway: SalesforceGateway
    context: SyncContext
    translator: Translator
    dry_run: bool = False
    # The step's meter: what a poller has read so far, for the operator (``cmsync.progress``).
    progress: Meter = field(default=NO_METER, compare=False)

    @cached_property
    def policy(self) -> LifecyclePolicy:
        """The lifecycle machine's policy, from ``settings.sync`` (made once per value)."""
        return policy_from(self.settings.sync)
