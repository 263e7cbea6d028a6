"""The sandbox's token registry: one token of every kind a Marketing API user meets.

Tokens are deterministic from the seed and start with "sbx-" (never "EAA", Meta's prefix), so no
reader or redaction rule can take them for real ones. Expiry is judged against the sandbox clock,
so a test can let a short-lived token lapse by moving the clock.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo

from fbads_assets.sandbox.clock import SandboxClock
from fbads_assets.sandbox.config import DEMO_TOKEN, SandboxConfig
from fbads_assets.sandbox.errors import GraphError
from fbads_assets.sandbox.prng import hash_of

DAY = 86400
LONG_LIVED_SECONDS = 60 * DAY  # 5 184 000 s, as in Meta's long-lived user tokens
DATA_ACCESS_SECONDS = 90 * DAY
EXCHANGE_EXPIRES_IN = 5183944  # what Meta's fb_exchange_token answer typically says
ADS_SCOPES = ("ads_read", "ads_management")
# Meta words expiry messages in Pacific time.
MESSAGE_TZ = ZoneInfo("America/Los_Angeles")

INVALIDATION_MESSAGES = {
    460: "Error validating access token: The session has been invalidated because the user "
    "changed their password or Facebook has changed the session for security reasons.",
    458: "Error validating access token: The user has not authorized application {app_id}.",
    467: "Error validating access token: The session is invalid because the user logged out.",
}


@dataclass(frozen=True)
class TokenInfo:
    kind: str
    token: str
    type: str  # USER, SYSTEM_USER, PAGE
    scopes: tuple[str, ...]
    issued_at: int
    expires_at: int  # 0: never
    data_access_expires_at: int  # 0: never
    user_id: str
    invalid_subcode: int | None = None  # 460, 458, 467: revoked whatever the clock says
    account_ids: tuple[str, ...] | None = None  # None: every account
    profile_id: str | None = None

    @property
    def can_read_ads(self) -> bool:
        return any(scope in self.scopes for scope in ADS_SCOPES)


class TokenRegistry:
    def __init__(
        self, config: SandboxConfig, clock: SandboxClock, user_id: str, account_ids: list[str]
    ) -> None:
        self._config = config
        self._clock = clock
        self._lock = threading.Lock()
        issued = int(clock.timestamp()) - 600
        self._by_token: dict[str, TokenInfo] = {}
        for info in _initial_tokens(config, issued, user_id, account_ids):
            self._by_token[info.token] = info
        self.by_kind = {info.kind: info.token for info in self._by_token.values()}

    def lookup(self, token: str) -> TokenInfo | None:
        with self._lock:
            return self._by_token.get(token)

    def validate(self, token: str | None) -> TokenInfo:
        """The token's info, or the GraphError Meta gives for that token."""
        if not token:
            raise GraphError(
                400,
                104,
                "An access token is required to request this resource.",
                headers=_www_authenticate("invalid_request"),
            )
        info = self.lookup(token)
        if info is None:
            raise GraphError(
                400,
                190,
                "Invalid OAuth access token - Cannot parse access token",
                headers=_www_authenticate("invalid_token"),
            )
        problem = self.problem(info)
        if problem:
            subcode, message = problem
            raise GraphError(
                400, 190, message, subcode=subcode, headers=_www_authenticate("invalid_token")
            )
        return info

    def problem(self, info: TokenInfo) -> tuple[int, str] | None:
        """(subcode, message) if the token is no longer valid, else None."""
        if info.invalid_subcode is not None:
            message = INVALIDATION_MESSAGES[info.invalid_subcode]
            return info.invalid_subcode, message.format(app_id=self._config.app_id)
        now = self._clock.timestamp()
        if info.expires_at and now >= info.expires_at:
            return 463, _expired_message(info.expires_at, now)
        return None

    def exchange(self, short: TokenInfo) -> TokenInfo:
        """A new long-lived user token for a valid user token (fb_exchange_token)."""
        issued = int(self._clock.timestamp())
        token = f"sbx-user-long-lived-x{hash_of(short.token, issued) % 16**12:012x}"
        info = replace(
            short,
            kind="user_long_lived",
            token=token,
            issued_at=issued,
            expires_at=issued + LONG_LIVED_SECONDS,
            data_access_expires_at=issued + DATA_ACCESS_SECONDS,
        )
        with self._lock:
            self._by_token[token] = info
        return info


def _initial_tokens(
    config: SandboxConfig, issued: int, user_id: str, account_ids: list[str]
) -> list[TokenInfo]:
    def token(kind: str) -> str:
        return f"sbx-{kind.replace('_', '-')}-{hash_of(config.seed, kind) % 16**16:016x}"

    # Short-lived user tokens expire at the top of an hour, one to two hours after issue.
    short_expiry = ((issued + 3600) // 3600 + 1) * 3600
    long_expiry = issued + LONG_LIVED_SECONDS
    data_access = issued + DATA_ACCESS_SECONDS
    read = ("ads_read",)
    spec = [
        ("user_short_lived", "USER", read, short_expiry, data_access, None, None),
        ("user_long_lived", "USER", read, long_expiry, data_access, None, None),
        ("system_user", "SYSTEM_USER", read, 0, 0, None, None),
        ("system_user_60d", "SYSTEM_USER", read, long_expiry, 0, None, None),
        ("page", "PAGE", ("pages_show_list", "pages_read_engagement"), 0, 0, None, None),
        ("expired", "USER", read, issued - 3 * DAY, issued + 27 * DAY, None, None),
        ("password_changed", "USER", read, long_expiry, data_access, 460, None),
        ("not_authorized", "USER", read, long_expiry, data_access, 458, None),
        ("logged_out", "USER", read, long_expiry, data_access, 467, None),
        (
            "no_ads_read",
            "USER",
            ("public_profile", "business_management"),
            long_expiry,
            data_access,
            None,
            None,
        ),
        (
            "ads_management",
            "SYSTEM_USER",
            ("ads_read", "ads_management", "business_management"),
            0,
            0,
            None,
            None,
        ),
        ("one_account", "SYSTEM_USER", read, 0, 0, None, tuple(account_ids[:1])),
    ]
    infos = [
        TokenInfo(
            kind="demo",
            token=DEMO_TOKEN,
            type="SYSTEM_USER",
            scopes=read,
            issued_at=issued,
            expires_at=0,
            data_access_expires_at=0,
            user_id=user_id,
        )
    ]
    for kind, type_, scopes, expires, data_expires, invalid, accounts in spec:
        infos.append(
            TokenInfo(
                kind=kind,
                token=token(kind),
                type=type_,
                scopes=scopes,
                issued_at=issued - (63 * DAY if kind == "expired" else 0),
                expires_at=expires,
                data_access_expires_at=data_expires,
                user_id=user_id,
                invalid_subcode=invalid,
                account_ids=accounts,
                profile_id="300000000000001" if type_ == "PAGE" else None,
            )
        )
    return infos


def _expired_message(expired_at: int, now: float) -> str:
    fmt = "%A, %d-%b-%y %H:%M:%S %Z"
    at = dt.datetime.fromtimestamp(expired_at, MESSAGE_TZ).strftime(fmt)
    current = dt.datetime.fromtimestamp(now, MESSAGE_TZ).strftime(fmt)
    return (
        f"Error validating access token: Session has expired on {at}. "
        f"The current time is {current}."
    )


def _www_authenticate(error: str) -> dict[str, str]:
    # Graph sends this on token errors (observed in public captures, not in Meta's documentation).
    return {"WWW-Authenticate": f'OAuth "Facebook Platform" "{error}" "token problem"'}
