"""The project's settings, read once from the environment and checked before anything runs.

Every error names the variable and what to do, so a typo fails at load time in the UI's code
location panel rather than hours later inside a run. The access token itself is not read here:
it only ever travels as ``dg.EnvVar("FACEBOOK_ACCESS_TOKEN")`` (see ``resources.py``).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# Meta keeps insights for 37 months; older start dates fail with error 3018.
LOOKBACK_MONTHS = 37
# Attribution settles within 28 days, after which Meta says a day's numbers no longer change.
DEFAULT_RESYNC_DAYS = 28
DEFAULT_HISTORY_DAYS = 90
DEFAULT_DUCKDB_PATH = "data/fbads.duckdb"
DEFAULT_DATASET = "facebook_ads"
DEFAULT_GRAPH_URL = "https://graph.facebook.com"
ACCOUNT_ID_PATTERN = re.compile(r"^(?:act_)?(\d{1,20})$")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names it and says what to set."""


@dataclass(frozen=True)
class Settings:
    env: str
    duckdb_path: Path
    graph_url: str
    start_date: dt.date
    resync_days: int
    account_ids: tuple[str, ...]
    bigquery_project: str | None
    bigquery_dataset: str
    bigquery_location: str | None
    has_access_token: bool
    app_id: str | None
    has_app_secret: bool

    @property
    def is_prod(self) -> bool:
        return self.env == "prod"

    @property
    def uses_sandbox(self) -> bool:
        """Local runs without a token read the built-in Marketing API sandbox."""
        return not self.is_prod and not self.has_access_token


def earliest_allowed_start(today: dt.date) -> dt.date:
    """The first report date Meta still serves: 37 months back, clamped to a valid day."""
    months = today.year * 12 + today.month - 1 - LOOKBACK_MONTHS
    year, month = divmod(months, 12)
    day = min(today.day, 28)
    return dt.date(year, month + 1, day)


def parse_account_ids(raw: str | None) -> tuple[str, ...]:
    """``"act_1, 2"`` → ``("1", "2")``: the digits, as the tables store them."""
    if not raw or not raw.strip():
        return ()
    ids: list[str] = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        match = ACCOUNT_ID_PATTERN.match(part)
        if not match:
            raise SettingsError(
                f"FACEBOOK_AD_ACCOUNT_IDS has {part!r}, which is not an ad account id. "
                "Use a comma list of ids such as 'act_1234567890,987654321'."
            )
        if match.group(1) not in ids:
            ids.append(match.group(1))
    return tuple(ids)


def _parse_start_date(raw: str | None, today: dt.date) -> dt.date:
    if not raw or not raw.strip():
        return today - dt.timedelta(days=DEFAULT_HISTORY_DAYS)
    try:
        start = dt.date.fromisoformat(raw.strip())
    except ValueError:
        raise SettingsError(
            f"FBADS_START_DATE={raw!r} is not a date. Use YYYY-MM-DD, e.g. 2026-01-01."
        ) from None
    if start >= today:
        raise SettingsError(
            f"FBADS_START_DATE={start} is not in the past. Set it to the first report date "
            "to load, at the latest yesterday."
        )
    earliest = earliest_allowed_start(today)
    if start < earliest:
        raise SettingsError(
            f"FBADS_START_DATE={start} is more than {LOOKBACK_MONTHS} months back; Meta serves "
            f"insights from {earliest} on (error 3018). "
            f"Set FBADS_START_DATE to {earliest} or later."
        )
    return start


def _parse_resync_days(raw: str | None, start: dt.date, today: dt.date) -> int:
    if not raw or not raw.strip():
        return DEFAULT_RESYNC_DAYS
    try:
        days = int(raw.strip())
    except ValueError:
        raise SettingsError(
            f"FBADS_RESYNC_DAYS={raw!r} is not a whole number of days. The default is "
            f"{DEFAULT_RESYNC_DAYS}, the window in which Meta restates conversions."
        ) from None
    limit = (today - earliest_allowed_start(today)).days
    if days <= 0 or days > limit:
        raise SettingsError(
            f"FBADS_RESYNC_DAYS={days} is out of range: use 1 to {limit} (Meta's "
            f"{LOOKBACK_MONTHS}-month lookback). {DEFAULT_RESYNC_DAYS} covers late attribution."
        )
    return days


def load_settings(
    environ: Mapping[str, str] | None = None, today: dt.date | None = None
) -> Settings:
    """Reads and checks every ``FBADS_*`` and ``FACEBOOK_*`` setting.

    Args:
        environ: the environment to read; ``os.environ`` by default.
        today: the date to check dates against; the UTC date by default.
    """
    env_vars = os.environ if environ is None else environ
    today = today or dt.datetime.now(dt.UTC).date()

    env = (env_vars.get("FBADS_ENV") or "local").strip().lower()
    if env not in ("local", "prod"):
        raise SettingsError(
            f"FBADS_ENV={env!r} is not known. Use 'local' (DuckDB) or 'prod' (BigQuery)."
        )

    graph_url = (env_vars.get("FBADS_GRAPH_URL") or DEFAULT_GRAPH_URL).strip().rstrip("/")
    if not re.match(r"^https?://[^\s/]+", graph_url):
        raise SettingsError(
            f"FBADS_GRAPH_URL={graph_url!r} is not an http(s) URL. "
            f"Leave it unset for {DEFAULT_GRAPH_URL}."
        )

    start = _parse_start_date(env_vars.get("FBADS_START_DATE"), today)
    app_id = (env_vars.get("FACEBOOK_APP_ID") or "").strip() or None
    has_app_secret = bool((env_vars.get("FACEBOOK_APP_SECRET") or "").strip())
    if has_app_secret and not app_id:
        raise SettingsError(
            "FACEBOOK_APP_SECRET is set but FACEBOOK_APP_ID is not. Set both (App Dashboard → "
            "Settings → Basic) or neither."
        )
    if app_id and not app_id.isdigit():
        raise SettingsError(f"FACEBOOK_APP_ID={app_id!r} is not a numeric app id.")

    settings = Settings(
        env=env,
        duckdb_path=Path(env_vars.get("FBADS_DUCKDB_PATH") or DEFAULT_DUCKDB_PATH),
        graph_url=graph_url,
        start_date=start,
        resync_days=_parse_resync_days(env_vars.get("FBADS_RESYNC_DAYS"), start, today),
        account_ids=parse_account_ids(env_vars.get("FACEBOOK_AD_ACCOUNT_IDS")),
        bigquery_project=(env_vars.get("FBADS_BIGQUERY_PROJECT") or "").strip() or None,
        bigquery_dataset=(env_vars.get("FBADS_BIGQUERY_DATASET") or DEFAULT_DATASET).strip(),
        bigquery_location=(env_vars.get("FBADS_BIGQUERY_LOCATION") or "").strip() or None,
        has_access_token=bool((env_vars.get("FACEBOOK_ACCESS_TOKEN") or "").strip()),
        app_id=app_id,
        has_app_secret=has_app_secret,
    )

    if settings.is_prod:
        missing = [
            name
            for name, ok in (
                ("FACEBOOK_ACCESS_TOKEN", settings.has_access_token),
                ("FBADS_BIGQUERY_PROJECT", settings.bigquery_project),
                ("FBADS_BIGQUERY_DATASET", settings.bigquery_dataset),
            )
            if not ok
        ]
        if missing:
            raise SettingsError(
                f"FBADS_ENV=prod needs {', '.join(missing)}. Production never falls back to "
                "the sandbox; set them (see README, 'Production on BigQuery')."
            )
    return settings
