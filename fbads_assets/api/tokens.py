"""The access token as a credential with a life cycle: inspect, check, exchange, report health.

``inspect_token`` asks Meta's ``debug_token`` what the token is (type, app, user, scopes, expiry,
data-access expiry, validity). ``check_token`` turns that into errors (the pipeline cannot run)
and warnings (it will stop running, or runs with more power than it needs).
``exchange_token`` turns a short-lived user token into a 60-day one.

Both calls go through plain ``requests``, not the SDK's ``api.call``: the SDK would put
``input_token``, ``client_secret`` and ``fb_exchange_token`` into its exception texts
(facebook-business 26.0.3 puts explicit params into str(e)). Errors are rebuilt from the JSON
envelope only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import requests

from fbads_assets.api.errors import (
    AUTH,
    AUTH_ADVICE,
    CONFIG,
    DEFAULT_AUTH_ADVICE,
    TRANSIENT,
    MarketingApiError,
    details_from_body,
)
from fbads_assets.api.redaction import register_secret
from fbads_assets.api.transport import LOOPBACK_HOSTS, appsecret_proof

READ_SCOPE = "ads_read"
WRITE_SCOPE = "ads_management"
DEFAULT_EXPIRY_WARNING_DAYS = 7
# User tokens are tied to a person: they die when the person leaves, changes password or loses
# their role. Production should run on a system user token.
PERSONAL_TOKEN_TYPES = frozenset({"USER"})


@dataclass(frozen=True)
class TokenInfo:
    """What ``debug_token`` says about a token. ``None`` expiry means it never expires."""

    type: str | None
    app_id: str | None
    application: str | None
    user_id: str | None
    profile_id: str | None
    issued_at: dt.datetime | None
    expires_at: dt.datetime | None
    data_access_expires_at: dt.datetime | None
    scopes: tuple[str, ...]
    granular_scopes: tuple[tuple[str, tuple[str, ...]], ...] = ()
    is_valid: bool = False
    error_code: int | None = None
    error_subcode: int | None = None
    error_message: str | None = None

    @property
    def never_expires(self) -> bool:
        return self.expires_at is None

    def days_to_expiry(self, now: dt.datetime) -> int | None:
        """Whole days left (negative once expired); None for a token that never expires."""
        return _days_until(self.expires_at, now)

    def days_to_data_access_expiry(self, now: dt.datetime) -> int | None:
        return _days_until(self.data_access_expires_at, now)


def _days_until(moment: dt.datetime | None, now: dt.datetime) -> int | None:
    if moment is None:
        return None
    return (moment - now) // dt.timedelta(days=1)


def _timestamp(value: Any) -> dt.datetime | None:
    # debug_token uses 0 (or leaves the field out) for "never".
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        return None
    return dt.datetime.fromtimestamp(seconds, dt.UTC) if seconds > 0 else None


def token_info_from_debug(data: dict) -> TokenInfo:
    """Builds a TokenInfo from the ``data`` object of a debug_token response."""
    error: dict[str, Any] = data["error"] if isinstance(data.get("error"), dict) else {}
    granular = tuple(
        (str(g.get("scope")), tuple(str(t) for t in g.get("target_ids") or ()))
        for g in data.get("granular_scopes") or ()
        if isinstance(g, dict)
    )
    return TokenInfo(
        type=data.get("type"),
        app_id=str(data["app_id"]) if data.get("app_id") else None,
        application=data.get("application"),
        user_id=str(data["user_id"]) if data.get("user_id") else None,
        profile_id=str(data["profile_id"]) if data.get("profile_id") else None,
        issued_at=_timestamp(data.get("issued_at")),
        expires_at=_timestamp(data.get("expires_at")),
        data_access_expires_at=_timestamp(data.get("data_access_expires_at")),
        scopes=tuple(str(s) for s in data.get("scopes") or ()),
        granular_scopes=granular,
        is_valid=bool(data.get("is_valid")),
        error_code=error.get("code"),
        error_subcode=error.get("subcode") or error.get("error_subcode"),
        error_message=error.get("message"),
    )


def _get(url: str, params: dict[str, str], timeout: tuple[float, float], what: str) -> Any:
    """A GET through plain requests; returns the JSON body or raises a clean error."""
    session = requests.Session()
    if urlparse(url).hostname in LOOPBACK_HOSTS:
        session.trust_env = False
    error: MarketingApiError | None = None
    body: Any = None
    try:
        response = session.get(url, params=params, timeout=timeout)
    except requests.RequestException as exc:
        # str(exc) holds the URL with the secrets: only the exception's type is kept.
        error = MarketingApiError(
            f"connection failed ({type(exc).__name__})", kind=TRANSIENT, what=what
        )
    else:
        try:
            body = response.json()
        except ValueError:
            error = MarketingApiError(
                f"HTTP {response.status_code} with a non-JSON body", kind=TRANSIENT, what=what
            )
    finally:
        session.close()
    if error is not None:
        raise error
    details = details_from_body(body, response.status_code)
    if details is not None:
        raise MarketingApiError.from_details(details, what=what)
    if response.status_code >= 400 or not isinstance(body, dict):
        raise MarketingApiError(f"HTTP {response.status_code}", kind=TRANSIENT, what=what)
    return body


def inspect_token(
    access_token: str,
    *,
    graph_url: str,
    api_version: str = "v26.0",
    app_id: str | None = None,
    app_secret: str | None = None,
    timeout: tuple[float, float] = (10, 30),
) -> TokenInfo:
    """Asks debug_token about ``access_token``, with an app token when id and secret are known.

    A token too dead to inspect itself (code 190) comes back as an invalid TokenInfo rather
    than an exception, so ``fbads token inspect`` can still say what is wrong.
    """
    register_secret(access_token)
    register_secret(app_secret)
    inspector = f"{app_id}|{app_secret}" if app_id and app_secret else access_token
    register_secret(inspector)
    params = {"input_token": access_token, "access_token": inspector}
    if app_secret and inspector == access_token:
        params["appsecret_proof"] = appsecret_proof(access_token, app_secret)
    url = f"{graph_url.rstrip('/')}/{api_version}/debug_token"
    try:
        body = _get(url, params, timeout, "debug_token")
    except MarketingApiError as error:
        if error.kind == AUTH:
            return _invalid_info(error)
        if error.code == 100 and not app_secret:
            raise MarketingApiError(
                error.api_message,
                kind=CONFIG,
                code=error.code,
                what="debug_token",
                advice="Meta needs an app token to inspect this token: set FACEBOOK_APP_ID and "
                "FACEBOOK_APP_SECRET (App Dashboard → Settings → Basic).",
            ) from None
        raise
    data = body.get("data")
    if not isinstance(data, dict):
        raise MarketingApiError("debug_token returned no 'data' object", kind=TRANSIENT)
    return token_info_from_debug(data)


def _invalid_info(error: MarketingApiError) -> TokenInfo:
    return TokenInfo(
        type=None,
        app_id=None,
        application=None,
        user_id=None,
        profile_id=None,
        issued_at=None,
        expires_at=None,
        data_access_expires_at=None,
        scopes=(),
        is_valid=False,
        error_code=error.code,
        error_subcode=error.subcode,
        error_message=error.api_message,
    )


@dataclass(frozen=True)
class TokenCheck:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def check_token(
    info: TokenInfo,
    *,
    now: dt.datetime,
    environment: str = "local",
    expiry_warning_days: int = DEFAULT_EXPIRY_WARNING_DAYS,
) -> TokenCheck:
    """What stops the pipeline (errors) and what will, or should not be so (warnings)."""
    check = TokenCheck()
    if not info.is_valid:
        advice = AUTH_ADVICE.get(info.error_subcode or 0, DEFAULT_AUTH_ADVICE)
        reason = (info.error_message or "Meta reports the token as invalid").rstrip(". ")
        code = f" (code {info.error_code}/{info.error_subcode})" if info.error_subcode else ""
        check.errors.append(f"The access token is not valid: {reason}{code}. {advice}")
        return check
    if info.type == "APP":
        check.errors.append(
            "FACEBOOK_ACCESS_TOKEN is an app token, which cannot read ad accounts. Use a "
            "system user token with ads_read (Business Settings → Users → System users)."
        )
    if READ_SCOPE not in info.scopes:
        check.errors.append(
            f"The token lacks the {READ_SCOPE} permission (it has: "
            f"{', '.join(info.scopes) or 'none'}). Generate a new token with {READ_SCOPE} "
            "and set FACEBOOK_ACCESS_TOKEN."
        )
    check.warnings.extend(_expiry_warnings(info, now, expiry_warning_days))
    if environment == "prod" and info.type in PERSONAL_TOKEN_TYPES:
        check.warnings.append(
            "Production runs on a personal user token: it stops working when that person "
            "leaves, changes their password or loses their role. Use a system user token "
            "(Business Settings → Users → System users)."
        )
    if WRITE_SCOPE in info.scopes:
        check.warnings.append(
            f"The token has {WRITE_SCOPE} (it can change and spend on ads); reporting needs "
            f"only {READ_SCOPE}. Generate a token with {READ_SCOPE} alone."
        )
    return check


def _expiry_warnings(info: TokenInfo, now: dt.datetime, warning_days: int) -> list[str]:
    warnings = []
    days = info.days_to_expiry(now)
    if days is not None and info.expires_at is not None and days < warning_days:
        warnings.append(
            f"The access token expires on {info.expires_at:%Y-%m-%d %H:%M} UTC ({days} days). "
            "Replace it before then: a system user token does not need a person to renew it."
        )
    data_days = info.days_to_data_access_expiry(now)
    if data_days is not None and info.data_access_expires_at and data_days < warning_days:
        warnings.append(
            f"Data access of this token ends on {info.data_access_expires_at:%Y-%m-%d} "
            f"({data_days} days): the user must use the app again or re-grant access."
        )
    return warnings


def token_health_metadata(info: TokenInfo, now: dt.datetime | None = None) -> dict[str, Any]:
    """Dagster metadata for the token-health asset; never the token itself.

    ``days_to_expiry`` and ``expires_at`` are left out for a token that never expires (a
    sentinel such as 36500 would flatten the UI's countdown plot); ``never_expires`` says so.
    """
    import dagster as dg  # here, so `fbads token` does not pay for importing Dagster

    now = now or dt.datetime.now(dt.UTC)
    metadata: dict[str, Any] = {
        "type": dg.MetadataValue.text(info.type or "unknown"),
        "app": dg.MetadataValue.text(
            f"{info.application or '?'} ({info.app_id})" if info.app_id else "unknown"
        ),
        "scopes": dg.MetadataValue.text(", ".join(info.scopes) or "none"),
        "is_valid": dg.MetadataValue.bool(info.is_valid),
        "never_expires": dg.MetadataValue.bool(info.never_expires),
    }
    if info.expires_at is not None:
        metadata["expires_at"] = dg.MetadataValue.timestamp(info.expires_at)
        metadata["days_to_expiry"] = dg.MetadataValue.int(int(info.days_to_expiry(now) or 0))
    if info.data_access_expires_at is not None:
        metadata["data_access_expires_at"] = dg.MetadataValue.timestamp(info.data_access_expires_at)
        metadata["days_to_data_access_expiry"] = dg.MetadataValue.int(
            int(info.days_to_data_access_expiry(now) or 0)
        )
    return metadata


@dataclass(frozen=True, repr=False)
class ExchangedToken:
    access_token: str
    expires_at: dt.datetime | None

    def __repr__(self) -> str:
        return f"ExchangedToken(expires_at={self.expires_at!r})"


def exchange_token(
    short_lived_token: str,
    *,
    app_id: str,
    app_secret: str,
    graph_url: str,
    api_version: str = "v26.0",
    now: dt.datetime | None = None,
    timeout: tuple[float, float] = (10, 30),
) -> ExchangedToken:
    """Short-lived user token → long-lived (about 60 days) with ``fb_exchange_token``."""
    if not app_id or not app_secret:
        raise MarketingApiError(
            "Exchanging a token needs the app: set FACEBOOK_APP_ID and FACEBOOK_APP_SECRET "
            "(App Dashboard → Settings → Basic)",
            kind=CONFIG,
        )
    register_secret(short_lived_token)
    register_secret(app_secret)
    params = {
        "grant_type": "fb_exchange_token",
        "client_id": app_id,
        "client_secret": app_secret,
        "fb_exchange_token": short_lived_token,
    }
    url = f"{graph_url.rstrip('/')}/{api_version}/oauth/access_token"
    body = _get(url, params, timeout, "oauth/access_token")
    token = body.get("access_token")
    if not token:
        raise MarketingApiError("the exchange returned no access_token", kind=TRANSIENT)
    register_secret(str(token))
    expires_in = body.get("expires_in")
    now = now or dt.datetime.now(dt.UTC)
    expires_at = now + dt.timedelta(seconds=int(expires_in)) if expires_in else None
    return ExchangedToken(access_token=str(token), expires_at=expires_at)
