"""The sandbox as an HTTP server on loopback, and the ``run_sandbox`` context manager.

``ThreadingHTTPServer`` with HTTP/1.1 keep-alive: the SDK's ``requests.Session`` reuses one
connection, so a client costs one server thread, and the thread count stays at the number of
concurrent clients. Request logging is off on purpose: request lines carry access tokens.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fbads_assets.sandbox.clock import SandboxClock
from fbads_assets.sandbox.config import API_VERSION, DEMO_TOKEN, SandboxConfig
from fbads_assets.sandbox.counters import Counters
from fbads_assets.sandbox.faults import FaultBook, FaultRule
from fbads_assets.sandbox.graph import JSON_TYPE, Graph, Request, Response
from fbads_assets.sandbox.tokens import TokenRegistry
from fbads_assets.sandbox.world import World

CONTROL_PREFIX = "/__sandbox/"


class Sandbox:
    """One sandbox: its world, clock, tokens, faults and counters, and (once started) a server."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self.clock = SandboxClock(self.config.now)
        self.world = World(self.config, self.clock.now())
        self.faults = FaultBook(self.config.seed)
        self.counters = Counters()
        self._tokens = TokenRegistry(
            self.config, self.clock, self.world.user["id"], [a.id for a in self.world.accounts]
        )
        self.tokens: dict[str, str] = dict(self._tokens.by_kind)
        self.demo_token = DEMO_TOKEN
        self.graph = Graph(
            self.config, self.clock, self.world, self._tokens, self.faults, self.counters
        )
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("The sandbox is not serving; use run_sandbox(config) or start().")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Sandbox:
        handler = type("BoundHandler", (SandboxHandler,), {"sandbox": self})
        self._server = ThreadingHTTPServer((self.config.host, self.config.port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fbads-sandbox", daemon=True
        )
        self._thread.start()
        return self

    @property
    def graph_version(self) -> str:
        return API_VERSION

    def wait(self) -> None:
        """Block until the server thread ends (Ctrl-C raises KeyboardInterrupt here)."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=0.5)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def reset(self) -> None:
        """Counters, faults, report runs and quotas back to a fresh start (the world stays)."""
        self.counters.reset()
        self.faults.clear()
        self.graph.runs.clear()
        self.graph.quota.reset()

    # --- control over HTTP ------------------------------------------------------------------

    def control(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        name = path[len(CONTROL_PREFIX) :].strip("/")
        if name == "counters" and method == "GET":
            return 200, self.counters.snapshot()
        if name == "counters/reset" and method == "POST":
            self.counters.reset()
            return 200, {"ok": True}
        if name == "faults" and method == "GET":
            return 200, {"faults": self.faults.rules()}
        if name == "faults" and method == "POST":
            return 200, {"added": self.faults.load_plan(body)}
        if name in ("faults", "faults/clear") and method in ("DELETE", "POST"):
            self.faults.clear()
            return 200, {"ok": True}
        if name == "clock":
            return self._control_clock(method, body)
        if name == "reset" and method == "POST":
            self.reset()
            return 200, {"ok": True}
        if name == "tokens" and method == "GET":
            return 200, {"tokens": self.tokens, "demo": self.demo_token}
        return 404, {"error": f"No sandbox control at {method} {path}. See docs/sandbox.md."}

    def _control_clock(self, method: str, body: dict[str, Any]) -> tuple[int, Any]:
        if method == "POST":
            if "set" in body:
                self.clock.set(dt.datetime.fromisoformat(body["set"]))
            if "advance_seconds" in body:
                self.clock.advance(dt.timedelta(seconds=float(body["advance_seconds"])))
        return 200, {"now": self.clock.now().isoformat()}


class SandboxHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle's algorithm on, every response on
    # a kept-alive connection then waits for a delayed ACK (~45 ms each, measured).
    disable_nagle_algorithm = True
    server_version = "fbads-sandbox"
    sys_version = ""
    sandbox: Sandbox

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: request lines carry access tokens and must never reach a log."""

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if url.path.startswith(CONTROL_PREFIX):
            self._control(method, url.path, raw)
            return
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        if raw and "json" not in (self.headers.get("Content-Type") or ""):
            params.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        host = self.headers.get("Host") or self.sandbox.base_url.removeprefix("http://")
        request = Request(
            method,
            url.path,
            params,
            {k.lower(): v for k, v in self.headers.items()},
            f"http://{host}",
        )
        self._send(self.sandbox.graph.handle(request))

    def _control(self, method: str, path: str, raw: bytes) -> None:
        try:
            body = json.loads(raw) if raw.strip() else {}
            status, payload = self.sandbox.control(method, path, body)
        except (ValueError, TypeError) as error:
            status, payload = 400, {"error": str(error)}
        data = json.dumps(payload, default=str).encode()
        self._send(Response(status, data))

    def _send(self, response: Response) -> None:
        if response.body is None:
            # The drop_connection fault: close the socket without a status line.
            self.close_connection = True
            return
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body)


@contextlib.contextmanager
def run_sandbox(config: SandboxConfig | None = None) -> Iterator[Sandbox]:
    """A sandbox serving on a free loopback port in a background thread, for the block."""
    sandbox = Sandbox(config).start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


__all__ = ["JSON_TYPE", "FaultRule", "Sandbox", "run_sandbox"]
