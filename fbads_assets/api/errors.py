"""Marketing API errors: what failed, which handling class it belongs to, and what to do.

Meta's error codes decide the handling, never the HTTP status alone (throttles come back as
HTTP 400, "reduce the amount of data" as HTTP 500). The classes:

- ``auth``        190 and its subcodes: the token is dead. Fail at once, say which token to make.
- ``permission``  10, 200-299, 272, 294: a missing scope or ad-account role. Fail at once.
- ``invalid``     100 (except the data-size subcodes), 2635, 3018, bad breakdowns: fix the request.
- ``throttle``    4, 17, 32, 613, 80000-80014: wait as long as Meta says, then retry.
- ``transient``   1, 1/99, 2, ``is_transient``, an HTML 5xx page, a dropped connection: retry.
- ``too_much_data`` "Please reduce the amount of data", 100/1487534, 100/1504018, 2/1504038:
  shrink the request (page size, then date range) and carry on.
- ``async_failed`` an async report run that ended Failed or Skipped: resubmit, then split.
- ``config``      a bad setting or argument found before any request was sent.

Every message passes through ``redact`` when the error is built, so an error can be logged,
raised into Dagster or stored without further care.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fbads_assets.api.redaction import redact
from fbads_assets.api.throttle import Usage

AUTH = "auth"
PERMISSION = "permission"
INVALID = "invalid"
THROTTLE = "throttle"
TRANSIENT = "transient"
TOO_MUCH_DATA = "too_much_data"
ASYNC_FAILED = "async_failed"
CONFIG = "config"

RETRYABLE_KINDS = frozenset({THROTTLE, TRANSIENT})

THROTTLE_CODES = frozenset({4, 17, 32, 613, *range(80000, 80015)})
PERMISSION_CODES = frozenset({10, 272, 294, *range(200, 300)})
REDUCE_DATA_TEXT = "reduce the amount of data"
# (code, subcode) pairs Meta documents as "the request is too large or too slow".
TOO_MUCH_DATA_SUBCODES = frozenset({(100, 1487534), (100, 1504018), (2, 1504038)})
INVALID_SUBCODES = frozenset({(2, 1504041), (2, 1504042)})

_TOKEN_FIX = (
    "Create a system user token with ads_read (Business Settings → Users → System users → "
    "Generate new token) and set FACEBOOK_ACCESS_TOKEN to it; check it with `fbads token inspect`."
)
AUTH_ADVICE = {
    458: "The app is not authorised for this user any more. " + _TOKEN_FIX,
    459: "The user is checkpointed: they must log in to facebook.com and clear the security "
    "check. Better: " + _TOKEN_FIX,
    460: "The token died when the user changed their password. " + _TOKEN_FIX,
    463: "The token has expired. " + _TOKEN_FIX,
    464: "The user is unconfirmed. " + _TOKEN_FIX,
    467: "The token is invalid: the user logged out or it was revoked. " + _TOKEN_FIX,
}
DEFAULT_AUTH_ADVICE = "The access token is invalid. " + _TOKEN_FIX


@dataclass(frozen=True)
class ApiErrorDetails:
    """The fields of a Graph error envelope that decide the handling."""

    code: int | None
    subcode: int | None
    message: str
    http_status: int | None = None
    is_transient: bool = False
    error_type: str | None = None
    user_title: str | None = None
    user_message: str | None = None
    fbtrace_id: str | None = None


def classify(details: ApiErrorDetails) -> str:
    """The handling class of a Graph error (see the module docstring)."""
    code, subcode = details.code, details.subcode
    if code == 190 or code == 102:
        return AUTH
    if code in PERMISSION_CODES:
        return PERMISSION
    if REDUCE_DATA_TEXT in details.message.lower() or (code, subcode) in TOO_MUCH_DATA_SUBCODES:
        return TOO_MUCH_DATA
    if (code, subcode) in INVALID_SUBCODES:
        return INVALID
    if code in THROTTLE_CODES:
        return THROTTLE
    if code in (1, 2) or details.is_transient:
        return TRANSIENT
    if code is None and (details.http_status or 0) >= 500:
        return TRANSIENT
    return INVALID


def advice_for(kind: str, details: ApiErrorDetails) -> str:
    """What the operator should do about an error of this class."""
    if kind == AUTH:
        return AUTH_ADVICE.get(details.subcode or 0, DEFAULT_AUTH_ADVICE)
    if kind == PERMISSION:
        return (
            "The token lacks a permission or a role on this ad account. Give the system user "
            "(or user) at least the Analyst role on the ad account in Business Settings, and "
            "make sure the token has ads_read (`fbads token inspect` lists its scopes)."
        )
    if kind == THROTTLE:
        return (
            "Meta is rate-limiting this app or ad account. The client waits as long as Meta "
            "asks; if this keeps failing, run fewer accounts at once (the fbads/ad_account "
            "run tag limit) or ask for Ads Management Standard Access."
        )
    if kind == TRANSIENT:
        return "Meta had a temporary failure. Re-run the partition; it usually passes."
    if kind == TOO_MUCH_DATA:
        return (
            "The request is too large even for one day. Request fewer fields or breakdowns, "
            "or a coarser level."
        )
    if kind == ASYNC_FAILED:
        return (
            "Meta's async report run failed again after a retry and a split. Re-run the "
            "partition later; if it persists, request fewer fields or breakdowns."
        )
    if details.code == 3018:
        return "Start the range no more than 37 months back (raise FBADS_START_DATE)."
    if details.code == 2635:
        return "This API version is deprecated: set a newer api_version (e.g. v26.0)."
    return "Fix the request: check the account id, fields, breakdowns and dates it names."


class MarketingApiError(Exception):
    """A failed Marketing API call or a configuration error found before one.

    ``str(e)`` reads "<what failed>: <Meta's message> (code X/Y). <what to do>" and holds no
    secret. ``kind`` is the handling class; ``code``/``subcode`` are Meta's.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str,
        code: int | None = None,
        subcode: int | None = None,
        http_status: int | None = None,
        advice: str = "",
        what: str = "",
        fbtrace_id: str | None = None,
    ) -> None:
        self.kind = kind
        self.code = code
        self.subcode = subcode
        self.http_status = http_status
        self.what = redact(what)
        self.api_message = redact(message)
        self.advice = redact(advice)
        self.fbtrace_id = fbtrace_id
        # The usage headers of the failed response: throttle back-off reads Meta's estimate here.
        self.usage = Usage()
        super().__init__(self._text())

    def _text(self) -> str:
        code = ""
        if self.code is not None and f"code {self.code}" not in self.api_message:
            code = f" (code {self.code}" + (f"/{self.subcode}" if self.subcode else "") + ")"
        head = f"{self.what}: " if self.what else ""
        tail = f" {self.advice}" if self.advice else ""
        return f"{head}{self.api_message.rstrip('. ')}{code}.{tail}"

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE_KINDS

    @classmethod
    def from_details(cls, details: ApiErrorDetails, what: str = "") -> MarketingApiError:
        kind = classify(details)
        return cls(
            details.message or "Meta returned an error without a message",
            kind=kind,
            code=details.code,
            subcode=details.subcode,
            http_status=details.http_status,
            advice=advice_for(kind, details),
            what=what,
            fbtrace_id=details.fbtrace_id,
        )

    @classmethod
    def config(cls, message: str) -> MarketingApiError:
        return cls(message, kind=CONFIG)

    def __reduce__(self):  # keyword-only fields survive pickling (multiprocess executors)
        return (_rebuild, (self.__dict__.copy(),))


def _rebuild(state: dict) -> MarketingApiError:
    error = MarketingApiError.__new__(MarketingApiError)
    error.__dict__.update(state)
    Exception.__init__(error, error._text())
    return error


def details_from_body(body: object, http_status: int | None) -> ApiErrorDetails | None:
    """Reads a Graph error envelope ``{"error": {...}}``; None when the body is not one."""
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        return None
    error = body["error"]
    return ApiErrorDetails(
        code=_int_or_none(error.get("code")),
        subcode=_int_or_none(error.get("error_subcode") or error.get("subcode")),
        message=str(error.get("message") or ""),
        http_status=http_status,
        is_transient=bool(error.get("is_transient")),
        error_type=error.get("type"),
        user_title=error.get("error_user_title"),
        user_message=error.get("error_user_msg"),
        fbtrace_id=error.get("fbtrace_id"),
    )


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
