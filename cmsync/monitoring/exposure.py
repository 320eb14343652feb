"""The metrics exposed two ways: a listener to scrape and a file for node_exporter.

- The listener (``metrics.listen``, off unless set) is prometheus_client's own HTTP server, in
  a thread of its own, answering ``GET /metrics`` from the daemon's registry. It has no TLS and
  no authentication, so the settings refuse a non-loopback address unless ``allow_remote`` is
  set: a Prometheus on the same VM scrapes it as is, one elsewhere through a proxy or a tunnel.
- The textfile (``metrics.textfile``) is for a VM that accepts no connection at all:
  node_exporter's textfile collector exports every ``*.prom`` file of its directory. Its
  README (prometheus/node_exporter, "Textfile Collector") asks for an atomic write, a
  temporary file in the same directory renamed over the old one, so node_exporter never reads
  half a file (the temporary name ends in ``.tmp``, not ``.prom``, so it is never read). The
  file is made readable by all (0644) whatever the umask: the unit runs cmsync with
  ``UMask=0077`` and node_exporter runs as another user. Written every
  ``metrics.textfile_every`` seconds in a worker thread; a failed write (a missing directory,
  a full disk) is logged once until one succeeds, and never stops the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from pathlib import Path
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, generate_latest, start_http_server

from cmsync.config import MetricsSettings
from cmsync.errors import FatalError

__all__ = ["MetricsExposure"]

log = logging.getLogger("cmsync.metrics")


class MetricsExposure:
    """The listener and the textfile of one registry; ``address`` is where the listener bound
    (the port the system chose when ``listen`` names port 0)."""

    def __init__(self, settings: MetricsSettings, registry: CollectorRegistry) -> None:
        self.settings = settings
        self.registry = registry
        self.address: tuple[str, int] | None = None
        self._server: WSGIServer | None = None
        self._failing = False

    def start(self) -> None:
        """Start the listener, if one is configured; a port taken stops the start, named."""
        wanted = self.settings.address
        if wanted is None:
            return
        host, port = wanted
        try:
            server, _thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            raise FatalError(
                f"metrics.listen {self.settings.listen}: cannot listen: {exc.strerror or exc}; "
                "choose a free port or leave metrics.listen unset"
            ) from None
        self._server = server
        self.address = (host, int(server.server_address[1]))
        log.info("metrics at http://%s:%d/metrics", host, self.address[1])

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def write_textfile(self) -> bool:
        """One atomic write of the textfile; False (logged once) when it failed."""
        path = self.settings.textfile
        if path is None:
            return False
        try:
            _write_atomically(path, generate_latest(self.registry))
        except OSError as exc:
            if not self._failing:
                log.warning("metrics: cannot write %s: %s", path, exc.strerror or exc)
            self._failing = True
            return False
        if self._failing:
            log.warning("metrics: %s written again", path)
        self._failing = False
        return True

    async def textfile_forever(self) -> None:
        """Write the textfile now and every ``textfile_every`` seconds until cancelled."""
        if self.settings.textfile is None:
            return
        while True:
            try:
                await asyncio.to_thread(self.write_textfile)
            except Exception as exc:  # the store unreadable mid-write, say: the next one
                log.warning("metrics: the textfile write failed: %s: %s", type(exc).__name__, exc)
            await asyncio.sleep(self.settings.textfile_every)


def _write_atomically(path: Path, data: bytes) -> None:
    """``data`` at ``path`` in one rename: a temporary file in the same directory (a rename
    across file systems would not be atomic), mode 0644, flushed to disk, then renamed."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), 0o644)  # not subject to the umask
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
