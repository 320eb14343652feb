"""The doctor's currency check: the currency cmsync writes in against the org's.

ChartMogul reports every figure in its account's currency (``GET /v1/account``: invoices in
other currencies are converted into it), and cmsync writes those figures as they are: it
never converts. A Salesforce currency field holds an amount in the org's corporate currency
(``Organization.DefaultCurrencyIsoCode``, Object Reference "Organization") or, in a
multi-currency org, in the record's own ``CurrencyIsoCode`` (Object Reference
"CurrencyType": the currencies of an org for which the multicurrency feature is enabled).
When they differ, ``CM_MRR__c`` would silently hold dollars in a euro field; the doctor says
so, with what to change. cmsync does not set ``CurrencyIsoCode`` on the Accounts it writes:
that re-denominates every other currency field of the record, which cmsync does not own.

A check that cannot run (ChartMogul or Salesforce refused or unreachable) adds nothing: the
ChartMogul and Salesforce checks already report why.
"""

from __future__ import annotations

from dataclasses import dataclass

from cmsync.admin.cm_checks import QUICK as CM_QUICK
from cmsync.admin.findings import Finding
from cmsync.admin.sf_checks import QUICK as SF_QUICK
from cmsync.chartmogul import ChartMogulError, connect
from cmsync.config import Settings
from cmsync.salesforce.budget import ApiBudget
from cmsync.salesforce.errors import SalesforceError
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.salesforce.soql import soql

__all__ = ["AREA", "OrgCurrency", "check_currency", "currency_findings"]

AREA = "Currency"


@dataclass(frozen=True)
class OrgCurrency:
    """What the org says about currencies."""

    corporate: str | None  # Organization.DefaultCurrencyIsoCode
    multi_currency: bool  # Account has CurrencyIsoCode
    accounts: int = 0  # Accounts in all (multi-currency orgs only)
    other_accounts: int = 0  # Accounts whose CurrencyIsoCode is not ChartMogul's


def currency_findings(
    chartmogul: str, org: OrgCurrency, fields: list[str], deals: str | None = None
) -> list[Finding]:
    """The findings for ChartMogul's currency against the org's (pure). ``deals`` is
    ``closed_won.currency``, what Closed-Won deals are imported into ChartMogul as."""
    named = ", ".join(fields)
    findings: list[Finding] = []
    if deals is not None and org.corporate is not None and deals.upper() != org.corporate:
        findings.append(
            Finding.warning(
                AREA,
                "closed_won.currency",
                f"Closed-Won deals are imported into ChartMogul as {deals.upper()} invoices, "
                f"but Opportunity Amounts are in the org's {org.corporate}",
                f'set closed_won.currency = "{org.corporate}" (ChartMogul converts it)',
            )
        )
    if org.corporate is None:
        findings.append(
            Finding.warning(AREA, "Organization", "the org's corporate currency could not be read")
        )
    elif org.corporate != chartmogul:
        findings.append(
            Finding.warning(
                AREA,
                "corporate currency",
                f"ChartMogul reports in {chartmogul}, the org's corporate currency is "
                f"{org.corporate}: {named} will hold {chartmogul} amounts shown as "
                f"{org.corporate}",
                f"cmsync does not convert: set the ChartMogul account's currency to "
                f"{org.corporate} (ChartMogul > Settings > Account details; ChartMogul "
                f"recomputes every figure in it), or keep {chartmogul} and say so in those "
                f"fields' labels and help text",
            )
        )
    else:
        findings.append(
            Finding.ok(AREA, "corporate currency", f"{chartmogul}, as ChartMogul reports in")
        )
    if org.multi_currency and org.other_accounts:
        findings.append(
            Finding.warning(
                AREA,
                "Account.CurrencyIsoCode",
                f"{org.other_accounts} of {org.accounts} Accounts are in another currency than "
                f"ChartMogul's {chartmogul}: on them {named} will hold {chartmogul} amounts "
                "shown in the Account's currency",
                f"cmsync does not convert and does not change CurrencyIsoCode: set those "
                f"Accounts' currency to {chartmogul}, or treat the CM_ figures on them as "
                f"{chartmogul}",
            )
        )
    elif org.multi_currency:
        findings.append(
            Finding.ok(AREA, "Account.CurrencyIsoCode", f"every Account is in {chartmogul}")
        )
    return findings


async def _chartmogul_currency(settings: Settings) -> str | None:
    try:
        async with connect(settings.chartmogul, CM_QUICK) as client:
            return (await client.account()).currency.upper()
    except (ChartMogulError, OSError):
        return None


async def _org_currency(settings: Settings, chartmogul: str) -> OrgCurrency | None:
    gateway = SalesforceGateway(
        settings.salesforce,
        budget=ApiBudget(settings.sync.api_budget_share),
        policy=SF_QUICK,
        max_workers=2,
    )
    try:
        org = await gateway.query("SELECT DefaultCurrencyIsoCode FROM Organization")
        records = org.get("records") or [{}]
        corporate = records[0].get("DefaultCurrencyIsoCode")
        describe = await gateway.describe("Account", fresh=True)  # the org as it is now
        names = {f.get("name") for f in describe.get("fields", [])}
        if "CurrencyIsoCode" not in names:
            return OrgCurrency(corporate=corporate, multi_currency=False)
        total = await gateway.query("SELECT COUNT() FROM Account")
        other = await gateway.query(
            soql("SELECT COUNT() FROM Account WHERE CurrencyIsoCode != {code}", code=chartmogul)
        )
        return OrgCurrency(
            corporate=corporate,
            multi_currency=True,
            accounts=int(total.get("totalSize", 0)),
            other_accounts=int(other.get("totalSize", 0)),
        )
    except (SalesforceError, OSError):
        return None
    finally:
        await gateway.close()


async def check_currency(settings: Settings) -> list[Finding]:
    """ChartMogul's account currency against the org's corporate and Account currencies."""
    chartmogul = await _chartmogul_currency(settings)
    if chartmogul is None:
        return []
    org = await _org_currency(settings, chartmogul)
    if org is None:
        return []
    fields = [settings.fields.account.mrr, settings.fields.account.arr, "the other CM_ amounts"]
    return currency_findings(chartmogul, org, fields, settings.closed_won.currency)
