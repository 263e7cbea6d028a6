"""The one place that scrubs secrets from text, payloads and log records.

Everything that can reach a log line, an exception text, a stored row or run metadata goes
through ``redact`` (strings) or ``redact_obj`` (JSON-like payloads). It removes:

- the secret query/form/JSON parameters of the Graph API: ``access_token``, ``appsecret_proof``,
  ``client_secret``, ``fb_exchange_token``, ``input_token`` (in ``k=v``, ``"k": "v"`` and
  ``'k': 'v'`` forms, URL-encoded or not);
- ``Authorization: Bearer ...`` values;
- bare strings shaped like Meta tokens (``EAA...``);
- every exact secret registered with ``register_secret`` (the resource registers the token, the
  app secret and the appsecret_proof), which catches a token even in a form no pattern knows.

Why a registry as well as patterns: ``requests.ConnectionError`` texts and urllib3 debug lines
carry whole URLs, and a sandbox token looks like nothing in particular, so only the exact value
is a reliable match.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "[REDACTED]"

SECRET_PARAMS = (
    "access_token",
    "appsecret_proof",
    "client_secret",
    "fb_exchange_token",
    "input_token",
)
_NAMES = "|".join(SECRET_PARAMS)

_PATTERNS = (
    # access_token=XYZ in URLs, form bodies and the SDK's "Params:" line; stops at & or quotes.
    re.compile(rf"((?:{_NAMES})(?:=|%3D))[^&\s\"'<>,;)}}\]]+", re.IGNORECASE),
    # "access_token": "XYZ" (JSON) and 'access_token': 'XYZ' (Python reprs of dicts).
    re.compile(rf"([\"'](?:{_NAMES})[\"']\s*:\s*[\"'])[^\"']*", re.IGNORECASE),
    re.compile(r"(Bearer\s+)[A-Za-z0-9._\-|~+/=%]+", re.IGNORECASE),
    # A bare Meta token (they start with EAA) anywhere in free text.
    re.compile(r"()\bEAA[A-Za-z0-9]{20,}"),
)
# Keys of a JSON payload whose whole value is a secret; "paging" holds next/previous URLs that
# embed the token, so it is dropped rather than kept half-redacted.
_SECRET_KEYS = frozenset(SECRET_PARAMS) | {"app_secret", "token"}
_DROPPED_KEYS = frozenset({"paging"})

_lock = threading.Lock()
_secrets: set[str] = set()
# Shorter values would mask ordinary words and numbers (app ids, "1") all over the logs.
_MIN_SECRET_LENGTH = 8


def register_secret(value: str | None) -> None:
    """Adds an exact value (a token, an app secret, a proof) to what ``redact`` removes."""
    if value and len(value) >= _MIN_SECRET_LENGTH:
        with _lock:
            _secrets.add(value)


def registered_secrets() -> frozenset[str]:
    with _lock:
        return frozenset(_secrets)


def redact(text: object, extra_secrets: Iterable[str | None] = ()) -> str:
    """Returns ``str(text)`` with every known secret replaced by ``[REDACTED]``."""
    out = text if isinstance(text, str) else str(text)
    for pattern in _PATTERNS:
        out = pattern.sub(lambda m: m.group(1) + MASK, out)
    exact = set(registered_secrets())
    exact.update(s for s in extra_secrets if s and len(s) >= _MIN_SECRET_LENGTH)
    # Longest first, so a token that contains a shorter secret is masked whole.
    for secret in sorted(exact, key=len, reverse=True):
        if secret in out:
            out = out.replace(secret, MASK)
    return out


def redact_obj(obj: Any, extra_secrets: Iterable[str | None] = ()) -> Any:
    """A copy of a JSON-like payload with secrets masked and ``paging`` removed."""
    extra = tuple(extra_secrets)
    if isinstance(obj, Mapping):
        return {
            key: (MASK if str(key).lower() in _SECRET_KEYS else redact_obj(value, extra))
            for key, value in obj.items()
            if key not in _DROPPED_KEYS
        }
    if isinstance(obj, list | tuple):
        return [redact_obj(item, extra) for item in obj]
    if isinstance(obj, str):
        return redact(obj, extra)
    return obj


class RedactingFilter(logging.Filter):
    """Rewrites a log record's message (with its args merged in) through ``redact``."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: keep the raw template, still redacted
            message = str(record.msg)
        clean = redact(message)
        if clean != message or record.args:
            record.msg = clean
            record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            # Formatting the traceback here freezes a redacted copy of it into exc_text.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


_installed = False


def install_log_redaction(secrets: Iterable[str | None] = ()) -> None:
    """Registers ``secrets`` and scrubs every log record of the process from now on.

    A filter on the root logger alone would miss records of child loggers that propagate (a
    parent logger's filters do not run for them), so the redaction also sits in the log record
    factory, which every record of every logger passes through. urllib3 is held at WARNING: at
    DEBUG it logs each request line, token included.
    """
    global _installed
    for secret in secrets:
        register_secret(secret)
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    with _lock:
        if _installed:
            return
        _installed = True
    previous_factory = logging.getLogRecordFactory()

    def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous_factory(*args, **kwargs)
        RedactingFilter().filter(record)
        return record

    logging.setLogRecordFactory(redacting_factory)
    root = logging.getLogger()
    if not any(isinstance(f, RedactingFilter) for f in root.filters):
        root.addFilter(RedactingFilter())
