"""One HTTP request to the Graph API through the SDK's session, with its silent failures made loud.

The SDK is used only as the wire: its ``FacebookSession`` carries the token and appsecret_proof,
its ``FacebookAdsApi.call`` encodes parameters in the dialect Meta expects. Everything else the
SDK does by default is unsafe for a pipeline and is handled here:

- ``FacebookAdsApi.init`` is never called: it installs a crash reporter that posts tracebacks
  (file paths, source lines) to Meta.
- No default timeout: the SDK waits forever; a ``(connect, read)`` timeout is always set.
- A non-JSON 5xx body (an HTML 502/504 page from a proxy) counts as success in the SDK
  (``FacebookResponse.is_success`` ignores the status when the body is non-empty); here any
  status >= 500 or non-JSON body is a transient failure.
- ``requests`` exceptions carry the full URL, token included; they are replaced by a clean
  error raised outside the ``except`` block, so no traceback chains back to them.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import requests
from facebook_business.api import FacebookAdsApi
from facebook_business.exceptions import FacebookError, FacebookRequestError
from facebook_business.session import FacebookSession

from fbads_assets.api.errors import (
    TRANSIENT,
    ApiErrorDetails,
    MarketingApiError,
    details_from_body,
)
from fbads_assets.api.redaction import register_secret
from fbads_assets.api.throttle import Usage, parse_usage

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class GraphResponse:
    status: int
    headers: Mapping[str, str]
    body: Any
    usage: Usage = field(default_factory=Usage)


def appsecret_proof(access_token: str, app_secret: str) -> str:
    """HMAC-SHA256 of the token keyed with the app secret, hex, as Meta checks it."""
    return hmac.new(app_secret.encode(), access_token.encode(), hashlib.sha256).hexdigest()


class GraphTransport:
    """Sends requests; returns parsed JSON or raises ``MarketingApiError`` (never retries)."""

    def __init__(
        self,
        access_token: str,
        graph_url: str,
        api_version: str,
        app_id: str | None,
        app_secret: str | None,
        timeout: tuple[float, float],
    ) -> None:
        register_secret(access_token)
        register_secret(app_secret)
        if app_secret:
            register_secret(appsecret_proof(access_token, app_secret))
        self._timeout = timeout
        session = FacebookSession(
            app_id=app_id, app_secret=app_secret, access_token=access_token, timeout=timeout
        )
        # An instance attribute: the SDK reads GRAPH through the instance (facebook_business/api.py)
        session.GRAPH = graph_url.rstrip("/")
        self.host = urlparse(graph_url).hostname or graph_url
        if self.host in LOOPBACK_HOSTS:
            # With trust_env, an HTTP_PROXY without NO_PROXY would route the sandbox via a proxy.
            session.requests.trust_env = False
        self._session = session
        self._api = FacebookAdsApi(session, api_version=api_version)

    def __repr__(self) -> str:
        return f"GraphTransport(host={self.host!r})"

    def close(self) -> None:
        self._session.requests.close()

    def send(self, method: str, path: tuple[str, ...], params: Mapping[str, Any]) -> GraphResponse:
        what = f"{method} {'/'.join(path) or '/'}"
        error: MarketingApiError | None = None
        try:
            response = self._api.call(method, path, params=dict(params))
        except FacebookRequestError as exc:
            error = _from_request_error(exc, what)
        except requests.Timeout:
            error = MarketingApiError(
                f"no answer from {self.host} within {self._timeout[1]:g} s",
                kind=TRANSIENT,
                what=what,
                advice="Meta is slow; the call is retried.",
            )
        except requests.RequestException as exc:
            # str(exc) holds the URL with the token: only the exception's type is kept.
            error = MarketingApiError(
                f"connection to {self.host} failed ({type(exc).__name__})",
                kind=TRANSIENT,
                what=what,
                advice="The network or Meta dropped the connection; the call is retried.",
            )
        except (FacebookError, ValueError) as exc:
            # e.g. FacebookRequestError's own constructor failing on a non-JSON error_data.
            error = MarketingApiError(
                f"unreadable error response ({type(exc).__name__})", kind=TRANSIENT, what=what
            )
        if error is not None:
            raise error
        return _checked(response, what)


def _from_request_error(exc: FacebookRequestError, what: str) -> MarketingApiError:
    status = exc.http_status()
    details = details_from_body(exc.body(), status) or ApiErrorDetails(
        code=None,
        subcode=None,
        message=f"HTTP {status} with a body that is not a Graph error",
        http_status=status,
    )
    error = MarketingApiError.from_details(details, what=what)
    error.usage = parse_usage(exc.http_headers())
    return error


def _checked(response: Any, what: str) -> GraphResponse:
    status = response.status()
    body = response.json()
    headers = response.headers()
    if status >= 500 or not isinstance(body, dict | list):
        # The SDK called this a success (FacebookResponse.is_success ignores the status).
        error = MarketingApiError(
            f"HTTP {status} with a non-JSON body (an error page, not a Graph response)",
            kind=TRANSIENT,
            http_status=status,
            what=what,
            advice="A proxy or Meta's edge failed; the call is retried.",
        )
        error.usage = parse_usage(headers)
        raise error
    return GraphResponse(status=status, headers=headers, body=body, usage=parse_usage(headers))
