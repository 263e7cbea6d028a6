"""``fbads token inspect`` and ``fbads token exchange``: the token's life cycle from a shell.

Both read the token from FACEBOOK_ACCESS_TOKEN (and FACEBOOK_APP_ID, FACEBOOK_APP_SECRET,
FBADS_GRAPH_URL), never from an argument: a token on the command line lands in shell history
and in ``ps`` output. Neither prints the token, except ``exchange --stdout``, which the user asks
for explicitly and which warns on standard error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from fbads_assets.api.errors import MarketingApiError
from fbads_assets.api.redaction import redact
from fbads_assets.api.tokens import (
    DEFAULT_EXPIRY_WARNING_DAYS,
    TokenInfo,
    check_token,
    exchange_token,
    inspect_token,
)

DEFAULT_GRAPH_URL = "https://graph.facebook.com"
API_VERSION = "v26.0"


def add_token_commands(subparsers: argparse._SubParsersAction) -> None:
    token = subparsers.add_parser(
        "token",
        help="inspect the access token or exchange it for a long-lived one",
        description="Reads FACEBOOK_ACCESS_TOKEN (and FACEBOOK_APP_ID, FACEBOOK_APP_SECRET, "
        "FBADS_GRAPH_URL) from the environment; never pass a token as an argument.",
    )
    commands = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")

    inspect = commands.add_parser(
        "inspect", help="type, app, user, expiry, scopes and validity (never the token)"
    )
    inspect.add_argument(
        "--warning-days",
        type=int,
        default=DEFAULT_EXPIRY_WARNING_DAYS,
        help="warn when the token expires within this many days (default %(default)s)",
    )
    inspect.set_defaults(handler=run_inspect)

    exchange = commands.add_parser(
        "exchange", help="short-lived user token → long-lived (about 60 days)"
    )
    where = exchange.add_mutually_exclusive_group(required=True)
    where.add_argument("--output", type=Path, help="write the new token to FILE (mode 0600)")
    where.add_argument(
        "--stdout", action="store_true", help="print the new token on standard output"
    )
    exchange.add_argument("--force", action="store_true", help="overwrite an existing --output")
    exchange.set_defaults(handler=run_exchange)


@dataclass(frozen=True, repr=False)
class _Environment:
    token: str | None
    app_id: str | None
    app_secret: str | None
    graph_url: str
    env: str


def _environment() -> _Environment:
    def get(name: str) -> str | None:
        return (os.environ.get(name) or "").strip() or None

    return _Environment(
        token=get("FACEBOOK_ACCESS_TOKEN"),
        app_id=get("FACEBOOK_APP_ID"),
        app_secret=get("FACEBOOK_APP_SECRET"),
        graph_url=(get("FBADS_GRAPH_URL") or DEFAULT_GRAPH_URL).rstrip("/"),
        env=(get("FBADS_ENV") or "local").lower(),
    )


def _say(text: str, *, to_stderr: bool = False) -> None:
    # A CLI prints; ruff's no-print rule is for library code (only cli.py is exempt by name).
    stream = sys.stderr if to_stderr else sys.stdout
    stream.write(text + "\n")
    stream.flush()


def _fail(message: str, code: int = 2) -> int:
    _say(f"error: {redact(message)}", to_stderr=True)
    return code


def _when(moment: dt.datetime | None, now: dt.datetime) -> str:
    if moment is None:
        return "never"
    days = (moment - now) // dt.timedelta(days=1)
    return f"{moment:%Y-%m-%d %H:%M} UTC ({days} days left)"


def describe(info: TokenInfo, now: dt.datetime) -> list[str]:
    """The lines ``inspect`` prints for a token."""
    app = f"{info.application or '?'} ({info.app_id})" if info.app_id else "unknown"
    lines = [
        f"valid:              {'yes' if info.is_valid else 'NO'}",
        f"type:               {info.type or 'unknown'}",
        f"app:                {app}",
        f"user:               {info.user_id or info.profile_id or 'unknown'}",
        f"expires:            {_when(info.expires_at, now)}",
        f"data access until:  {_when(info.data_access_expires_at, now)}",
        f"scopes:             {', '.join(info.scopes) or 'none'}",
    ]
    for scope, targets in info.granular_scopes:
        if targets:
            lines.append(f"  {scope} limited to: {', '.join(targets)}")
    if not info.is_valid and info.error_code:
        subcode = f"/{info.error_subcode}" if info.error_subcode else ""
        lines.append(f"error:              code {info.error_code}{subcode}: {info.error_message}")
    return lines


def run_inspect(args: argparse.Namespace) -> int:
    env = _environment()
    if not env.token:
        return _fail("FACEBOOK_ACCESS_TOKEN is not set. Export it, then run this again.")
    now = dt.datetime.now(dt.UTC)
    try:
        info = inspect_token(
            env.token,
            graph_url=env.graph_url,
            api_version=API_VERSION,
            app_id=env.app_id,
            app_secret=env.app_secret,
        )
    except MarketingApiError as error:
        return _fail(str(error), 1)
    check = check_token(info, now=now, environment=env.env, expiry_warning_days=args.warning_days)
    for line in describe(info, now):
        _say(redact(line, [env.token, env.app_secret]))
    for warning in check.warnings:
        _say(f"warning: {redact(warning)}")
    for problem in check.errors:
        _say(f"ERROR: {redact(problem)}")
    return 1 if check.errors else 0


def run_exchange(args: argparse.Namespace) -> int:
    env = _environment()
    if not env.token:
        return _fail("FACEBOOK_ACCESS_TOKEN (the short-lived user token) is not set.")
    if not env.app_id or not env.app_secret:
        return _fail(
            "Exchanging needs FACEBOOK_APP_ID and FACEBOOK_APP_SECRET (App Dashboard → "
            "Settings → Basic)."
        )
    if args.output is not None and args.output.exists() and not args.force:
        return _fail(f"{args.output} exists; pass --force to overwrite it.")
    try:
        new = exchange_token(
            env.token,
            app_id=env.app_id,
            app_secret=env.app_secret,
            graph_url=env.graph_url,
            api_version=API_VERSION,
        )
    except MarketingApiError as error:
        return _fail(str(error), 1)

    now = dt.datetime.now(dt.UTC)
    _say(f"new token expires: {_when(new.expires_at, now)}", to_stderr=True)
    if args.stdout:
        _say(
            "warning: the token follows on standard output; keep it out of logs and history.",
            to_stderr=True,
        )
        _say(new.access_token)
        return 0
    _write_private(args.output, new.access_token, overwrite=args.force)
    _say(f"written to {args.output} (mode 0600); set FACEBOOK_ACCESS_TOKEN from it.")
    return 0


def _write_private(path: Path, token: str, *, overwrite: bool) -> None:
    """Creates the file readable by its owner only; without overwrite, refuses an existing one."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    descriptor = os.open(path, flags, 0o600)
    # O_CREAT's mode applies only to new files; an overwritten file keeps its old mode.
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(token + "\n")
