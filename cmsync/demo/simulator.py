"""A live SaaS business on the sandbox: one seeded event every 0.3 to 1 seconds.

Theory of operation. The simulator thread wakes up, picks a kind of event and has the billing
side (``billing.Billing``, the ChartMogul emulator) or the CRM side (``crm.Crm``, the
Salesforce emulator) carry it out on a customer or record it picks, then sleeps a random pace.
The first events follow ``OPENING``, one of each kind with a won deal first, so even a short
run shows every use case (and always a Closed-Won deal); later ones are drawn by ``WEIGHTS``.
A kind with nothing to act on (no failed payment old enough to recover, no churned customer
to come back) is replaced by another draw.

Everything random comes from one ``random.Random`` seeded with the demo's seed, and every
candidate list is in a stable order, so the same seed against the same sandbox state makes the
same choices. (Live, the daemon's own writes, such as the customers Closed-Won deals create,
change that state, so two live runs agree only as far as the timing does.)

The stores lock themselves; the emulators keep serving HTTP on their own event loop meanwhile.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from cmsync.demo.billing import Billing
from cmsync.demo.crm import Crm, Ground
from cmsync.demo.events import Action, ActionKind, ActionLog
from cmsync.sandbox.runner import RunningSandbox

__all__ = ["OPENING", "WEIGHTS", "Simulator", "choose"]

log = logging.getLogger("cmsync.demo")

K = ActionKind
OPENING: tuple[ActionKind, ...] = (
    K.NEW_DEAL_WON, K.UPGRADE, K.PAYMENT_FAILED, K.NEW_CONTACT, K.DOWNGRADE, K.DEAL_WON,
    K.CHURN, K.LEAD_CONVERTED, K.BACKFILL, K.REACTIVATION, K.PAYMENT_RECOVERED, K.MERGE,
)  # fmt: skip
WEIGHTS: tuple[tuple[ActionKind, int], ...] = (
    (K.UPGRADE, 16), (K.DOWNGRADE, 9), (K.PAYMENT_FAILED, 8), (K.PAYMENT_RECOVERED, 10),
    (K.CHURN, 5), (K.REACTIVATION, 5), (K.DEAL_WON, 6), (K.NEW_DEAL_WON, 4),
    (K.NEW_CONTACT, 9), (K.LEAD_CONVERTED, 6), (K.BACKFILL, 4), (K.MERGE, 2),
)  # fmt: skip
DRAWS = 6  # draws per event before giving up on this tick
PACE = (0.3, 1.0)  # seconds between events

Actor = Callable[[random.Random], Action | None]


def choose(
    rng: random.Random,
    position: int,
    opening: Sequence[ActionKind] = OPENING,
    weights: Sequence[tuple[ActionKind, int]] = WEIGHTS,
) -> list[ActionKind]:
    """The kinds to try, in order, for the event at ``position`` (0 for the first)."""
    kinds = [k for k, _ in weights]
    draws = rng.choices(kinds, [w for _, w in weights], k=DRAWS)
    if position < len(opening):
        return [opening[position], *draws]
    return draws


class Simulator:
    """The business: ``step`` makes one event happen; ``start``/``stop`` run it in a thread."""

    def __init__(
        self, billing: Billing, crm: Crm, *, seed: int, pace: tuple[float, float] = PACE
    ) -> None:
        self.billing = billing
        self.crm = crm
        self.rng = random.Random(f"cmsync-demo|{seed}")
        self.pace = pace
        self.log = ActionLog()
        self.errors: list[str] = []
        self._position = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._actors: dict[ActionKind, Actor] = {
            K.UPGRADE: billing.upgrade,
            K.DOWNGRADE: billing.downgrade,
            K.PAYMENT_FAILED: billing.fail_payment,
            K.PAYMENT_RECOVERED: billing.recover_payment,
            K.CHURN: billing.churn,
            K.REACTIVATION: billing.reactivate,
            K.BACKFILL: billing.backfill,
            K.MERGE: billing.merge,
            K.DEAL_WON: crm.close_open_deal,
            K.NEW_DEAL_WON: crm.new_deal,
            K.NEW_CONTACT: crm.new_contact,
            K.LEAD_CONVERTED: crm.convert_lead,
        }

    @classmethod
    def for_sandbox(cls, sandbox: RunningSandbox, *, seed: int) -> Simulator:
        """A simulator acting on ``sandbox``'s emulators, on its clock."""
        clock = sandbox.ctx.clock
        ds = sandbox.seeded.data_source_uuid
        billing = Billing(sandbox.chartmogul.store, clock, ds, prefix=f"demo{seed}")
        ground = Ground.load(Path(sandbox.options.directory).resolve() / "scenario.json")
        crm = Crm(sandbox.salesforce.store, clock, ground, billing)
        return cls(billing, crm, seed=seed)

    @property
    def deals(self) -> list[str]:
        """Opportunity Ids the business won so far (the Closed-Won sync must import each)."""
        return list(self.crm.deals)

    def step(self) -> Action | None:
        """Make one event happen; None if nothing could (every draw had nothing to act on)."""
        kinds = choose(self.rng, self._position)
        self._position += 1
        for kind in kinds:
            action = self._actors[kind](self.rng)
            if action is not None:
                self.log.add(action)
                log.info("%s: %s", action.kind, action.detail)
                return action
        return None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception as exc:
                # A refused write is a bug in the simulator, not in cmsync: say so, go on.
                log.exception("the simulated business failed to act")
                self.errors.append(f"{type(exc).__name__}: {exc}")
            self._stop.wait(self.rng.uniform(*self.pace))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="demo-business", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
