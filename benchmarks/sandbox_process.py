"""The sandbox as a separate process, as a benchmark needs it.

In a thread, the sandbox's request handling would share the benchmark's interpreter lock and
its CPU time would count against the client's; in its own process it behaves like a remote
server. It is driven only over HTTP: ``/__sandbox/counters``.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import requests

STARTUP_SECONDS = 60
_URL = re.compile(r"http://127\.0\.0\.1:\d+")


@dataclass(frozen=True)
class SandboxKnobs:
    """The ``fbads sandbox serve`` options a scenario sets; names follow SandboxConfig."""

    accounts: int
    campaigns_per_account: int
    adsets_per_campaign: int
    ads_per_adset: int
    history_days: int
    latency_ms: int
    async_job_seconds: float
    max_page_size: int = 500
    seed: int = 7

    @property
    def ads_per_account(self) -> int:
        return self.campaigns_per_account * self.adsets_per_campaign * self.ads_per_adset

    def options(self) -> list[str]:
        return [f"--{name.replace('_', '-')}={value}" for name, value in self.__dict__.items()]


@dataclass
class SandboxProcess:
    base_url: str
    process: subprocess.Popen
    output: list[str] = field(default_factory=list)

    def counters(self) -> dict[str, Any]:
        response = requests.get(f"{self.base_url}/__sandbox/counters", timeout=30)
        response.raise_for_status()
        return response.json()

    def rss_mb(self) -> float:
        try:
            return psutil.Process(self.process.pid).memory_info().rss / 2**20
        except psutil.Error:
            return 0.0


@contextlib.contextmanager
def sandbox_process(knobs: SandboxKnobs, log_path: Path | None = None) -> Iterator[SandboxProcess]:
    """``fbads sandbox serve`` on a free loopback port, stopped (by its own pid) on exit."""
    command = [
        sys.executable,
        "-m",
        "fbads_assets.cli",
        "sandbox",
        "serve",
        "--host=127.0.0.1",
        # Port 0: the server binds a free port itself and prints its base URL.
        "--port=0",
        *knobs.options(),
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        # Unbuffered, or the printed base URL would wait in the child's pipe buffer.
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    running = SandboxProcess("", process)
    reader = threading.Thread(target=_drain, args=(process, running.output, log_path), daemon=True)
    reader.start()
    try:
        _wait_until_ready(running)
        yield running
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _drain(process: subprocess.Popen, lines: list[str], log_path: Path | None) -> None:
    # The server logs every request; reading its pipe keeps it from blocking on a full buffer.
    sink = log_path.open("w") if log_path else None
    try:
        for line in process.stdout or ():
            if len(lines) < 200:
                lines.append(line.rstrip())
            if sink:
                sink.write(line)
    finally:
        if sink:
            sink.close()


def _wait_until_ready(running: SandboxProcess) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            raise RuntimeError(
                "`fbads sandbox serve` exited before it answered:\n" + "\n".join(running.output)
            )
        if not running.base_url:
            found = next((_URL.search(line) for line in running.output if _URL.search(line)), None)
            running.base_url = found.group(0) if found else ""
        if not running.base_url:
            time.sleep(0.1)
            continue
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{running.base_url}/__sandbox/counters", timeout=2).ok:
                return
        time.sleep(0.1)
    raise RuntimeError(
        f"`fbads sandbox serve` did not answer within {STARTUP_SECONDS} s:"
        "\n" + "\n".join(running.output)
    )
