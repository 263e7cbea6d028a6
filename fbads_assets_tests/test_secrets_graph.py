"""No token, app secret or appsecret_proof anywhere a run leaves traces, even when runs fail.

Runs the project's own jobs with the token and app secret from the environment (as production
does) against a sandbox that enforces appsecret_proof, hits the API's failure classes, then
reads every log line, exception text, file under DAGSTER_HOME and value in the DuckDB file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging

import dagster as dg
import duckdb
import pytest

from fbads_assets.api import client as client_module
from fbads_assets.api.clock import FakeClock
from fbads_assets.resources import FacebookAdsResource
from fbads_assets.sandbox import FaultRule, SandboxConfig, run_sandbox
from fbads_assets_tests.graph_support import GraphRunner, dagster_home, graph_definitions

APP_ID = "100000000000042"
APP_SECRET = "sandbox-app-secret-for-leak-test"

FAILURES = [
    FaultRule(kind="html_502", path=r"/insights$", times=1),
    FaultRule(kind="drop_connection", path=r"/ads$", times=1),
    FaultRule(kind="transient", path=r"/campaigns$", times=1),
    FaultRule(kind="empty_page_with_next", path=r"/insights$", times=1),
    FaultRule(kind="reduce_data", path=r"/insights$", times=1),
    FaultRule(kind="job_failed", method="POST", times=1),
    FaultRule(kind="invalid_token", params={"subcode": 463}),
]


def secrets_in(text: str, secrets: list[str]) -> list[str]:
    return [s for s in secrets if s in text]


@pytest.fixture
def leak_world(tmp_path, monkeypatch):
    config = SandboxConfig(
        seed=5,
        accounts=2,
        campaigns_per_account=2,
        adsets_per_campaign=1,
        ads_per_adset=2,
        history_days=30,
        app_id=APP_ID,
        app_secret=APP_SECRET,
    )
    with run_sandbox(config) as sandbox:
        token = sandbox.tokens["system_user"]
        monkeypatch.setenv("FACEBOOK_ACCESS_TOKEN", token)
        monkeypatch.setenv("FACEBOOK_APP_ID", APP_ID)
        monkeypatch.setenv("FACEBOOK_APP_SECRET", APP_SECRET)
        facebook = FacebookAdsResource(
            access_token=dg.EnvVar("FACEBOOK_ACCESS_TOKEN"),
            app_id=dg.EnvVar("FACEBOOK_APP_ID"),
            app_secret=dg.EnvVar("FACEBOOK_APP_SECRET"),
            graph_url=sandbox.base_url,
        )
        proof = hmac.new(APP_SECRET.encode(), token.encode(), hashlib.sha256).hexdigest()
        yield sandbox, facebook, [token, APP_SECRET, proof]


def test_runs_that_fail_in_every_way_leave_no_secret_behind(
    leak_world, tmp_path, caplog, capfd, monkeypatch
):
    sandbox, facebook, secrets = leak_world
    # Retries back off for seconds of real time; the client's clock seam skips the waiting.
    monkeypatch.setattr(client_module, "SystemClock", FakeClock)
    home = tmp_path / "dagster_home"
    database = tmp_path / "fbads.duckdb"
    caplog.set_level(logging.DEBUG)
    logging.getLogger().setLevel(logging.DEBUG)  # what a verbose user would do
    exception_texts = []

    with dagster_home(home) as instance:
        runner = GraphRunner(graph_definitions(database, facebook), instance, database)
        account_id = runner.accounts()[0]
        day = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=3)
        for rule in FAILURES:
            sandbox.faults.clear()
            sandbox.faults.add(rule)
            for result in (
                runner.objects(account_id) if "insights" not in (rule.path or "insights") else None,
                runner.insights(account_id, day - dt.timedelta(days=2), day, raise_on_error=False),
            ):
                if result is None:
                    continue
                for event in result.get_step_failure_events():
                    exception_texts.append(event.step_failure_data.error.to_string())
        failed_runs = [r for r in instance.get_runs() if r.status == dg.DagsterRunStatus.FAILURE]

    assert failed_runs, "the invalid token must fail a run, or this test proves nothing"
    assert any("190" in text for text in exception_texts)
    for text in exception_texts:
        assert not secrets_in(text, secrets), text
    logged = "\n".join(r.getMessage() for r in caplog.records)
    captured = capfd.readouterr()
    assert not secrets_in(logged + captured.out + captured.err, secrets)

    files = [path for path in home.rglob("*") if path.is_file()]
    assert files, "DAGSTER_HOME should hold the event log and compute logs"
    for path in files:
        data = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in data, f"{secret[:4]}… found in {path}"

    assert not any(s.encode() in database.read_bytes() for s in secrets)
    with duckdb.connect(str(database), read_only=True) as connection:
        columns = connection.sql(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'facebook_ads' AND data_type = 'VARCHAR'"
        ).fetchall()
        for table, column in columns:
            for secret in secrets:
                hits = connection.execute(
                    f'SELECT count(*) FROM facebook_ads.{table} WHERE "{column}" LIKE ?',
                    [f"%{secret}%"],
                ).fetchone()[0]
                assert hits == 0, f"secret in {table}.{column}"
