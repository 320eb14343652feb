"""``cmsync doctor``: what would make a sync fail, found before the first sync.

Both services are checked at once (``cm_checks``, ``sf_checks``), each with the daemon's own
client and login, and so is the currency ChartMogul reports in against the org's
(``currency_checks``); the findings come back as one ``Report`` in a fixed order (ChartMogul,
Salesforce objects, API budget, currency). A mapping the catalogue cannot apply (two settings naming
one field) is itself a finding. Nothing is written to either service.
"""

from __future__ import annotations

import asyncio

from cmsync.admin.cm_checks import check_chartmogul
from cmsync.admin.currency_checks import check_currency
from cmsync.admin.findings import Finding, Report, Severity
from cmsync.admin.mapping import MappingError, mapped_catalogue
from cmsync.admin.sf_checks import check_salesforce
from cmsync.config import Settings

__all__ = ["Finding", "Report", "Severity", "diagnose"]


async def diagnose(settings: Settings) -> Report:
    """Check ChartMogul and Salesforce against what cmsync needs; never raises for a finding."""
    try:
        mapped_catalogue(settings.fields)
    except MappingError as exc:
        mapping = Finding.error("Configuration", "fields", str(exc), "fix the [fields] section")
        return Report.of([mapping], await check_chartmogul(settings.chartmogul))
    chartmogul, salesforce, currency = await asyncio.gather(
        check_chartmogul(settings.chartmogul), check_salesforce(settings), check_currency(settings)
    )
    return Report.of(chartmogul, salesforce, currency)
