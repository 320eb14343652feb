"""The emulator's state and operations behind one lock; also the scenario seeder's target.

``Store`` implements ``ChartMogulSeedTarget`` (``cmsync.sandbox.scenario.seed``) with the very
operations the REST handlers call, so seeded data passes the same validation a client's would,
and answers the same wire dicts. A validation failure raises ``ApiError`` carrying the real
status and body.

Handlers run on the sandbox's event loop while tests or the runner may seed from another
thread, so the seeding methods and every HTTP handler go through ``run``, which holds ``lock``
(re-entrant; operations are short and never await). Code calling the resource objects
(``store.customers``, ``store.invoices``, ...) directly while the sandbox serves should do the
same.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

from cmsync.sandbox.chartmogul.activities import list_activities
from cmsync.sandbox.chartmogul.customers import Customers
from cmsync.sandbox.chartmogul.history import revalue, settle
from cmsync.sandbox.chartmogul.inject import Injected
from cmsync.sandbox.chartmogul.invoices import Invoices
from cmsync.sandbox.chartmogul.metrics import metrics_report
from cmsync.sandbox.chartmogul.registry import Registry
from cmsync.sandbox.chartmogul.sources import Sources
from cmsync.sandbox.chartmogul.subscriptions import Subscriptions
from cmsync.sandbox.chartmogul.views import ACCOUNT
from cmsync.sandbox.clock import SandboxClock

__all__ = ["Store"]

A = ParamSpec("A")
T = TypeVar("T")

# What the engine does (``engine`` theory of operation): a fall to zero MRR with a live
# subscription is not churn (Free Customer Handling, help article 15384089786524), and a
# customer's movements within an hour are regrouped (``engine.REGROUP_SECONDS``; Smart
# Activity Classification, help article 4416682609426).
_ACCOUNT_SETTINGS: dict[str, Any] = {
    "churn_recognition": "churn_at_time_of_cancelation",
    "churn_when_zero_mrr": "ignore",
    "auto_churn_subscription": "disabled",
    "refund_handling": "refund_ignore",
    "proximate_movement_reclassification": "one_hour_reclassification",
}


class Store:
    """One emulated ChartMogul account."""

    def __init__(self, clock: SandboxClock, seed: int = 0, currency: str = "USD") -> None:
        self.lock = threading.RLock()
        self.registry = Registry(clock, seed, currency)
        self.sources = Sources(self.registry)
        self.customers = Customers(self.registry)
        self.invoices = Invoices(self.registry)
        self.subscriptions = Subscriptions(self.registry)
        self.injected = Injected()  # raw entries for tests (``inject``), empty otherwise

    def run(self, operation: Callable[A, T], *args: A.args, **kwargs: A.kwargs) -> T:
        """Call one store operation under the lock (what the HTTP handlers do), after
        releasing the imports whose processing delay has passed (``processing``)."""
        with self.lock:
            settle(self.registry)
            return operation(*args, **kwargs)

    def set_processing_delay(self, seconds: int, data_source_uuid: str | None = None) -> None:
        """The processing delay of one data source, or the default for every other one."""
        with self.lock:
            if data_source_uuid is None:
                self.registry.processing.default_delay = seconds
            else:
                self.registry.processing.delays[data_source_uuid] = seconds

    # ChartMogulSeedTarget ------------------------------------------------------------------

    def create_data_source(self, name: str) -> dict[str, Any]:
        return self.run(self.sources.create_data_source, {"name": name})

    def create_plan(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.run(self.sources.create_plan, body)

    def create_customer(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.run(self.customers.create, body)

    def import_invoices(
        self, customer_uuid: str, invoices: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        return self.run(self.invoices.import_invoices, customer_uuid, {"invoices": invoices})

    def cancel_subscription(self, subscription_uuid: str, cancelled_at: datetime) -> dict[str, Any]:
        return self.run(self.subscriptions.cancel, subscription_uuid, cancelled_at)

    # reads that are not one resource's ------------------------------------------------------

    def account(self, query: Mapping[str, str]) -> dict[str, Any]:
        body = dict(ACCOUNT, currency=self.registry.rates.account_currency)
        for name in query.get("include", "").split(","):
            if name in _ACCOUNT_SETTINGS:
                body[name] = _ACCOUNT_SETTINGS[name]
        return body

    def activities(self, query: Mapping[str, str]) -> dict[str, Any]:
        return self.injected.splice("activities", list_activities(self.registry, query), query)

    def list_customers(self, query: Mapping[str, str]) -> dict[str, Any]:
        return self.injected.splice("customers", self.customers.list_all(query), query)

    def list_invoices(self, query: Mapping[str, str]) -> dict[str, Any]:
        return self.injected.splice("invoices", self.invoices.list_all(query), query)

    def metrics(self, endpoint: str, query: Mapping[str, str]) -> dict[str, Any]:
        return metrics_report(self.registry, endpoint, query)

    # exchange rates (the admin path's ``/__sandbox/rates``) ---------------------------------

    def change_rates(self, at: int, rates: Mapping[str, int]) -> list[dict[str, object]]:
        """From ``at`` (epoch seconds of the emulated clock) on, ``rates`` apply: every
        customer billed in another currency is valued again (``history.revalue``)."""
        with self.lock:
            self.registry.rates.change(at, rates)
            for customer in list(self.registry.customers.values()):
                revalue(self.registry, customer)
            return self.registry.rates.describe()

    def rates(self) -> list[dict[str, object]]:
        with self.lock:
            return self.registry.rates.describe()
