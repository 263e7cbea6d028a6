"""The Facebook resource: the access token, checked, and the Marketing API client every asset uses.

The token arrives as ``dg.EnvVar("FACEBOOK_ACCESS_TOKEN")`` so its value never reaches the code
location snapshot or the UI; the app id and secret likewise when set. Setup installs log
redaction for the token and secret before anything can log them. Without a token in local
mode, setup starts the built-in sandbox in-process and says so, loudly, once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging

import dagster as dg
from pydantic import Field, PrivateAttr

from fbads_assets.api.client import DEFAULT_API_VERSION, MarketingApiClient
from fbads_assets.api.errors import AUTH, CONFIG, PERMISSION, MarketingApiError
from fbads_assets.api.redaction import install_log_redaction
from fbads_assets.api.tokens import (
    DEFAULT_EXPIRY_WARNING_DAYS,
    TokenInfo,
    check_token,
    inspect_token,
)
from fbads_assets.api.validation import check_api_version
from fbads_assets.settings import DEFAULT_GRAPH_URL

ENVIRONMENTS = ("local", "prod")
SANDBOX_WARNING = (
    "FACEBOOK_ACCESS_TOKEN is not set: this run reads the BUILT-IN SANDBOX at {url}, not Meta. "
    "Its accounts and numbers are generated. Set FACEBOOK_ACCESS_TOKEN to read your real ad "
    "accounts."
)


def _secret(description: str) -> Field:  # type: ignore[valid-type]
    # Dagster masks fields marked secret in launchpad scaffolding (dagster/_config/pythonic_config).
    return Field(
        default=None, description=description, json_schema_extra={"dagster__is_secret": True}
    )


class FacebookAdsResource(dg.ConfigurableResource):
    """Meta Marketing API access: token checks and one ``MarketingApiClient`` per step."""

    access_token: str | None = _secret(
        "Marketing API access token (pass dg.EnvVar('FACEBOOK_ACCESS_TOKEN')). Empty in local "
        "mode: the built-in sandbox is used."
    )
    app_id: str | None = Field(
        default=None, description="Meta app id (FACEBOOK_APP_ID): debug_token, appsecret_proof."
    )
    app_secret: str | None = _secret(
        "Meta app secret (FACEBOOK_APP_SECRET): every call then carries appsecret_proof."
    )
    graph_url: str = Field(default=DEFAULT_GRAPH_URL, description="Graph API base URL.")
    api_version: str = Field(default=DEFAULT_API_VERSION, description="Graph API version.")
    environment: str = Field(default="local", description="'local' or 'prod' (FBADS_ENV).")
    expiry_warning_days: int = Field(
        default=DEFAULT_EXPIRY_WARNING_DAYS,
        description="Warn when the token or its data access expires within this many days.",
    )
    page_size: int = Field(default=500, description="First page size tried for edge reads.")

    _client: MarketingApiClient | None = PrivateAttr(default=None)
    _sandbox: contextlib.ExitStack | None = PrivateAttr(default=None)
    _effective: tuple[str, str, str | None, str | None] | None = PrivateAttr(default=None)
    _log: logging.Logger | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._connect(context.log or logging.getLogger("fbads_assets"))

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self.close()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None
        self._effective = None

    @property
    def uses_sandbox(self) -> bool:
        return self._sandbox is not None

    def get_client(self) -> MarketingApiClient:
        """The step's client; its ``stats`` accumulate over everything the step asks."""
        token, graph_url, app_id, app_secret = self._connected()
        if self._client is None:
            self._client = MarketingApiClient(
                token,
                graph_url=graph_url,
                api_version=self.api_version,
                app_id=app_id,
                app_secret=app_secret,
                page_size=self.page_size,
                logger=self._log,
            )
        return self._client

    def token_fingerprint(self) -> str:
        """A short name for the token in use that cannot be turned back into the token.

        16 hex digits of a SHA-256 of the token: enough to tell tokens apart, so a run can
        recognise the token an earlier run inspected without anyone storing the token.
        """
        token, _, _, _ = self._connected()
        return token_fingerprint(token)

    def inspect_token(self) -> TokenInfo:
        """debug_token on the token; raises when it cannot run the pipeline, logs warnings."""
        token, graph_url, app_id, app_secret = self._connected()
        info = inspect_token(
            token,
            graph_url=graph_url,
            api_version=self.api_version,
            app_id=app_id,
            app_secret=app_secret,
        )
        check = check_token(
            info,
            now=dt.datetime.now(dt.UTC),
            environment=self.environment,
            expiry_warning_days=self.expiry_warning_days,
        )
        log = self._log or logging.getLogger("fbads_assets")
        for warning in check.warnings:
            log.warning(warning)
        if check.errors:
            kind = AUTH if not info.is_valid else PERMISSION
            raise MarketingApiError(
                " ".join(check.errors),
                kind=kind,
                code=info.error_code,
                subcode=info.error_subcode,
                what="FACEBOOK_ACCESS_TOKEN",
            )
        return info

    # -- setup ----------------------------------------------------------------------------------

    def _connected(self) -> tuple[str, str, str | None, str | None]:
        if self._effective is None:
            # Used outside a Dagster step (a script, a test): set up on first use.
            self._connect(logging.getLogger("fbads_assets"))
        assert self._effective is not None
        return self._effective

    def _connect(self, log: logging.Logger) -> None:
        self._log = log
        self._check_config()
        install_log_redaction([self.access_token, self.app_secret])
        token = (self.access_token or "").strip()
        if token:
            self._effective = (token, self.graph_url, self.app_id or None, self.app_secret or None)
            return
        if self.environment == "prod":
            raise MarketingApiError.config(
                "FACEBOOK_ACCESS_TOKEN is not set and FBADS_ENV=prod; production never falls "
                "back to the sandbox. Set FACEBOOK_ACCESS_TOKEN to a system user token with "
                "ads_read"
            )
        self._start_sandbox(log)

    def _start_sandbox(self, log: logging.Logger) -> None:
        from fbads_assets.sandbox import SandboxConfig, run_sandbox

        stack = contextlib.ExitStack()
        sandbox = stack.enter_context(run_sandbox(SandboxConfig()))
        self._sandbox = stack
        install_log_redaction([sandbox.demo_token])
        # The sandbox has its own app (and no secret): the configured ones are Meta's.
        self._effective = (sandbox.demo_token, sandbox.base_url, None, None)
        log.warning(SANDBOX_WARNING.format(url=sandbox.base_url))

    def _check_config(self) -> None:
        if self.environment not in ENVIRONMENTS:
            raise MarketingApiError(
                f"environment {self.environment!r} is not known; use 'local' or 'prod' (FBADS_ENV)",
                kind=CONFIG,
            )
        check_api_version(self.api_version)
        if self.app_secret and not self.app_id:
            raise MarketingApiError.config(
                "FACEBOOK_APP_SECRET is set but FACEBOOK_APP_ID is not. Set both (App Dashboard "
                "→ Settings → Basic) or neither"
            )
        if self.app_id and not self.app_id.strip().isdigit():
            raise MarketingApiError.config(
                f"FACEBOOK_APP_ID={self.app_id!r} is not a numeric app id"
            )
        if not self.graph_url.startswith(("http://", "https://")):
            raise MarketingApiError.config(
                f"Graph URL {self.graph_url!r} is not an http(s) URL. Check FBADS_GRAPH_URL"
            )


def token_fingerprint(token: str) -> str:
    """16 hex digits of SHA-256 over the token (with a fixed prefix); never the token itself."""
    return hashlib.sha256(b"fbads-token-fingerprint:" + token.encode()).hexdigest()[:16]
