"""FacebookAdsResource inside Dagster: EnvVar secrets, sandbox mode, and no secret left behind.

The leak test materializes small assets that use the resource through dg.EnvVar against a
sandbox enforcing appsecret_proof, hits several failure classes (some retried to success, one
fatal), then searches every file under DAGSTER_HOME, every captured log line and output, and
every exception text for the token, the app secret and the proof.
"""

import datetime as dt
import logging
import socket

import dagster as dg
import pytest
import requests

from fbads_assets.api.clock import FakeClock
from fbads_assets.api.errors import MarketingApiError
from fbads_assets.api.transport import appsecret_proof
from fbads_assets.resources import FacebookAdsResource
from fbads_assets.sandbox import FaultRule, SandboxConfig, run_sandbox

APP_ID = "100000000000077"
APP_SECRET = "sandbox-app-secret-for-resource-test"
UNTIL = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=3)
SINCE = UNTIL - dt.timedelta(days=2)

RECOVERABLE = [
    FaultRule(kind="transient", path=r"/adaccounts$", times=1),
    FaultRule(kind="html_502", path=r"/campaigns$", times=1),
    FaultRule(kind="drop_connection", path=r"/ads$", times=1),
    FaultRule(kind="rate_limit", path=r"/insights$", times=1,
              params={"code": 80000, "subcode": 2446079, "minutes": 60}),
    FaultRule(kind="empty_page_with_next", path=r"/insights$", method="GET", times=1),
    FaultRule(kind="reduce_data", path=r"/insights$", method="POST", times=1),
    FaultRule(kind="job_failed", times=1),
]  # fmt: skip


@dg.asset
def api_probe(context: dg.AssetExecutionContext, facebook: FacebookAdsResource):
    """Reads every kind of thing through the resource, as the project's assets do."""
    client = facebook.get_client()
    client.clock = FakeClock()  # back-offs advance simulated time: the hour-long wait is free
    info = facebook.inspect_token()
    account = client.list_ad_accounts(["id", "name"])[0]["id"]
    campaigns = client.list_objects(account, "campaigns", ["id", "name"])
    ads = client.list_objects(account, "ads", ["id", "name"])
    report = client.insights(account, SINCE, UNTIL, fields=["ad_id", "spend", "impressions"])
    context.log.info(f"{info.type}: {len(campaigns)} campaigns, {len(ads)} ads")
    return dg.MaterializeResult(metadata={"rows": len(report.rows), **client.stats.as_metadata()})


@dg.asset
def unreachable_probe(facebook: FacebookAdsResource):
    """Calls a Graph URL where nothing listens: requests puts the whole URL in its error."""
    client = facebook.get_client()
    client.clock = FakeClock()
    return client.list_ad_accounts(["id"])


def closed_loopback_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def secure_sandbox(monkeypatch):
    config = SandboxConfig(seed=5, accounts=2, app_id=APP_ID, app_secret=APP_SECRET)
    with run_sandbox(config) as sandbox:
        token = sandbox.tokens["system_user"]
        monkeypatch.setenv("FACEBOOK_ACCESS_TOKEN", token)
        monkeypatch.setenv("FACEBOOK_APP_ID", APP_ID)
        monkeypatch.setenv("FACEBOOK_APP_SECRET", APP_SECRET)
        secrets = [token, APP_SECRET, appsecret_proof(token, APP_SECRET)]
        yield sandbox, secrets


def env_resource(sandbox) -> FacebookAdsResource:
    return FacebookAdsResource(
        access_token=dg.EnvVar("FACEBOOK_ACCESS_TOKEN"),
        app_id=dg.EnvVar("FACEBOOK_APP_ID"),
        app_secret=dg.EnvVar("FACEBOOK_APP_SECRET"),
        graph_url=sandbox.base_url,
    )


def test_runs_through_failures_leave_no_secret_in_dagster_home_logs_or_errors(
    secure_sandbox, tmp_path, monkeypatch, caplog, capfd
):
    sandbox, secrets = secure_sandbox
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    caplog.set_level(logging.DEBUG)
    logging.getLogger().setLevel(logging.DEBUG)  # a verbose user; urllib3 must stay quiet
    resources = {"facebook": env_resource(sandbox)}
    instance = dg.DagsterInstance.get()

    for rule in RECOVERABLE:
        sandbox.faults.add(rule)
    good = dg.materialize([api_probe], resources=resources, instance=instance)
    assert good.success
    metadata = good.asset_materializations_for_node("api_probe")[0].metadata
    assert metadata["api_retries"].value >= 4
    assert metadata["api_throttle_wait_seconds"].value >= 3600
    assert metadata["api_splits"].value >= 1

    sandbox.faults.clear()
    sandbox.faults.add(FaultRule(kind="invalid_token", params={"subcode": 463}, times=None))
    bad = dg.materialize([api_probe], resources=resources, instance=instance, raise_on_error=False)
    assert not bad.success
    errors = [e.step_failure_data.error.to_string() for e in bad.get_step_failure_events()]
    assert any("190/463" in text and "FACEBOOK_ACCESS_TOKEN" in text for text in errors)

    sandbox.faults.clear()
    unreachable = FacebookAdsResource(
        access_token=dg.EnvVar("FACEBOOK_ACCESS_TOKEN"),
        app_id=dg.EnvVar("FACEBOOK_APP_ID"),
        app_secret=dg.EnvVar("FACEBOOK_APP_SECRET"),
        graph_url=closed_loopback_url(),
    )
    refused = dg.materialize(
        [unreachable_probe],
        resources={"facebook": unreachable},
        instance=instance,
        raise_on_error=False,
    )
    refused_errors = [
        e.step_failure_data.error.to_string() for e in refused.get_step_failure_events()
    ]
    assert any("connection to 127.0.0.1 failed" in text for text in refused_errors)
    errors += refused_errors
    instance.dispose()

    texts = errors + [r.getMessage() for r in caplog.records] + list(capfd.readouterr())
    for text in texts:
        assert not [s for s in secrets if s in text], text
    files = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.suffix == ".db" for p in files), "the event log must be on disk to be searched"
    for path in files:
        data = path.read_bytes()
        assert not [s for s in secrets if s.encode() in data], path


def test_without_a_token_local_runs_read_the_sandbox_and_say_so_once(monkeypatch):
    monkeypatch.delenv("FACEBOOK_ACCESS_TOKEN", raising=False)
    seen: dict[str, object] = {}

    @dg.asset
    def sandbox_reader(facebook: FacebookAdsResource):
        seen["uses_sandbox"] = facebook.uses_sandbox
        seen["graph_url"] = facebook.get_client().graph_url
        return len(facebook.get_client().list_ad_accounts(["id"]))

    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [sandbox_reader], resources={"facebook": FacebookAdsResource()}, instance=instance
        )
        logs = [
            e.user_message for e in instance.all_logs(result.run_id) if e.level == logging.WARNING
        ]
    assert result.success and result.output_for_node("sandbox_reader") > 0
    assert seen["uses_sandbox"] is True
    assert sum("BUILT-IN SANDBOX" in m for m in logs) == 1
    # Teardown stopped the in-process sandbox.
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{seen['graph_url']}/v26.0/me", timeout=2)


def test_production_without_a_token_is_a_clear_error():
    resource = FacebookAdsResource(environment="prod")
    with pytest.raises(MarketingApiError) as caught:
        resource.get_client()
    assert "FACEBOOK_ACCESS_TOKEN is not set" in str(caught.value)
    assert "never falls back" in str(caught.value)


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        ({"app_secret": "a-secret-without-app"}, "FACEBOOK_APP_ID is not"),
        ({"api_version": "26"}, "vNN.N"),
        ({"environment": "staging"}, "'local' or 'prod'"),
        ({"graph_url": "graph.facebook.com"}, "not an http(s) URL"),
    ],
)
def test_bad_resource_settings_fail_before_any_request(settings, fragment):
    resource = FacebookAdsResource(access_token="sbx-not-used-0123456789", **settings)
    with pytest.raises(MarketingApiError) as caught:
        resource.get_client()
    assert fragment in str(caught.value)
    assert "a-secret-without-app" not in str(caught.value)


def test_inspect_token_fails_for_a_token_without_ads_read(secure_sandbox, monkeypatch):
    sandbox, _ = secure_sandbox
    resource = FacebookAdsResource(
        access_token=sandbox.tokens["no_ads_read"],
        app_id=APP_ID,
        app_secret=APP_SECRET,
        graph_url=sandbox.base_url,
    )
    with pytest.raises(MarketingApiError) as caught:
        resource.inspect_token()
    assert "ads_read" in str(caught.value)
    resource.close()


def test_inspect_token_warns_on_a_user_token_in_production(secure_sandbox, caplog):
    sandbox, _ = secure_sandbox
    resource = FacebookAdsResource(
        access_token=sandbox.tokens["user_long_lived"],
        app_id=APP_ID,
        app_secret=APP_SECRET,
        graph_url=sandbox.base_url,
        environment="prod",
    )
    with caplog.at_level(logging.WARNING):
        info = resource.inspect_token()
    assert info.type == "USER" and info.is_valid
    assert "personal user token" in caplog.text
    resource.close()
