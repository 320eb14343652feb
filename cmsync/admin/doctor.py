"""``cmsync doctor``: what would make a sync fail, found before the first sync.

Both services are checked at once (``cm_checks``, ``sf_checks``), each with the daemon's own
client and login, and so is the currency ChartMogul reports in against the org's
(``currency_checks``); the findings come back as one ``Report`` in a fixed order (ChartMogul,
Salesforce objects, API budget, currency, then the store: writable, with room, ``store_checks``).
A mapping the catalogue cannot apply (two settings naming one field) is itself a finding.
Nothing is written to either service, nor kept in the store.
"""

from __future__ import annotations

import asyncio

from cmsync.admin.cm_checks import check_chartmogul
from cmsync.admin.currency_checks import check_currency
from cmsync.admin.findings import Finding, Report, Severity
from cmsync.admin.mapping import MappingError, mapped_catalogue
from cmsync.admin.sf_checks import check_salesforce
from cmsync.admin.store_checks import check_store
from cmsync.config import Settings

__all__ = ["Finding", "Report", "Severity", "diagnose"]


async def diagnose(settings: Settings) -> Report:
    """Check ChartMogul and Salesforce against what cmsync needs; never raises for a finding."""
    path = settings.store.path
    try:
        mapped_catalogue(settings.fields)
    except MappingError as exc:
        mapping = Finding.error("Configuration", "fields", str(exc), "fix the [fields] section")
        chartmogul = await check_chartmogul(settings.chartmogul)
        return Report.of([mapping], chartmogul, await asyncio.to_thread(check_store, path))
    chartmogul, salesforce, currency, stored = await asyncio.gather(
        check_chartmogul(settings.chartmogul),
        check_salesforce(settings),
        check_currency(settings),
        asyncio.to_thread(check_store, path),  # may wait for a busy writer: off the loop
    )
    return Report.of(chartmogul, salesforce, currency, stored)
