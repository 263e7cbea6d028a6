"""Settings are checked when the code location loads; every error names the variable."""

import datetime as dt
import os
import subprocess
import sys

import pytest

from fbads_assets.settings import SettingsError, earliest_allowed_start, load_settings

TODAY = dt.date(2026, 12, 3)


def load(**env: str):
    return load_settings(env, today=TODAY)


def test_defaults_are_local_duckdb_sandbox_and_a_28_day_resync():
    settings = load()
    assert settings.env == "local" and settings.uses_sandbox
    assert str(settings.duckdb_path) == "data/fbads.duckdb"
    assert settings.resync_days == 28
    assert settings.start_date == TODAY - dt.timedelta(days=90)


def test_account_ids_accept_act_prefixes_and_deduplicate():
    settings = load(FACEBOOK_AD_ACCOUNT_IDS=" act_123, 456 ,act_123,")
    assert settings.account_ids == ("123", "456")


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"FBADS_START_DATE": "2026-13-01"}, "FBADS_START_DATE"),
        ({"FBADS_START_DATE": "yesterday"}, "FBADS_START_DATE"),
        ({"FBADS_START_DATE": "2026-12-03"}, "FBADS_START_DATE"),  # today is not in the past
        ({"FBADS_START_DATE": "2027-01-01"}, "FBADS_START_DATE"),
        ({"FBADS_START_DATE": "2023-01-01"}, "FBADS_START_DATE"),  # beyond 37 months (3018)
        ({"FBADS_RESYNC_DAYS": "0"}, "FBADS_RESYNC_DAYS"),
        ({"FBADS_RESYNC_DAYS": "-3"}, "FBADS_RESYNC_DAYS"),
        ({"FBADS_RESYNC_DAYS": "2000"}, "FBADS_RESYNC_DAYS"),
        ({"FBADS_RESYNC_DAYS": "a week"}, "FBADS_RESYNC_DAYS"),
        ({"FACEBOOK_AD_ACCOUNT_IDS": "act_12,my-shop"}, "FACEBOOK_AD_ACCOUNT_IDS"),
        ({"FBADS_ENV": "staging"}, "FBADS_ENV"),
        ({"FBADS_GRAPH_URL": "graph.facebook.com"}, "FBADS_GRAPH_URL"),
        ({"FACEBOOK_APP_SECRET": "s3cret-value"}, "FACEBOOK_APP_ID"),
        ({"FBADS_ENV": "prod", "FBADS_BIGQUERY_PROJECT": "p"}, "FACEBOOK_ACCESS_TOKEN"),
        ({"FBADS_ENV": "prod", "FACEBOOK_ACCESS_TOKEN": "sbx-x"}, "FBADS_BIGQUERY_PROJECT"),
    ],
)
def test_bad_settings_fail_naming_the_variable(env, named):
    with pytest.raises(SettingsError, match=named) as error:
        load(**env)
    assert "s3cret-value" not in str(error.value)


def test_the_lookback_limit_is_37_months_back():
    assert earliest_allowed_start(TODAY) == dt.date(2023, 11, 3)
    assert load(FBADS_START_DATE="2023-11-03").start_date == dt.date(2023, 11, 3)


def test_prod_never_falls_back_to_the_sandbox():
    settings = load(
        FBADS_ENV="prod", FACEBOOK_ACCESS_TOKEN="sbx-x", FBADS_BIGQUERY_PROJECT="example"
    )
    assert settings.is_prod and not settings.uses_sandbox
    assert settings.bigquery_dataset == "facebook_ads"


def test_loading_the_code_location_with_a_bad_setting_says_which_one():
    env = {**os.environ, "FBADS_RESYNC_DAYS": "0"}
    result = subprocess.run(
        [sys.executable, "-c", "import fbads_assets.definitions"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "FBADS_RESYNC_DAYS=0 is out of range" in result.stderr
