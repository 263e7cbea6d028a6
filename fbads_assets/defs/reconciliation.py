"""Ad-level rows against Meta's own account totals, per day, to the cent.

If the sum over ads differs from what the API reports for the whole account, rows are missing
(a deleted ad filtered out, a truncated page) or doubled, and no downstream number can be
trusted. Reach is not compared: it is unique per request and never adds up.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd

COMPARED = ("spend", "impressions", "clicks")


def reconcile(daily: pd.DataFrame, account_rows: list[dict], dates: list[dt.date]) -> pd.DataFrame:
    """One row per date and metric that disagree: date, metric, ad_level, account_level."""
    ad_level = _ad_level_sums(daily)
    account_level = {
        dt.date.fromisoformat(row["date_start"]): {
            metric: Decimal(str(row.get(metric, "0") or "0")) for metric in COMPARED
        }
        for row in account_rows
    }
    zero = dict.fromkeys(COMPARED, Decimal(0))
    mismatches = []
    for day in dates:
        ours = ad_level.get(day, zero)
        theirs = account_level.get(day, zero)
        for metric in COMPARED:
            places = Decimal("0.01") if metric == "spend" else Decimal(1)
            if ours[metric].quantize(places) != theirs[metric].quantize(places):
                mismatches.append(
                    {
                        "date": day.isoformat(),
                        "metric": metric,
                        "ad_level": str(ours[metric]),
                        "account_level": str(theirs[metric]),
                    }
                )
    return pd.DataFrame(mismatches, columns=["date", "metric", "ad_level", "account_level"])


def _ad_level_sums(daily: pd.DataFrame) -> dict[dt.date, dict[str, Decimal]]:
    if daily.empty:
        return {}
    days = pd.to_datetime(daily["date_start"]).dt.date
    grouped = daily.groupby(days)[list(COMPARED)].sum(min_count=1).fillna(0)
    return {
        day: {
            # Spend is rounded to the cent once, after summing, as Meta rounds its totals.
            "spend": Decimal(repr(float(row["spend"]))).quantize(Decimal("0.01")),
            "impressions": Decimal(int(row["impressions"])),
            "clicks": Decimal(int(row["clicks"])),
        }
        for day, row in grouped.iterrows()
    }
