"""The ChartMogul v1 API emulator of the cmsync sandbox, with its MRR engine.

``ChartMogulEmulator(ctx, api_key)`` serves the real paths, parameters and bodies (as the
ChartMogul API reference documents them and the official clients' recordings show them); its
``store`` is what the scenario seeder fills. Modules:
``engine`` (the pure MRR engine), ``history`` (store -> engine -> feed), ``feed`` (the sorted
activity index), ``metrics``, ``views`` (wire shapes), ``errors`` (error shapes), the resource
modules (``sources``, ``customers``, ``invoices``, ``subscriptions``, ``activities``),
``routes`` and ``app`` (HTTP, auth, limits, faults).
"""

from __future__ import annotations

from cmsync.sandbox.chartmogul.app import ChartMogulEmulator
from cmsync.sandbox.chartmogul.store import Store

__all__ = ["ChartMogulEmulator", "Store"]
