"""The benchmark driver turns every step's outcome into JSON, whatever the outcome holds."""

from __future__ import annotations

import json

from bench.drive import _plain
from cmsync.pipeline.context import PlanInfo, SyncContext
from cmsync.pipeline.org import OrgSnapshot


def test_a_context_holding_a_database_connection_becomes_json() -> None:
    context = SyncContext(OrgSnapshot().seal(), {"pro": PlanInfo("Pro", 1, "month")})
    plain = _plain(context)
    assert plain["plans"] == {"pro": {"name": "Pro", "interval_count": 1, "interval_unit": "month"}}
    assert isinstance(plain["org"], str)  # not copied: a connection cannot be
    json.dumps(plain)
