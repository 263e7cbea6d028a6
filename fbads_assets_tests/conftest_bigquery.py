"""pytest plugin: a local BigQuery emulator for the session, and how to point Dagster at it.

``bigquery_emulator`` starts the emulator that ``infra/bigquery_emulator.sh install`` put in
``.bq-emulator/`` (its own venv, never the project's) on free loopback ports with a fresh data
directory, waits until it answers, and stops it at the end of the session. The project's code
is pointed at it by environment and config alone, exactly as production is configured:

- ``BIGQUERY_EMULATOR_HOST``: google-cloud-bigquery reads it as its API endpoint;
- a fake *authorized_user* credential with a non-expired access token, passed base64-encoded as
  the IO manager's ``gcp_credentials`` (FBADS_BIGQUERY_CREDENTIALS_B64): google-auth accepts it
  without a network call, and the emulator ignores the token.

If no emulator can start, the BigQuery tests skip and say why; with CI=true they fail instead.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "fbads_assets_tests" / "infra"
EMULATOR_BASE = ROOT / ".bq-emulator"
PROJECT = "fbads-test"
DATASET = "facebook_ads"
START_DEADLINE_SECONDS = 60
VERSIONS = {"local-bigquery": "local-bigquery 0.3.2", "bqemulator": "bqemulator 1.4.0"}
# Not a secret: the emulator accepts any bearer token, and google-auth never refreshes a token
# that has not expired, so this never leaves the machine.
FAKE_ADC = {
    "type": "authorized_user",
    "client_id": "fbads-emulator",
    "client_secret": "fbads-emulator",
    "refresh_token": "fbads-emulator",
    "token": "fbads-emulator-token",
    "expiry": "2099-01-01T00:00:00Z",
}
# What the session's emulator reported, for the summary at the end of the test output.
_STARTED: list[str] = []
FAKE_ADC_B64 = base64.b64encode(json.dumps(FAKE_ADC).encode()).decode()


@dataclass
class BigQueryEmulator:
    """A running emulator: what a test needs to configure Dagster and to look at tables."""

    kind: str
    endpoint: str
    project: str
    dataset: str
    client: bigquery.Client
    credentials_b64: str = FAKE_ADC_B64
    # What FBADS_ENV=prod definitions need, on top of BIGQUERY_EMULATOR_HOST (already set).
    env: dict[str, str] = field(default_factory=dict)

    def new_dataset(self) -> str:
        """A dataset name no other test uses (created by the first write into it)."""
        return f"t_{uuid.uuid4().hex[:10]}"

    def rows(self, sql: str) -> list[tuple]:
        return [tuple(row.values()) for row in self.client.query(sql).result()]


def installed_kind() -> str | None:
    wanted = os.environ.get("BQ_EMULATOR")
    if wanted and (EMULATOR_BASE / wanted / ".installed").exists():
        return wanted
    kind_file = EMULATOR_BASE / "kind"
    if kind_file.exists():
        kind = kind_file.read_text().strip()
        if (EMULATOR_BASE / kind / ".installed").exists():
            return kind
    return None


def pytest_report_header(config) -> str:
    kind = installed_kind()
    if kind is None:
        return "bigquery emulator: not installed (bigquery tests will skip; fail under CI)"
    return f"bigquery emulator: {VERSIONS[kind]} from {EMULATOR_BASE / kind}"


def pytest_terminal_summary(terminalreporter) -> None:
    for line in _STARTED:
        terminalreporter.write_line(f"bigquery emulator ran: {line}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _command(kind: str, port: int, grpc_port: int, data_dir: str) -> list[str]:
    python = str(EMULATOR_BASE / kind / "venv" / "bin" / "python")
    if kind == "local-bigquery":
        return [
            python,
            str(INFRA / "bq_run_local_bigquery.py"),
            "serve",
            "--host=127.0.0.1",
            f"--port={port}",
            f"--grpc-port={grpc_port}",
            f"--project={PROJECT}",
            f"--data-dir={data_dir}",
        ]
    return [
        python,
        str(INFRA / "bq_run_bqemulator.py"),
        "start",
        f"--rest-port={port}",
        f"--grpc-port={grpc_port}",
        f"--project={PROJECT}",
        "--log-level=warning",
    ]


def _wait_until_ready(process: subprocess.Popen, endpoint: str, log_path: Path) -> str | None:
    """None once the emulator lists datasets; otherwise why it did not come up."""
    url = f"{endpoint}/bigquery/v2/projects/{PROJECT}/datasets"
    deadline = time.monotonic() + START_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return f"it exited with code {process.returncode}: {_tail(log_path)}"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return None
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)  # polling interval, bounded by the deadline above
    return f"it did not answer within {START_DEADLINE_SECONDS} s: {_tail(log_path)}"


def _tail(log_path: Path) -> str:
    lines = log_path.read_text(errors="replace").strip().splitlines()
    return " | ".join(lines[-5:]) or "(no output)"


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    # Its own process group: uvicorn workers and DuckDB threads go with it.
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _unavailable(reason: str) -> None:
    message = f"BigQuery emulator unavailable: {reason}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true: the BigQuery tests must run, not skip)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def bigquery_emulator() -> Iterator[BigQueryEmulator]:
    kind = installed_kind()
    if kind is None:
        _unavailable(
            "not installed; run `bash fbads_assets_tests/infra/bigquery_emulator.sh install`"
        )
    assert kind is not None

    port, grpc_port = _free_port(), _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="fbads-bq-") as workdir:
        data_dir = Path(workdir) / "data"
        data_dir.mkdir()
        log_path = Path(workdir) / "emulator.log"
        env = {**os.environ, "HOME": str(EMULATOR_BASE / kind / "home")}
        env["BQEMU_ENABLE_FORMAT_EXTENSIONS"] = "false"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                _command(kind, port, grpc_port, str(data_dir)),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        try:
            started = time.monotonic()
            problem = _wait_until_ready(process, endpoint, log_path)
            if problem:
                _unavailable(f"{VERSIONS[kind]} did not start: {problem}")
            _STARTED.append(
                f"{VERSIONS[kind]} on {endpoint}, ready in {time.monotonic() - started:.1f} s"
            )
            yield from _session(kind, endpoint)
        finally:
            _stop(process)


def _session(kind: str, endpoint: str) -> Iterator[BigQueryEmulator]:
    patch = pytest.MonkeyPatch()
    patch.setenv("BIGQUERY_EMULATOR_HOST", endpoint)
    # dagster-gcp refuses gcp_credentials while GOOGLE_APPLICATION_CREDENTIALS is set.
    patch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    try:
        client = bigquery.Client(project=PROJECT, credentials=AnonymousCredentials())
        yield BigQueryEmulator(
            kind=kind,
            endpoint=endpoint,
            project=PROJECT,
            dataset=DATASET,
            client=client,
            env={
                "BIGQUERY_EMULATOR_HOST": endpoint,
                "FBADS_ENV": "prod",
                "FBADS_BIGQUERY_PROJECT": PROJECT,
                "FBADS_BIGQUERY_DATASET": DATASET,
                "FBADS_BIGQUERY_CREDENTIALS_B64": FAKE_ADC_B64,
            },
        )
    finally:
        patch.undo()
