"""A system's credential gate as its request funnel uses it: the pure ``state.authgate`` plus
the lines an operator reads and the error a held-back call raises.

Each funnel (the Salesforce gateway's login, the ChartMogul transport) owns one
``CredentialGate``. While the service refuses cmsync's credentials:

- a call the backoff does not allow yet raises ``AuthFailingError`` without touching the
  network ("Salesforce authentication failing: <the server's reason>; check <settings>
  (next attempt in 37s)"), which is what a job's run records and ``cmsync status`` shows;
- ONE warning names the credential to fix (the setting and its file) with the server's
  reason; it is said again at most every ``repeat_warning`` seconds (10 minutes);
- the first accepted call logs one line, and everything resumes by itself.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable

from cmsync.errors import AuthFailingError
from state.authgate import AuthBackoff, AuthGate, whole_seconds

__all__ = ["CredentialGate"]

log = logging.getLogger("cmsync.auth")


class CredentialGate:
    """The gate of one system (``"Salesforce"``, ``"ChartMogul"``)."""

    def __init__(
        self,
        system: str,
        policy: AuthBackoff | None = None,
        *,
        now: Callable[[], float] = time.monotonic,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.system = system
        self.state = AuthGate(policy, now=now, draw=draw)
        self._check = ""  # the settings the last refusal named, for the short message

    def __repr__(self) -> str:
        return f"CredentialGate({self.system!r}, {self.state!r})"

    @property
    def failing(self) -> bool:
        return self.state.failing

    def _held(self, wait: float) -> AuthFailingError:
        seconds = whole_seconds(wait)
        when = f"next attempt in {seconds}s" if seconds else "an attempt is under way"
        return AuthFailingError(
            f"{self.system} authentication failing: {self.state.reason}; "
            f"check {self._check} ({when})",
            retry_in=wait,
        )

    def check(self) -> None:
        """Raise ``AuthFailingError`` unless a call may go now (while failing: the probe)."""
        wait = self.state.admit()
        if wait is not None:
            raise self._held(wait)

    def refused(self, reason: str, *, check: str, fix: str) -> AuthFailingError | None:
        """The service refused the credentials for ``reason``. ``check``: the settings to
        look at, short; ``fix``: the whole advice (settings, files, where in the service).
        None before any accepted call (the caller raises its own error, as at start);
        else the error to raise instead of the refusal."""
        self._check = check
        refusal = self.state.refused(reason)
        if refusal is None and not self.state.armed:
            return None
        if refusal is not None and refusal.warn:
            log.warning(
                "%s refused cmsync's credentials: %s. %s. Nothing is sent to %s until they "
                "work: the next attempt is in %ds, then less and less often (at most every "
                "%.0fs); syncing resumes by itself once one succeeds",
                self.system, reason, fix, self.system, whole_seconds(refusal.delay),
                self.state.policy.cap,
            )  # fmt: skip
        wait = self.state.wait()
        return self._held(wait if wait is not None else 0.0)

    def accepted(self) -> None:
        """A call went through: arm the gate, and say so if the credentials had failed."""
        recovery = self.state.accepted()
        if recovery is not None:
            log.warning(
                "%s accepts cmsync's credentials again after %ds and %d refused attempts; "
                "syncing resumes",
                self.system, whole_seconds(recovery.seconds), recovery.refusals,
            )  # fmt: skip

    def released(self) -> None:
        """The probe ended without a verdict on the credentials (timeout, 5xx)."""
        self.state.released()
