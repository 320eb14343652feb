"""Starting the whole sandbox: both emulators, one CA, the scenario, and the files clients read.

``DIR/sandbox.json`` says where everything is (it is written last, atomically, so a process
waiting for it sees a sandbox that is ready); ``DIR/cmsync.toml`` is a daemon configuration
pointing at this run, with its secrets in ``DIR/secrets/`` (mode 0600).
"""

from __future__ import annotations

import gc
import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cmsync.salesforce.catalogue import DEFAULT_CATALOGUE, FieldSpec, with_multi_currency
from cmsync.sandbox.base import SandboxContext
from cmsync.sandbox.chartmogul import ChartMogulEmulator
from cmsync.sandbox.clock import SandboxClock
from cmsync.sandbox.faults import FaultInjector
from cmsync.sandbox.salesforce import SalesforceEmulator, SalesforceEmulatorConfig
from cmsync.sandbox.salesforce.auth import audience_for
from cmsync.sandbox.salesforce.config import OrgKind
from cmsync.sandbox.scenario.generate import generate
from cmsync.sandbox.scenario.model import Scenario
from cmsync.sandbox.scenario.seed import SeedResult, seed
from cmsync.sandbox.serve import Site, start_site
from cmsync.sandbox.tls import SandboxTLS

__all__ = ["RunningSandbox", "SandboxOptions", "describe_sources", "start_sandbox"]

INTEGRATION_USERNAME = "integration@cmsync-sandbox.example"


@dataclass(frozen=True)
class SandboxOptions:
    directory: Path
    seed: int = 1
    accounts: int = 50
    faults: str = "none"
    api_version: str = "62.0"
    token_ttl_seconds: int = 7200
    daily_api_limit: int = 100_000
    # A production org accepts only https://login.salesforce.com as a JWT audience, a
    # sandbox org only https://test.salesforce.com (cmsync/sandbox/salesforce/auth.py).
    org_kind: OrgKind = "production"
    # False: the integration user lacks "View Setup and Configuration", /limits answers 403.
    view_setup: bool = True
    # The integration user has "View and Edit Converted Leads" (default: no, as a new user).
    edit_converted_leads: bool = False
    # ChartMogul's processing delay (s) for the data sources the scenario gives none
    # (cmsync/sandbox/chartmogul/processing.py). 0: an import shows at once, what tests and
    # the demo's billing expect of the Import API source; the seeded PayPal source has its own.
    processing_delay: int = 0
    host: str = "127.0.0.1"
    chartmogul_port: int = 0
    salesforce_port: int = 0
    # "Object.Field" names left out of the org, as if an admin had not deployed them
    # (for `cmsync doctor` tests and demos); the seeded scenario must not write them.
    drop_fields: tuple[str, ...] = ()
    # Fields as the org's admin changed them (a shorter length, fewer picklist values), each
    # replacing the catalogue's field of that name on that object (for tests and demos).
    changed_fields: tuple[tuple[str, FieldSpec], ...] = ()
    # The ChartMogul account's currency (every figure it reports is in it), the Salesforce
    # org's corporate currency (Organization.DefaultCurrencyIsoCode), and whether the org is
    # multi-currency (Accounts carry CurrencyIsoCode: the euro-billed customers' Accounts EUR).
    chartmogul_currency: str = "USD"
    org_currency: str = "USD"
    multi_currency: bool = False
    # What to seed, from (seed, accounts, now); None is the default scenario (``generate``).
    # The benchmarks pass one with denser billing histories (``bench.dense``).
    scenario: Callable[[int, int, datetime], Scenario] | None = None


def _processing_delays(
    scenario: Scenario, seeded: SeedResult, default: int
) -> list[dict[str, Any]]:
    """Each seeded data source with the processing delay it runs with."""
    return [
        {
            "key": spec.key,
            "uuid": seeded.data_sources[spec.key],
            "name": spec.name,
            "processing_delay_seconds": (
                default if spec.processing_delay_seconds is None else spec.processing_delay_seconds
            ),
        }
        for spec in scenario.data_sources
    ]


def describe_sources(sources: list[dict[str, Any]]) -> str:
    """Each data source with its processing delay: "cmsync sandbox billing (0 s), PayPal (3 h
    processing delay)"."""

    def delay(seconds: int) -> str:
        return f"{seconds / 3600:g} h" if seconds >= 3600 else f"{seconds} s"

    return ", ".join(
        f"{s['name']} ({delay(int(s['processing_delay_seconds']))} processing delay)"
        for s in sources
    )


@dataclass
class RunningSandbox:
    options: SandboxOptions
    tls: SandboxTLS
    ctx: SandboxContext
    chartmogul: ChartMogulEmulator
    salesforce: SalesforceEmulator
    chartmogul_site: Site
    salesforce_site: Site
    seeded: SeedResult
    info: dict[str, Any]

    @property
    def sandbox_json(self) -> Path:
        return self.options.directory / "sandbox.json"

    @property
    def config_file(self) -> Path:
        return self.options.directory / "cmsync.toml"

    async def stop(self) -> None:
        await self.chartmogul_site.stop()
        await self.salesforce_site.stop()


def _write_private(path: Path, text: str) -> Path:
    """Write ``text`` so that only the owner can read it, never briefly world-readable."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, 0o600)
    return path


def _toml_str(value: str | Path) -> str:
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def _config_toml(info: dict[str, Any], secrets_dir: Path, store: Path) -> str:
    cm, sf = info["chartmogul"], info["salesforce"]
    return f"""\
# Written by `cmsync sandbox`: a daemon configuration pointing at this sandbox run.
# Secrets are in files beside it (mode 0600), never in this file.

[chartmogul]
base_url = {_toml_str(cm["base_url"])}
api_key_file = {_toml_str(secrets_dir / "chartmogul_api_key")}
data_source_uuid = {_toml_str(cm["data_source_uuid"])}
ca_bundle = {_toml_str(info["ca_bundle"])}

[salesforce]
login_url = {_toml_str(sf["login_url"])}
api_version = {_toml_str(sf["api_version"])}
auth_flow = "jwt"
jwt_audience = {_toml_str(sf["jwt_audience"])}
client_id = {_toml_str(sf["client_id"])}
username = {_toml_str(sf["username"])}
private_key_file = {_toml_str(sf["private_key_file"])}
ca_bundle = {_toml_str(info["ca_bundle"])}

[store]
path = {_toml_str(store)}
"""


def _seed_currencies(
    options: SandboxOptions, scenario: Scenario, seeded: SeedResult, sf: SalesforceEmulator
) -> None:
    """The org's Organization record, and in a multi-currency org each Account's currency
    (its customer's invoice currency, else the corporate one)."""
    sf.store.insert(
        "Organization",
        {"Name": "cmsync sandbox", "DefaultCurrencyIsoCode": options.org_currency},
    )
    if not options.multi_currency:
        return
    billed = {c.account: c.currency for c in scenario.customers if c.account is not None}
    for account in scenario.accounts:
        currency = billed.get(account.key, options.org_currency)
        sf.store.update("Account", seeded.account_ids[account.key], {"CurrencyIsoCode": currency})


async def start_sandbox(options: SandboxOptions) -> RunningSandbox:
    """Start both emulators with a seeded scenario and write the files that describe them."""
    directory = options.directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    secrets_dir = directory / "secrets"
    tls = SandboxTLS.create(directory)
    ctx = SandboxContext(
        clock=SandboxClock(), faults=FaultInjector(options.faults, seed=options.seed)
    )

    api_key = secrets.token_hex(16)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    sf_config = SalesforceEmulatorConfig(
        api_version=options.api_version,
        client_id="3MVG9" + secrets.token_urlsafe(30),
        client_secret=secrets.token_hex(32),
        username=INTEGRATION_USERNAME,
        password=secrets.token_urlsafe(16),
        jwt_public_key_pem=public_pem,
        token_ttl_seconds=options.token_ttl_seconds,
        daily_api_limit=options.daily_api_limit,
        org_kind=options.org_kind,
        view_setup=options.view_setup,
        edit_converted_leads=options.edit_converted_leads,
    )
    chartmogul = ChartMogulEmulator(ctx, api_key, currency=options.chartmogul_currency)
    catalogue = DEFAULT_CATALOGUE
    if options.multi_currency:
        catalogue = with_multi_currency(catalogue)
    for dropped in options.drop_fields:
        sobject, _, field = dropped.partition(".")
        catalogue = catalogue.without_field(sobject, field)
    for sobject, changed in options.changed_fields:
        catalogue = catalogue.replace_sobject(catalogue[sobject].with_field(changed))
    salesforce = SalesforceEmulator(ctx, sf_config, catalogue=catalogue)

    make_scenario = options.scenario or generate
    scenario = make_scenario(options.seed, options.accounts, ctx.clock.now())
    # Seeding allocates millions of long-lived objects; the cyclic collector would rescan them
    # over and over (a third of the time). Nothing seeded is garbage, so freeze it afterwards.
    gc.disable()
    try:
        seeded = seed(scenario, chartmogul.store, salesforce.store)
        _seed_currencies(options, scenario, seeded, salesforce)
    finally:
        gc.enable()
        gc.freeze()
    # Delays apply from now on: the seeded history was imported long ago, so it is processed.
    delays = _processing_delays(scenario, seeded, options.processing_delay)
    chartmogul.store.set_processing_delay(options.processing_delay)
    for spec in scenario.data_sources:
        if spec.processing_delay_seconds is not None:
            uuid = seeded.data_sources[spec.key]
            chartmogul.store.set_processing_delay(spec.processing_delay_seconds, uuid)

    cm_site = await start_site(
        chartmogul.create_app(), tls.server_context, options.host, options.chartmogul_port
    )
    sf_site = await start_site(
        salesforce.create_app(), tls.server_context, options.host, options.salesforce_port
    )

    key_file = _write_private(secrets_dir / "salesforce_jwt_key.pem", private_pem)
    _write_private(secrets_dir / "chartmogul_api_key", api_key + "\n")
    _write_private(secrets_dir / "salesforce_client_secret", sf_config.client_secret + "\n")
    _write_private(secrets_dir / "salesforce_password", sf_config.password + "\n")
    info: dict[str, Any] = {
        "ca_bundle": str(tls.ca_bundle),
        "seed": options.seed,
        "faults": ctx.faults.profile.name,
        "chartmogul": {
            "base_url": cm_site.url,
            "api_key": api_key,
            "data_source_uuid": seeded.data_source_uuid,
            "currency": options.chartmogul_currency,
            "data_sources": delays,
            "admin_url": cm_site.url + "/__sandbox",
        },
        "salesforce": {
            "login_url": sf_site.url,
            "instance_url": sf_site.url,
            "api_version": options.api_version,
            "org_kind": options.org_kind,
            # 127.0.0.1 cannot look like a sandbox host, so the audience is written out
            "jwt_audience": audience_for(options.org_kind),
            "client_id": sf_config.client_id,
            "username": sf_config.username,
            "private_key_file": str(key_file),
            "access_token": salesforce.issue_token(),
            "currency": options.org_currency,
            "multi_currency": options.multi_currency,
            "admin_url": sf_site.url + "/__sandbox",
        },
        "scenario": seeded.counts,
    }
    _write_private(
        directory / "cmsync.toml", _config_toml(info, secrets_dir, directory / "cmsync.db")
    )
    ground_truth = {
        "accounts": {
            k: {"id": seeded.account_ids[k], "link": a.link.value if a.link else None}
            for a in scenario.accounts
            for k in [a.key]
        },
        "customers": {
            c.key: {
                "uuid": seeded.customer_uuids[c.key],
                "account": c.account,
                "link": c.link.value,
                "currency": c.currency,
                "data_source": c.source,
            }
            for c in scenario.customers
        },
        "data_sources": {d["key"]: d for d in delays},
    }
    (directory / "scenario.json").write_text(json.dumps(ground_truth, indent=1), encoding="utf-8")
    staging = directory / ".sandbox.json.tmp"
    _write_private(staging, json.dumps(info, indent=2) + "\n")
    staging.replace(directory / "sandbox.json")
    return RunningSandbox(
        options=options,
        tls=tls,
        ctx=ctx,
        chartmogul=chartmogul,
        salesforce=salesforce,
        chartmogul_site=cm_site,
        salesforce_site=sf_site,
        seeded=seeded,
        info=info,
    )
