"""The facebook-business SDK pointed at a sandbox: the one way tests and benchmarks talk to it.

``GRAPH`` is set on the session *instance* (the SDK reads it through the instance, so no
monkeypatching), the session ignores proxy variables (loopback must not go through a proxy),
and a timeout is always set (the SDK's default is to wait forever).
"""

from __future__ import annotations

from facebook_business.api import FacebookAdsApi, FacebookSession

from fbads_assets.sandbox.config import API_VERSION


def make_api(
    base_url: str,
    token: str,
    *,
    app_id: str | None = None,
    app_secret: str | None = None,
    timeout: float = 30.0,
) -> FacebookAdsApi:
    session = FacebookSession(
        app_id=app_id, app_secret=app_secret, access_token=token, timeout=(5, timeout)
    )
    session.GRAPH = base_url
    session.requests.trust_env = False
    return FacebookAdsApi(session, api_version=API_VERSION)
