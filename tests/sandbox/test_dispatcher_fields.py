"""Writes fitted to the fields they go to, through the real dispatcher and the Salesforce
emulator over real sockets, for generated values (hypothesis): text of any length, numbers of
any size, picklist values the org has and lacks.

Whatever is generated, no record is refused: every Account ends with exactly what fitting
promised (text cut to its field with an ellipsis, a number the field holds, a value of the
restricted picklist), everything left out is one problem per field and cause listing exactly
the Accounts it was left out of, and there is no dead letter.
"""

from __future__ import annotations

import asyncio
import gc
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cmsync.config import load_settings
from cmsync.pipeline.dispatch.dispatcher import Dispatcher
from cmsync.salesforce.budget import ApiBudget
from cmsync.salesforce.collections import CollectionsWriter
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.sandbox.runner import RunningSandbox, SandboxOptions, start_sandbox
from cmsync.sandbox.serve import LoopThread
from state import OutboxItem, QuarantineKind, QuarantineStatus, Store, System
from state.fieldfit import ELLIPSIS

STAGES = ("Lead", "Trial", "New", "Active", "At Risk", "Churned")
PLAN_LENGTH, MRR_DIGITS = 255, 14  # Text(255); Currency(16, 2)

record = st.fixed_dictionaries(
    {},
    optional={
        "CM_Plan__c": st.text(st.characters(codec="utf-8"), max_size=2 * PLAN_LENGTH),
        "CM_MRR__c": st.one_of(
            st.integers(min_value=-(10**18), max_value=10**18),
            st.floats(min_value=-1e18, max_value=1e18, allow_nan=False, allow_infinity=False),
        ),
        "CM_Lifecycle_Stage__c": st.one_of(st.sampled_from(STAGES), st.sampled_from(
            ("Dormant", "active", "Active ", "Churned!"))),
    },
)  # fmt: skip


@pytest.fixture(scope="module")
def small_sandbox(
    sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSandbox]:
    """A sandbox with a company of two Accounts: seeding more would only cost time here."""
    directory = tmp_path_factory.mktemp("fitted")
    running = sandbox_loop.call(start_sandbox(SandboxOptions(directory=directory, accounts=2)))
    try:
        yield running
    finally:
        gc.collect()
        sandbox_loop.call(running.stop())


def _fits(value: float) -> bool:
    rounded = Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return abs(rounded) < Decimal(10) ** MRR_DIGITS


def _expected(fields: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """What the Account should hold, and the problem keys it should be listed under."""
    out: dict[str, Any] = {}
    problems: set[str] = set()
    plan = fields.get("CM_Plan__c")
    if plan is not None:
        cut = plan if len(plan) <= PLAN_LENGTH else plan[: PLAN_LENGTH - 1] + ELLIPSIS
        out["CM_Plan__c"] = cut or None  # an empty string clears the field
    if "CM_MRR__c" in fields:
        mrr = fields["CM_MRR__c"]
        if _fits(mrr):
            out["CM_MRR__c"] = float(Decimal(str(mrr)).quantize(Decimal("0.01"), ROUND_HALF_UP))
        else:
            problems.add("Account.CM_MRR__c:out_of_range")
    if "CM_Lifecycle_Stage__c" in fields:
        stage = fields["CM_Lifecycle_Stage__c"]
        if stage in STAGES:
            out["CM_Lifecycle_Stage__c"] = stage
        else:
            problems.add("Account.CM_Lifecycle_Stage__c:not_in_picklist")
    return out, problems


async def _drain(sandbox: RunningSandbox, records: list[dict[str, Any]], path: Path) -> Any:
    config = load_settings(sandbox.config_file).salesforce
    gateway = SalesforceGateway(config, budget=ApiBudget(share=1.0))
    try:
        writer = CollectionsWriter(gateway)
        created = await writer.create(
            "Account", [{"Name": f"Fit {n}"} for n in range(len(records))]
        )
        ids = [r.id for r in created if r.id]
        assert len(ids) == len(records)
        with Store.open(path) as store:
            with store.transaction() as tx:
                tx.outbox.enqueue(
                    OutboxItem(f"fit|{account}", "update", System.SALESFORCE, "Account",
                               account, fields, "generated")
                    for account, fields in zip(ids, records, strict=True)
                )  # fmt: skip
            dispatcher = Dispatcher(store, writer, gateway.budget, clock=lambda: datetime.now(UTC))
            report = await dispatcher.drain()
            with store.transaction() as tx:
                dead = tx.queries.dead_letters()
                problems = {
                    q.record_key: set(q.payload["records"])
                    for q in tx.queries.quarantine(QuarantineStatus.OPEN, limit=1_000)
                    if q.kind is QuarantineKind.FIELD_LIMIT
                }
        return ids, report, dead, problems
    finally:
        await gateway.close()
        gc.collect()


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(records=st.lists(record, min_size=1, max_size=25))
def test_generated_values_never_sink_a_record(
    small_sandbox: RunningSandbox, records: list[dict[str, Any]]
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        ids, report, dead, problems = asyncio.run(
            _drain(small_sandbox, records, Path(directory) / "cmsync.db")
        )
    assert dead == [] and report.dead == 0, [d.last_error for d in dead]
    table = small_sandbox.salesforce.store
    expected_problems: dict[str, set[str]] = {}
    for account, fields in zip(ids, records, strict=True):
        want, keys = _expected(fields)
        found = table.find(account)
        assert found is not None
        held = {name: found.values.get(name) for name in want}
        assert held == want, (fields, held)
        for key in keys:
            expected_problems.setdefault(key, set()).add(account)
    assert problems == expected_problems
