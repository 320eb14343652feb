"""Monitoring and alerts: Prometheus metrics read from the store at scrape time (``metrics``),
exposed by a loopback listener and a node_exporter textfile (``exposure``), and alerts POSTed
to an incoming webhook when a condition starts and when it clears (``alerts``)."""

from cmsync.monitoring.alerts import AlertSender
from cmsync.monitoring.exposure import MetricsExposure
from cmsync.monitoring.metrics import StoreCollector, metrics_registry

__all__ = ["AlertSender", "MetricsExposure", "StoreCollector", "metrics_registry"]
