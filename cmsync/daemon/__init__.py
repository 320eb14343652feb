"""The cmsync daemon: scheduled sync jobs, dashboard commands, heartbeat, clean shutdown."""

from __future__ import annotations

from cmsync.daemon.runner import JOBS, Daemon, JobSpec

__all__ = ["JOBS", "Daemon", "JobSpec"]
