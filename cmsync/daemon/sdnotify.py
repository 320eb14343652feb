"""systemd's notify protocol: readiness, watchdog pings, stopping and a status line.

The unit is ``Type=notify`` with ``WatchdogSec`` (``cmsync/admin/cmsync.service``). systemd
hands the service a socket in ``$NOTIFY_SOCKET`` and reads newline-separated ``KEY=VALUE``
assignments from datagrams sent to it (sd_notify(3), "NOTES": the variable holds the path of
an AF_UNIX socket, or an abstract-namespace one when it starts with ``@``; each message is
one datagram). The daemon says:

- ``READY=1`` after its first refresh: systemd holds the start (and units ordered after it)
  until then, and starts the watchdog clock;
- ``WATCHDOG=1`` at each heartbeat that was stored: a hung loop stops pinging, and systemd
  kills and restarts the daemon after ``WatchdogSec`` (``Restart=on-failure`` covers it);
- ``STOPPING=1`` when SIGTERM or SIGINT begins the shutdown;
- ``STATUS=...``, one short line ``systemctl status cmsync`` shows.

No dependency: the protocol is one ``sendto``. Without ``$NOTIFY_SOCKET`` (not under
systemd, or another ``Type=``) nothing is sent. A datagram that cannot be sent is logged once
and never stops the daemon: the watchdog, if it is on, will say the rest. The variable is
read by the CLI, the composition root, as every other setting from the environment is.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Mapping

__all__ = ["NOTIFY_SOCKET", "Notifier", "SystemdNotifier", "notifier_from_environment"]

log = logging.getLogger("cmsync.daemon")

NOTIFY_SOCKET = "NOTIFY_SOCKET"
STATUS_CHARS = 200  # a line for `systemctl status`, not a report


class Notifier:
    """Tells the service manager nothing: the daemon outside systemd's notify protocol."""

    def ready(self, status: str) -> None:
        """The first refresh succeeded: the daemon is up."""

    def watchdog(self, status: str | None = None) -> None:
        """A heartbeat was stored: the daemon's loop is alive."""

    def stopping(self, status: str) -> None:
        """The shutdown began."""

    def status(self, status: str) -> None:
        """A new status line."""


def _address(value: str) -> str:
    """The socket address ``$NOTIFY_SOCKET`` names: ``@`` is the abstract namespace's NUL."""
    return "\0" + value[1:] if value.startswith("@") else value


class SystemdNotifier(Notifier):
    """Sends the notify protocol's datagrams to the socket at ``address``."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._failed = False

    def _send(self, *assignments: str) -> None:
        message = "\n".join(assignments).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(message, _address(self.address))
        except OSError as exc:
            if not self._failed:  # once: a watchdog ping every few seconds would flood
                log.warning("cannot notify systemd at %s: %s", self.address, exc)
            self._failed = True
        else:
            self._failed = False

    @staticmethod
    def _status(text: str) -> str:
        return "STATUS=" + " ".join(text.split())[:STATUS_CHARS]

    def ready(self, status: str) -> None:
        self._send("READY=1", self._status(status))

    def watchdog(self, status: str | None = None) -> None:
        if status is None:
            self._send("WATCHDOG=1")
        else:
            self._send("WATCHDOG=1", self._status(status))

    def stopping(self, status: str) -> None:
        self._send("STOPPING=1", self._status(status))

    def status(self, status: str) -> None:
        self._send(self._status(status))


def notifier_from_environment(environ: Mapping[str, str]) -> Notifier:
    """A notifier for ``$NOTIFY_SOCKET`` when systemd set it, else one that says nothing."""
    address = environ.get(NOTIFY_SOCKET, "")
    return SystemdNotifier(address) if address else Notifier()
