"""Exchange rates: a fixed stand-in for ChartMogul's daily rates, with optional dated changes.

ChartMogul reports every figure in the account currency: invoices in other currencies are
converted, so the activity feed's ``activity-mrr-movement`` and ``activity-mrr`` and the
customer's ``mrr`` are account-currency amounts, while an invoice keeps its own ``currency``.
Real recordings show both halves of it: a 10,000 cent EUR line showed as 10,908 in a USD
account (a rate of 1.0908), and a churn of -780 undid a new_biz of +756 of the same
subscription: each movement is converted at the rate of its own date, so exchange-rate drift
moves a customer's MRR without any movement.

ChartMogul takes a rate per day from its provider; the sandbox has one fixed table
(``BASE_USD_PER_UNIT``, EUR at the recorded 1.0908, the others round figures of late 2026),
to which tests and the operator can add dated changes (``RateSchedule.change``): from that
moment of the emulated clock the new rates apply, customers' MRR follows them, the feed keeps
what it had.

Amounts are integer cents; a rate is an integer of millionths of a US dollar per unit of the
currency, so a conversion is one integer division rounded half away from zero (no float
drift), through USD for two non-USD currencies.

Which codes exist: ISO 4217's active codes (``ISO_4217``). The real import refuses an
invoice whose currency is not one (422). A valid code the sandbox's table has no rate for is
refused too (see ``Invoices``): that is the sandbox's limit, not ChartMogul's.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping

__all__ = [
    "BASE_USD_PER_UNIT",
    "ISO_4217",
    "RateSchedule",
    "currency_sign",
]

# ISO 4217 active currency codes (the "List One" table of the ISO 4217 maintenance agency).
_ISO_4217_CODES = """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD
    BTN BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP
    DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR
    IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD
    MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB
    PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD
    SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS
    VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG ZWL
"""
ISO_4217: frozenset[str] = frozenset(_ISO_4217_CODES.split())

_MICRO = 1_000_000

# Millionths of a US dollar per unit. EUR is the recorded rate (10,000 EUR cents showed as
# 10,908 USD cents); the others are fixed round figures, not anyone's quote.
BASE_USD_PER_UNIT: Mapping[str, int] = {
    "USD": 1_000_000,
    "EUR": 1_090_800,
    "GBP": 1_270_000,
    "CHF": 1_130_000,
    "CAD": 730_000,
    "AUD": 660_000,
    "NZD": 600_000,
    "JPY": 6_700,
    "SEK": 95_000,
    "NOK": 93_000,
    "DKK": 146_000,
    "PLN": 250_000,
    "CZK": 43_000,
    "HUF": 2_800,
    "INR": 12_000,
    "BRL": 180_000,
    "MXN": 55_000,
    "SGD": 750_000,
    "HKD": 128_000,
    "ZAR": 55_000,
    "ILS": 270_000,
    "AED": 272_300,
    "CNY": 138_000,
    "KRW": 720,
    "TRY": 29_000,
}

_SIGNS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CHF": "CHF", "INR": "₹"}


def currency_sign(code: str) -> str:
    """The ``currency-sign`` ChartMogul shows next to figures (``$`` recorded for USD)."""
    return _SIGNS.get(code, code)


def _round_div(numerator: int, denominator: int) -> int:
    quotient, remainder = divmod(abs(numerator), denominator)
    if 2 * remainder >= denominator:
        quotient += 1
    return quotient if numerator >= 0 else -quotient


class RateSchedule:
    """The rates of one account: the base table, then dated changes, converting into the
    account currency. Implements the engine's ``Converter``."""

    def __init__(
        self, account_currency: str = "USD", base: Mapping[str, int] = BASE_USD_PER_UNIT
    ) -> None:
        if account_currency not in base:
            raise ValueError(f"no rate for the account currency {account_currency!r}")
        self.account_currency = account_currency
        self._moments: list[int] = []
        self._tables: list[dict[str, int]] = [dict(base)]

    def knows(self, code: str) -> bool:
        """Whether every moment's table has a rate for ``code``."""
        return code in self._tables[0]

    def moments(self) -> tuple[int, ...]:
        """When the rates change (epoch seconds, ascending)."""
        return tuple(self._moments)

    def table_at(self, at: int) -> Mapping[str, int]:
        return self._tables[bisect_right(self._moments, at)]

    def convert(self, cents: int, currency: str, at: int) -> int:
        """``cents`` of ``currency`` in account-currency cents at the rates in force at ``at``."""
        if currency == self.account_currency or not cents:
            return cents
        table = self.table_at(at)
        return _round_div(cents * table[currency], table[self.account_currency])

    def change(self, at: int, rates: Mapping[str, int]) -> None:
        """From ``at`` until the next scheduled change, ``rates`` (millionths of USD per unit)
        replace the ones in force."""
        for code, value in rates.items():
            if code not in self._tables[0]:
                raise ValueError(f"no base rate for {code!r}")
            if value <= 0:
                raise ValueError(f"a rate must be positive: {code}={value}")
        index = bisect_right(self._moments, at)
        if index and self._moments[index - 1] == at:
            self._tables[index].update(rates)
            return
        table = dict(self._tables[index])
        table.update(rates)
        self._moments.insert(index, at)
        self._tables.insert(index + 1, table)

    def describe(self) -> list[dict[str, object]]:
        """The schedule as JSON-able rows: ``at`` (None for the base) and the rates."""
        rows: list[dict[str, object]] = [{"at": None, "usd_per_unit": dict(self._tables[0])}]
        for at, table in zip(self._moments, self._tables[1:], strict=True):
            rows.append({"at": at, "usd_per_unit": dict(table)})
        return rows

    @staticmethod
    def parse_rate(value: object) -> int:
        """A rate given as a decimal number of USD per unit (``1.0908``) in millionths."""
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError(f"a rate must be a number, not {value!r}")
        micro = round(float(value) * _MICRO)
        if micro <= 0:
            raise ValueError(f"a rate must be positive, not {value!r}")
        return micro
