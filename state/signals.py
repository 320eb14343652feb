"""Signals: what happened to an account, as plain frozen data with a natural key.

Signals are built by the shell from ChartMogul records (activities, invoice transactions,
customer snapshots) and fed to the lifecycle machine. ChartMogul rebuilds a customer's
activities with NEW uuids whenever its history changes, so a signal's ``key`` never uses a
uuid: it is made of what the event is (customer, subscription, kind, date, amount), which is
the same however many times the history is rebuilt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar, overload

__all__ = [
    "PAYING_STATUSES",
    "FailureExpired",
    "FirstCycleEnded",
    "MovementKind",
    "MrrMovement",
    "PaymentFailed",
    "PaymentRecovered",
    "Signal",
    "StatusObserved",
    "TrialStarted",
]


T = TypeVar("T")


class _once(Generic[T]):
    """``functools.cached_property`` without its lock: Python 3.11's takes an ``RLock`` on
    every first read, and a catch-up reads the key and the slot of a million movements once
    each (``make bench``). The value is computed from frozen fields, so two threads racing
    on it would only compute the same text twice. Non-data descriptor: once set, the
    instance's own attribute is read directly."""

    def __init__(self, func: Callable[[Any], T]) -> None:
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> _once[T]: ...
    @overload
    def __get__(self, instance: object, owner: type | None = None) -> T: ...
    def __get__(self, instance: object, owner: type | None = None) -> T | _once[T]:
        if instance is None:
            return self
        value = self.func(instance)
        instance.__dict__[self.name] = value
        return value


class MovementKind(StrEnum):
    """ChartMogul's five activity types."""

    NEW_BIZ = "new_biz"
    EXPANSION = "expansion"
    CONTRACTION = "contraction"
    CHURN = "churn"
    REACTIVATION = "reactivation"


@dataclass(frozen=True)
class MrrMovement:
    """One ChartMogul activity: a change of the customer's MRR."""

    customer_uuid: str
    at: datetime
    kind: MovementKind
    subscription: str  # subscription external id ("" when ChartMogul gives none)
    movement_cents: int  # signed delta
    mrr_cents: int  # the customer's MRR after the movement
    plan: str | None = None  # plan external id of the subscription after the movement
    description: str = ""
    currency: str | None = None  # the activity's (the account's); for words, not the key

    @_once  # asked for several times per activity: by the watermark, the applied
    def key(self) -> str:  # check, the lifecycle; a catch-up reads a million activities
        return (
            f"mrr|{self.customer_uuid}|{self.subscription}|{self.kind.value}|"
            f"{self.at.isoformat()}|{self.movement_cents}"
        )

    @_once
    def slot(self) -> str:
        """The movement's place (customer, subscription, moment) whatever its type and amount.

        ChartMogul regroups a customer's movements within the hour and retypes them
        afterwards (Smart Activity Classification, help article 4416682609426): a ``churn``
        read an hour ago comes back as a ``contraction`` at the same moment once the customer
        bought again. The key changes with the type; the slot does not, so the lifecycle can
        tell a retyped movement from a new one and raise nothing twice.
        """
        return f"mrrslot|{self.customer_uuid}|{self.subscription}|{self.at.isoformat()}"


@dataclass(frozen=True)
class PaymentFailed:
    """A failed payment transaction on an invoice."""

    customer_uuid: str
    at: datetime
    invoice: str  # invoice external id
    amount_cents: int
    currency: str | None = None  # the invoice's; for words, not the key

    @property
    def key(self) -> str:
        return f"payfail|{self.customer_uuid}|{self.invoice}|{self.at.isoformat()}"


@dataclass(frozen=True)
class PaymentRecovered:
    """A successful payment on an invoice that had failed before."""

    customer_uuid: str
    at: datetime
    invoice: str
    amount_cents: int
    currency: str | None = None

    @property
    def key(self) -> str:
        return f"payok|{self.customer_uuid}|{self.invoice}|{self.at.isoformat()}"


@dataclass(frozen=True)
class FailureExpired:
    """A failed payment neither recovered nor ended by churn for too long: settled or written
    off, it no longer puts the account at risk."""

    customer_uuid: str
    at: datetime
    invoice: str

    @property
    def key(self) -> str:
        return f"payexp|{self.customer_uuid}|{self.invoice}"


PAYING_STATUSES = frozenset({"Active", "Past Due"})


@dataclass(frozen=True)
class StatusObserved:
    """The customer record's status disagrees with the stage: a movement was never seen.

    ChartMogul back-dates activities (a deal imported at the start of its service period, a
    rebuilt history), so the poller can miss one; the customer record is the authority for
    where the customer stands now. ``as_of`` (the newest movement applied) makes the key
    unique per disagreement, so a later one is applied too.
    """

    customer_uuid: str
    at: datetime
    status: str
    as_of: datetime | None

    @property
    def paying(self) -> bool:
        return self.status in PAYING_STATUSES

    @property
    def key(self) -> str:
        stamp = self.as_of.isoformat() if self.as_of else "-"
        return f"status|{self.customer_uuid}|{self.status}|{stamp}"


@dataclass(frozen=True)
class TrialStarted:
    customer_uuid: str
    at: datetime

    @property
    def key(self) -> str:
        return f"trial|{self.customer_uuid}|{self.at.isoformat()}"


@dataclass(frozen=True)
class FirstCycleEnded:
    """The customer's first paid billing period is over: ``new`` becomes ``active``."""

    customer_uuid: str
    at: datetime

    @property
    def key(self) -> str:
        return f"cycle1|{self.customer_uuid}"


Signal = (
    MrrMovement
    | PaymentFailed
    | PaymentRecovered
    | FailureExpired
    | StatusObserved
    | TrialStarted
    | FirstCycleEnded
)
