"""The API's front pages: versions, the resources of a version, and the org's limits."""

from __future__ import annotations

from aiohttp import web

from cmsync.sandbox.salesforce.errors import ApiError, json_response
from cmsync.sandbox.salesforce.gate import SESSION
from cmsync.sandbox.salesforce.org import Org

__all__ = ["MetaRoutes", "release_label"]

OLDEST_VERSION = 31  # versions 21.0-30.0 are retired
_RECORD_STORAGE_KB = 2  # Salesforce counts most records as 2 KB of data storage
_DATA_STORAGE_MB = 1024
# REST API Developer Guide, "Limits": the resource needs the "View Setup and Configuration"
# user permission. Without it the answer is a 403 in the REST API's error shape ("Status
# Codes and Error Responses": 403, the request has been refused, check the user's
# permissions); the message is the emulator's wording, the code is INSUFFICIENT_ACCESS.
NO_VIEW_SETUP = "Insufficient Privileges: the View Setup and Configuration permission is required"


def release_label(major: int) -> str:
    """The release a version shipped in: 62 is "Winter '25", 61 "Summer '24", 60 "Spring '24"."""
    season = ("Winter", "Spring", "Summer")[(major - 20) % 3]
    year = 11 + (major - 20 - (major - 20) % 3) // 3
    return f"{season} '{year:02d}"


class MetaRoutes:
    def __init__(self, org: Org) -> None:
        self.org = org

    def register(self, app: web.Application) -> None:
        app.router.add_get("/services/data{slash:/?}", self.versions)
        app.router.add_get("/services/data/v{version}{slash:/?}", self.resources)
        app.router.add_get("/services/data/v{version}/limits{slash:/?}", self.limits)

    async def versions(self, _: web.Request) -> web.Response:
        top = self.org.config.major_version
        return json_response(
            [
                {"label": release_label(v), "url": f"/services/data/v{v}.0", "version": f"{v}.0"}
                for v in range(OLDEST_VERSION, top + 1)
            ]
        )

    async def resources(self, request: web.Request) -> web.Response:
        base = self.org.base
        origin = f"{request.scheme}://{request.host}"
        names = ("sobjects", "query", "queryAll", "composite", "limits", "search", "recent")
        body = {name: f"{base}/{name}" for name in names}
        session = request.get(SESSION)
        user = session.user_id if session is not None else self.org.store.user_id
        body["identity"] = f"{origin}/id/{self.org.org_id}/{user}"
        return json_response(dict(sorted(body.items())))

    async def limits(self, _: web.Request) -> web.Response:
        if not self.org.config.view_setup:
            raise ApiError.of(403, "INSUFFICIENT_ACCESS", NO_VIEW_SETUP)
        allowance = self.org.allowance
        maximum = allowance.maximum
        used_mb = len(self.org.store) * _RECORD_STORAGE_KB // 1024

        def limit(top: int, remaining: int | None = None) -> dict[str, int]:
            return {"Max": top, "Remaining": top if remaining is None else remaining}

        return json_response(
            {
                "ConcurrentAsyncGetReportInstances": limit(200),
                "ConcurrentSyncReportRuns": limit(20),
                "DailyApiRequests": limit(maximum, max(0, maximum - allowance.used)),
                "DailyAsyncApexExecutions": limit(250000),
                "DailyBulkApiBatches": limit(15000),
                "DailyBulkV2QueryFileStorageMB": limit(976562),
                "DailyBulkV2QueryJobs": limit(10000),
                "DailyStreamingApiEvents": limit(1000000),
                "DailyWorkflowEmails": limit(2000),
                "DataStorageMB": limit(_DATA_STORAGE_MB, max(0, _DATA_STORAGE_MB - used_mb)),
                "FileStorageMB": limit(20480),
                "HourlyAsyncReportRuns": limit(1200),
                "HourlyTimeBasedWorkflow": limit(1000),
                "MassEmail": limit(5000),
                "SingleEmail": limit(5000),
                "StreamingApiConcurrentClients": limit(2000),
            }
        )
