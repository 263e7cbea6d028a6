"""A live Dagster UI and daemon for end-to-end tests: start, wait until ready, always tear down.

``run_dagster_ui`` starts ``dagster dev`` on a free loopback port with a temporary
``DAGSTER_HOME`` and DuckDB file and no ``FACEBOOK_ACCESS_TOKEN``, so every run reads the
in-process Marketing API sandbox. The server runs in its own process group because
``dagster dev`` started from a non-interactive shell ignores SIGTERM and leaves its webserver,
daemon and code server running; teardown kills the whole group, then any straggler.

The GraphQL and instance helpers below are what the browser and GraphQL tests poll while they
wait for runs and backfills (always with a deadline, never a fixed sleep).
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import dagster as dg
import psutil
import requests
from dagster._core.instance.ref import InstanceRef

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCATION = "fbads_assets"
# Measured on 2 cores: webserver, daemon and one code server are up in 10-20 s; a cold import of
# the real location under load can take longer.
STARTUP_TIMEOUT_S = 120.0
# Secrets and settings a developer's shell may carry that must not reach the server under test.
_SCRUBBED_PREFIXES = ("FACEBOOK_", "FBADS_", "DAGSTER_")

T = TypeVar("T")


@dataclass
class DagsterUi:
    """A running ``dagster dev``: where it listens and where it keeps its state."""

    base_url: str
    port: int
    dagster_home: Path
    duckdb_path: Path
    log_path: Path
    location_name: str
    process: subprocess.Popen

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        return graphql_request(self.base_url, query, variables)

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    @contextmanager
    def instance(self) -> Iterator[dg.DagsterInstance]:
        """The server's instance, read from this process (same ``DAGSTER_HOME``, SQLite)."""
        instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(self.dagster_home)))
        try:
            yield instance
        finally:
            instance.dispose()


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(
    probe: Callable[[], T | None], timeout_s: float, what: str, interval_s: float = 0.5
) -> T:
    """Calls ``probe`` until it returns something truthy; fails naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = probe()
            if value:
                return value
        except (requests.RequestException, OSError) as error:
            last_error = error
        time.sleep(interval_s)
    raise TimeoutError(
        f"Gave up after {timeout_s:.0f} s waiting for {what} (last error: {last_error})"
    )


def graphql_request(
    base_url: str, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = requests.post(
        f"{base_url}/graphql", json={"query": query, "variables": variables or {}}, timeout=30
    )
    response.raise_for_status()
    body = response.json()
    if body.get("errors"):
        raise RuntimeError(f"GraphQL errors from {base_url}: {body['errors']}")
    return body["data"]


def _server_env(dagster_home: Path, duckdb_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES)}
    env.update(
        DAGSTER_HOME=str(dagster_home),
        FBADS_ENV="local",
        FBADS_DUCKDB_PATH=str(duckdb_path),
        # Tests never report usage to Dagster Labs (the network is closed anyway).
        DAGSTER_DISABLE_TELEMETRY="1",
        PYTHONUNBUFFERED="1",
    )
    return env


def _prepare_home(workdir: Path) -> Path:
    home = workdir / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    # The same instance settings `make dev` uses, so the test sees what a user sees.
    repo_config = REPO_ROOT / "dagster.yaml"
    if repo_config.exists():
        shutil.copy(repo_config, home / "dagster.yaml")
    return home


def _loaded_location(base_url: str) -> str | None:
    data = graphql_request(
        base_url,
        """{ workspaceOrError { ... on Workspace { locationEntries {
             name loadStatus locationOrLoadError { __typename ... on PythonError { message } }
        } } } }""",
    )
    entries = data["workspaceOrError"].get("locationEntries") or []
    for entry in entries:
        state = entry["locationOrLoadError"] or {}
        if state.get("__typename") == "PythonError":
            raise RuntimeError(f"Code location {entry['name']} failed to load: {state['message']}")
        if entry["loadStatus"] == "LOADED" and state.get("__typename") == "RepositoryLocation":
            return entry["name"]
    return None


def _daemons_healthy(base_url: str) -> bool:
    data = graphql_request(
        base_url,
        "{ instance { daemonHealth { allDaemonStatuses { daemonType healthy required } } } }",
    )
    statuses = data["instance"]["daemonHealth"]["allDaemonStatuses"]
    backfill = [s for s in statuses if s["daemonType"] == "BACKFILL"]
    return bool(backfill) and all(s["healthy"] for s in backfill)


def stop_process_group(process: subprocess.Popen, timeout_s: float = 15.0) -> None:
    """SIGTERM the whole group, SIGKILL what is left, then any descendant that left the group."""
    try:
        descendants = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        descendants = []
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=timeout_s)
            break
        except subprocess.TimeoutExpired:
            continue
    _, alive = psutil.wait_procs(descendants, timeout=timeout_s)
    for leftover in alive:
        leftover.kill()
    psutil.wait_procs(alive, timeout=5)
    if process.poll() is None:
        process.kill()
        process.wait(timeout=5)


@contextmanager
def run_dagster_ui(workdir: Path) -> Iterator[DagsterUi]:
    """Starts ``dagster dev`` (webserver + daemon) and yields it once the location is loaded."""
    home = _prepare_home(workdir)
    duckdb_path = workdir / "fbads.duckdb"
    log_path = workdir / "dagster_dev.log"
    port = free_loopback_port()
    command = [
        str(Path(sys.executable).parent / "dagster"),
        "dev",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        # The UI refreshes run and partition status this often; 2 s by default.
        "--live-data-poll-rate",
        "500",
        # The repo's own workspace file, as `make dev` uses. Its python_module
        # working_directory "." resolves against the cwd (only python_file entries are rebased
        # onto the file's folder); the package imports anyway, being installed in the venv.
        "-w",
        str(REPO_ROOT / "workspace.yaml"),
    ]
    with open(log_path, "wb") as log:
        # cwd is the scratch folder: dagster dev loads ./.env and ./dagster.yaml from its cwd,
        # and a developer's .env may hold a real token.
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=_server_env(home, duckdb_path),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = DagsterUi(
        base_url=f"http://127.0.0.1:{port}",
        port=port,
        dagster_home=home,
        duckdb_path=duckdb_path,
        log_path=log_path,
        location_name=LOCATION,
        process=process,
    )
    try:
        _wait_until_ready(server)
        yield server
    finally:
        stop_process_group(process)


def _wait_until_ready(server: DagsterUi) -> None:
    def alive_and(probe: Callable[[], Any]) -> Callable[[], Any]:
        def checked() -> Any:
            if server.process.poll() is not None:
                raise RuntimeError(
                    f"dagster dev exited with {server.process.returncode}:\n{server.log_tail()}"
                )
            return probe()

        return checked

    try:
        wait_until(
            alive_and(lambda: requests.get(f"{server.base_url}/server_info", timeout=5).ok),
            STARTUP_TIMEOUT_S,
            "the Dagster webserver's /server_info",
        )
        server.location_name = wait_until(
            alive_and(lambda: _loaded_location(server.base_url)),
            STARTUP_TIMEOUT_S,
            "the code location to load",
        )
        wait_until(
            alive_and(lambda: _daemons_healthy(server.base_url)),
            STARTUP_TIMEOUT_S,
            "the backfill daemon's first heartbeat",
        )
    except TimeoutError as error:
        raise TimeoutError(f"{error}\n--- dagster dev log ---\n{server.log_tail()}") from None


# A run starts a fresh process that imports the code location: 5-15 s on 2 cores before the
# first step; the sandbox insights report for a few days adds a few seconds.
RUN_TIMEOUT_S = 120.0
_FINISHED_RUN = {"SUCCESS", "FAILURE", "CANCELED"}
_FINISHED_BACKFILL = {"COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


def wait_for_run(server: DagsterUi, tags: dict[str, str], timeout_s: float = RUN_TIMEOUT_S):
    """The newest run carrying ``tags``, once it has finished; fails naming its status and log."""

    def finished():
        with server.instance() as instance:
            runs = instance.get_runs(filters=dg.RunsFilter(tags=tags), limit=1)
        return runs[0] if runs and runs[0].status.value in _FINISHED_RUN else None

    run = wait_until(finished, timeout_s, f"a finished run tagged {tags}")
    if run.status.value != "SUCCESS":
        raise AssertionError(f"Run {run.run_id} ({tags}) ended {run.status.value}")
    return run


def wait_for_backfill(server: DagsterUi, backfill_id: str, timeout_s: float = RUN_TIMEOUT_S):
    """The backfill once the daemon has finished it; fails unless it completed successfully."""

    def finished():
        with server.instance() as instance:
            backfill = instance.get_backfill(backfill_id)
        return backfill if backfill and backfill.status.value in _FINISHED_BACKFILL else None

    backfill = wait_until(finished, timeout_s, f"backfill {backfill_id} to finish")
    if backfill.status.value != "COMPLETED_SUCCESS":
        raise AssertionError(f"Backfill {backfill_id} ended {backfill.status.value}")
    return backfill


def registered_accounts(server: DagsterUi) -> list[str]:
    """The account partitions that ad_accounts has registered so far."""
    with server.instance() as instance:
        return list(instance.get_dynamic_partitions("ad_account"))


def materialized_partitions(server: DagsterUi, asset: str) -> set[str]:
    with server.instance() as instance:
        return set(instance.get_materialized_partitions(dg.AssetKey(asset)))
