"""`fbads token inspect` for every sandbox token kind and `fbads token exchange`."""

from __future__ import annotations

import argparse
import os
import stat
import subprocess
import sys

import pytest

from fbads_assets.api.token_cli import add_token_commands
from fbads_assets.sandbox import SandboxConfig, run_sandbox

APP_ID = "100000000000042"
APP_SECRET = "sandbox-app-secret-for-cli-test"

# kind → (exit code, a line the output must hold)
EXPECTED = {
    "demo": (0, "type:               SYSTEM_USER"),
    "system_user": (0, "expires:            never"),
    "system_user_60d": (0, "days left"),
    "user_long_lived": (0, "type:               USER"),
    "user_short_lived": (0, "warning: The access token expires on"),
    "ads_management": (0, "warning: The token has ads_management"),
    "one_account": (0, "valid:              yes"),
    "page": (1, "lacks the ads_read permission"),
    "no_ads_read": (1, "lacks the ads_read permission"),
    "expired": (1, "valid:              NO"),
    "password_changed": (1, "190/460"),
    "not_authorized": (1, "190/458"),
    "logged_out": (1, "190/467"),
}


@pytest.fixture(scope="module")
def sandbox():
    with run_sandbox(SandboxConfig(seed=9, accounts=1, app_id=APP_ID, app_secret=APP_SECRET)) as sb:
        yield sb


def run_token_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="fbads")
    add_token_commands(parser.add_subparsers(dest="group", required=True))
    args = parser.parse_args(argv)
    return args.handler(args)


def set_env(monkeypatch, sandbox, token: str, *, with_app: bool = True) -> None:
    monkeypatch.setenv("FACEBOOK_ACCESS_TOKEN", token)
    monkeypatch.setenv("FBADS_GRAPH_URL", sandbox.base_url)
    if with_app:
        monkeypatch.setenv("FACEBOOK_APP_ID", APP_ID)
        monkeypatch.setenv("FACEBOOK_APP_SECRET", APP_SECRET)
    else:
        monkeypatch.delenv("FACEBOOK_APP_ID", raising=False)
        monkeypatch.delenv("FACEBOOK_APP_SECRET", raising=False)


def test_every_sandbox_token_kind_is_covered(sandbox):
    assert set(EXPECTED) == set(sandbox.tokens)


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_inspect_describes_each_token_kind_and_never_prints_it(sandbox, monkeypatch, capsys, kind):
    token = sandbox.tokens[kind]
    set_env(monkeypatch, sandbox, token)
    code = run_token_command(["token", "inspect"])
    out, err = capsys.readouterr()
    expected_code, expected_line = EXPECTED[kind]
    assert code == expected_code, out + err
    assert expected_line in out + err
    assert token not in out + err and APP_SECRET not in out + err


def test_inspect_works_with_the_token_alone_when_there_is_no_app_secret(
    sandbox, monkeypatch, capsys
):
    set_env(monkeypatch, sandbox, sandbox.tokens["system_user"], with_app=False)
    # Without the app secret the sandbox (which enforces appsecret_proof) cannot be inspected
    # by the token alone; the message must say what to set, and hold no secret.
    code = run_token_command(["token", "inspect"])
    out, err = capsys.readouterr()
    assert sandbox.tokens["system_user"] not in out + err
    if code != 0:
        assert "FACEBOOK_APP" in err or "appsecret_proof" in err


def test_inspect_without_a_token_says_what_to_set(monkeypatch, capsys):
    monkeypatch.delenv("FACEBOOK_ACCESS_TOKEN", raising=False)
    assert run_token_command(["token", "inspect"]) == 2
    assert "FACEBOOK_ACCESS_TOKEN is not set" in capsys.readouterr().err


def test_exchange_writes_a_private_file_and_refuses_to_overwrite(
    sandbox, monkeypatch, capsys, tmp_path
):
    short = sandbox.tokens["user_short_lived"]
    set_env(monkeypatch, sandbox, short)
    target = tmp_path / "token.txt"

    assert run_token_command(["token", "exchange", "--output", str(target)]) == 0
    out, err = capsys.readouterr()
    new_token = target.read_text().strip()
    assert new_token and new_token != short
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert "new token expires" in err and "days left" in err
    assert new_token not in out + err and short not in out + err

    assert run_token_command(["token", "exchange", "--output", str(target)]) == 2
    assert "--force" in capsys.readouterr().err
    assert target.read_text().strip() == new_token

    target.chmod(0o644)
    assert run_token_command(["token", "exchange", "--output", str(target), "--force"]) == 0
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600


def test_exchange_to_stdout_warns_on_stderr(sandbox, monkeypatch, capsys):
    set_env(monkeypatch, sandbox, sandbox.tokens["user_short_lived"])
    assert run_token_command(["token", "exchange", "--stdout"]) == 0
    out, err = capsys.readouterr()
    assert out.strip().startswith("sbx-")
    assert "warning" in err and out.strip() not in err


def test_exchange_needs_the_app_id_and_secret(sandbox, monkeypatch, capsys):
    set_env(monkeypatch, sandbox, sandbox.tokens["user_short_lived"], with_app=False)
    assert run_token_command(["token", "exchange", "--stdout"]) == 2
    assert "FACEBOOK_APP_SECRET" in capsys.readouterr().err


def test_the_installed_command_runs_inspect(sandbox):
    token = sandbox.tokens["system_user"]
    env = {
        **os.environ,
        "FACEBOOK_ACCESS_TOKEN": token,
        "FACEBOOK_APP_ID": APP_ID,
        "FACEBOOK_APP_SECRET": APP_SECRET,
        "FBADS_GRAPH_URL": sandbox.base_url,
    }
    done = subprocess.run(
        [sys.executable, "-m", "fbads_assets.cli", "token", "inspect"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "SYSTEM_USER" in done.stdout
    assert token not in done.stdout + done.stderr
