"""Currency units: the API's minor-unit strings to major units, and rounding to the minor unit.

Money on ad objects (``amount_spent``, budgets, ``bid_amount``) comes as an integer string in
the currency's minor unit, "offset" in Meta's words: cents for USD, yen for JPY. Insights
``spend`` and action values come in major units already. Every money column is stored in major
units and rounded to the currency's minor unit, so sums reconcile to the cent (or to the yen).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

# Meta's currency table (developers.facebook.com/docs/marketing-api/currencies) gives every
# supported currency offset 100 except these, which have offset 1: amounts are whole units.
# This is Meta's own list and differs from ISO 4217 (HUF, ISK, COP and TWD have minor units
# in ISO but not in ads billing). The one place this list lives.
ZERO_DECIMAL_CURRENCIES = frozenset(
    {"CLP", "COP", "CRC", "HUF", "IDR", "ISK", "JPY", "KRW", "PYG", "TWD", "VND"}
)


def currency_offset(currency: str | None) -> int:
    """Minor units per major unit: 1 for zero-decimal currencies, 100 for all others."""
    return 1 if (currency or "").upper() in ZERO_DECIMAL_CURRENCIES else 100


def minor_unit_digits(currency: str | None) -> int:
    """Decimal places of the currency's minor unit: 0 (JPY, KRW, ...) or 2."""
    return 0 if currency_offset(currency) == 1 else 2


def minor_to_major(amount: object, currency: str | None) -> float | None:
    """``"123456"`` cents → ``1234.56``; ``"1200"`` yen → ``1200.0``; None or "" → None.

    Decimal arithmetic keeps large budgets exact before the single float conversion.
    """
    if amount is None or amount == "":
        return None
    try:
        minor = Decimal(str(amount))
    except InvalidOperation as error:
        raise ValueError(
            f"Money amount {amount!r} ({currency}) is not a number; the API sends minor units "
            "as integer strings such as '123456'."
        ) from error
    return float(round(minor / currency_offset(currency), minor_unit_digits(currency)))


def minor_unit_digits_sql(currency_column: str) -> str:
    """A SQL expression giving 0 or 2 for each row's currency, for ROUND() inside DuckDB."""
    codes = ", ".join(f"'{code}'" for code in sorted(ZERO_DECIMAL_CURRENCIES))
    return f"(CASE WHEN upper({currency_column}) IN ({codes}) THEN 0 ELSE 2 END)"
