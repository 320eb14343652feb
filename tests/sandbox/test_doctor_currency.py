"""`cmsync doctor`'s currency check against the sandbox over real TLS.

ChartMogul reports in its account's currency (``GET /v1/account``); the org's corporate
currency is ``Organization.DefaultCurrencyIsoCode`` (Object Reference, "Organization"); in a
multi-currency org each Account has its own ``CurrencyIsoCode`` (Object Reference,
"CurrencyType"). cmsync does not convert, so a difference is a warning with its fix, and the
fix is shown to work: a sandbox whose two sides agree has no currency warning.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from cmsync.admin.currency_checks import OrgCurrency, currency_findings
from cmsync.admin.doctor import Severity, diagnose
from cmsync.config import load_settings

if TYPE_CHECKING:
    from cmsync.sandbox.runner import RunningSandbox
    from cmsync.sandbox.serve import LoopThread


def _start(loop: LoopThread, factory: pytest.TempPathFactory, **options: object) -> RunningSandbox:
    from cmsync.sandbox.runner import SandboxOptions, start_sandbox

    directory = factory.mktemp("doctor-currency")
    return loop.call(start_sandbox(SandboxOptions(directory=directory, accounts=12, **options)))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def euro_org(
    sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSandbox]:
    """An org whose corporate currency is EUR, a ChartMogul account in USD."""
    running = _start(sandbox_loop, tmp_path_factory, org_currency="EUR")
    try:
        yield running
    finally:
        sandbox_loop.call(running.stop())


@pytest.fixture(scope="module")
def multi_currency_org(
    sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSandbox]:
    """A multi-currency USD org whose euro-billed customers' Accounts are in EUR."""
    running = _start(sandbox_loop, tmp_path_factory, multi_currency=True)
    try:
        yield running
    finally:
        sandbox_loop.call(running.stop())


async def test_a_euro_org_and_a_dollar_chartmogul_is_a_warning_with_its_fix(
    euro_org: RunningSandbox,
) -> None:
    report = await diagnose(load_settings(euro_org.config_file))
    [deals, warning] = report.warnings
    assert deals.subject == "closed_won.currency" and deals.fix == (
        'set closed_won.currency = "EUR" (ChartMogul converts it)'
    )
    assert warning.subject == "corporate currency"
    assert "ChartMogul reports in USD, the org's corporate currency is EUR" in warning.message
    assert "CM_MRR__c" in warning.message and "CM_ARR__c" in warning.message
    assert warning.fix is not None and "does not convert" in warning.fix
    assert "set the ChartMogul account's currency to EUR" in warning.fix
    assert report.exit_code == 0  # a warning: the sync works, the figures are in USD


async def test_the_fix_a_euro_chartmogul_account_clears_the_warning(
    sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory
) -> None:
    running = _start(sandbox_loop, tmp_path_factory, org_currency="EUR", chartmogul_currency="EUR")
    try:
        settings = load_settings(running.config_file)
        closed_won = settings.closed_won.model_copy(update={"currency": "EUR"})
        report = await diagnose(settings.model_copy(update={"closed_won": closed_won}))
        assert report.warnings == () and report.errors == ()
        [ok] = report.about("corporate currency")
        assert ok.severity is Severity.OK and "EUR" in ok.message
    finally:
        sandbox_loop.call(running.stop())


async def test_multi_currency_accounts_in_another_currency_are_counted(
    multi_currency_org: RunningSandbox,
) -> None:
    report = await diagnose(load_settings(multi_currency_org.config_file))
    [warning] = report.warnings
    assert warning.subject == "Account.CurrencyIsoCode"
    scenario = multi_currency_org.seeded
    euro = sum(
        1
        for key in scenario.account_ids
        if multi_currency_org.salesforce.store.get("Account", scenario.account_ids[key])
        .get("CurrencyIsoCode") == "EUR"
    )  # fmt: skip
    assert euro > 0
    assert warning.message.startswith(f"{euro} of 12 Accounts are in another currency")
    assert warning.fix is not None and "does not change CurrencyIsoCode" in warning.fix
    [corporate] = report.about("corporate currency")
    assert corporate.severity is Severity.OK


def test_the_findings_are_pure() -> None:
    same = currency_findings("USD", OrgCurrency("USD", multi_currency=False), ["CM_MRR__c"])
    assert [f.severity for f in same] == [Severity.OK]
    unknown = currency_findings("USD", OrgCurrency(None, multi_currency=False), ["CM_MRR__c"])
    assert [f.severity for f in unknown] == [Severity.WARNING]
    mixed = currency_findings("USD", OrgCurrency("USD", True, 10, 0), ["CM_MRR__c"], "usd")
    assert [f.severity for f in mixed] == [Severity.OK, Severity.OK]
