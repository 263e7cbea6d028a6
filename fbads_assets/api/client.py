"""The Marketing API client: the only code in the project that talks to the Graph API.

It returns plain dicts as the API sent them (never ``paging``), counts every call in
``self.stats``, waits through an injectable clock, and raises ``MarketingApiError`` with a text
that says what failed and what to do. On top of ``GraphTransport`` (one request) it adds:

- a pause before each call when the usage headers near a limit, and retries keyed on Meta's
  error codes: throttles wait as long as Meta estimates, transient errors back off; auth,
  permission and invalid-request errors are never retried (a retry storm on a dead token only
  deepens the block);
- paging by cursor that does not stop at an empty page which still has ``next`` (the SDK's
  ``Cursor`` does) and never follows the ``next`` URL itself (it holds the token);
- the largest page size that works: start at ``page_size``, halve on "reduce the amount of
  data", and remember the size per edge for the rest of the client's life;
- insights, sync or as async report runs (``fbads_assets.api.insights``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from fbads_assets.api import validation
from fbads_assets.api.clock import Clock, SystemClock
from fbads_assets.api.errors import (
    AUTH,
    CONFIG,
    INVALID,
    PERMISSION,
    THROTTLE,
    TOO_MUCH_DATA,
    MarketingApiError,
)
from fbads_assets.api.insights import (
    InsightsRequest,
    InsightsResult,
    InsightsRunner,
    ReportTiming,
)
from fbads_assets.api.stats import ApiStats
from fbads_assets.api.throttle import (
    Usage,
    jobs_in_flight_cap,
    pause_before_next_call,
    throttle_backoff,
    transient_backoff,
)
from fbads_assets.api.transport import GraphResponse, GraphTransport

__all__ = [
    "InsightsRequest",
    "InsightsResult",
    "MarketingApiClient",
    "MarketingApiError",
    "ReportTiming",
]

DEFAULT_GRAPH_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v26.0"
# Shrinking pages below this only multiplies calls; the range is split instead.
MIN_PAGE_SIZE = 10
MAX_PAGE_SIZE = 5000
MAX_EMPTY_PAGES_IN_A_ROW = 20
# Six attempts cover Meta's 1-5 minute throttle advice and a minute of transient errors.
MAX_RETRIES = 5
# Multi-id reads (GET /?ids=) and batches take at most 50 ids (graph-api/batch-requests).
MAX_IDS_PER_CALL = 50
EFFECTIVE_STATUSES = {
    "campaigns": ["ACTIVE", "PAUSED", "DELETED", "ARCHIVED", "IN_PROCESS", "WITH_ISSUES"],
    "adsets": [
        "ACTIVE",
        "PAUSED",
        "DELETED",
        "ARCHIVED",
        "IN_PROCESS",
        "WITH_ISSUES",
        "CAMPAIGN_PAUSED",
        "PENDING_REVIEW",
        "DISAPPROVED",
        "PREAPPROVED",
        "PENDING_BILLING_INFO",
    ],  # fmt: skip
}
EFFECTIVE_STATUSES["ads"] = [*EFFECTIVE_STATUSES["adsets"], "ADSET_PAUSED"]


class MarketingApiClient:
    """A Graph API client for one token. Not for sharing across threads: one per step."""

    def __init__(
        self,
        access_token: str,
        graph_url: str = DEFAULT_GRAPH_URL,
        api_version: str = DEFAULT_API_VERSION,
        app_id: str | None = None,
        app_secret: str | None = None,
        timeout: tuple[float, float] = (10, 120),
        clock: Clock | None = None,
        page_size: int = 500,
        logger: logging.Logger | None = None,
        max_retries: int = MAX_RETRIES,
    ) -> None:
        _check_config(access_token, graph_url, api_version, app_id, app_secret, page_size)
        self.api_version = api_version
        self.graph_url = graph_url.rstrip("/")
        self.clock: Clock = clock or SystemClock()
        self.log = logger or logging.getLogger("fbads_assets.api")
        self.stats = ApiStats()
        self.page_size = page_size
        self.max_retries = max_retries
        self._transport = GraphTransport(
            access_token, self.graph_url, api_version, app_id, app_secret, timeout
        )
        # The latest usage Meta reported, per ad account (None: calls not tied to one account).
        self._usage: dict[str | None, Usage] = {}
        self._insights_usage: dict[str, Usage] = {}
        self._page_sizes: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"MarketingApiClient(graph_url={self.graph_url!r}, api_version={self.api_version!r})"

    def close(self) -> None:
        self._transport.close()

    # -- one call, with throttle pauses and retries ---------------------------------------------

    def call(
        self,
        method: str,
        path: tuple[str, ...],
        params: Mapping[str, Any] | None = None,
        *,
        endpoint: str,
        account_id: str | None = None,
        count: list[tuple[str, str | None]] | None = None,
    ) -> GraphResponse:
        """One request; ``count`` lists (endpoint, account) per sub-request of a batch."""
        attempt = 0
        while True:
            self._pause_for_usage(account_id)
            for sub_endpoint, sub_account in count or [(endpoint, account_id)]:
                self.stats.record_call(sub_endpoint, sub_account)
            try:
                response = self._transport.send(method, path, params or {})
            except MarketingApiError as caught:
                error = caught
            else:
                self._usage[account_id] = response.usage
                if account_id and response.usage.has_insights_throttle:
                    self.remember_insights_usage(account_id, response.usage)
                return response
            # Raised outside the except block, so no traceback chains to an earlier failure.
            self.stats.record_error(error.kind)
            self._usage[account_id] = error.usage
            if not error.retryable:
                raise error
            if attempt >= self.max_retries:
                raise _gave_up(error, attempt + 1)
            self._back_off(error, attempt)
            attempt += 1

    def _pause_for_usage(self, account_id: str | None) -> None:
        keys = {None, account_id}
        pause = max(pause_before_next_call(self._usage.get(k, Usage())) for k in keys)
        if pause <= 0:
            return
        self.log.info(
            "Marketing API usage is near its limit (%s); pausing %.0f s before the next call.",
            f"account {account_id}" if account_id else "app",
            pause,
        )
        self.wait(pause, throttle=True)
        # The figures were from before the pause; the next response brings fresh ones.
        for key in keys:
            self._usage.pop(key, None)

    def _back_off(self, error: MarketingApiError, attempt: int) -> None:
        if error.kind == THROTTLE:
            seconds = throttle_backoff(error.usage, attempt)
        else:
            seconds = transient_backoff(attempt)
        self.log.warning(
            "%s Retry %d of %d in %.0f s.", error, attempt + 1, self.max_retries, seconds
        )
        self.stats.add("retries")
        self.wait(seconds, throttle=error.kind == THROTTLE)
        self._usage.clear()

    def wait(self, seconds: float, *, throttle: bool) -> None:
        """Waits on the client's clock and records the time as a throttle or retry wait."""
        started = self.clock.monotonic()
        self.clock.sleep(seconds)
        waited = self.clock.monotonic() - started
        if throttle:
            self.stats.record_wait(waited)
        else:
            self.stats.add_seconds("retry_wait_seconds", waited)

    def remember_insights_usage(self, account_id: str, usage: Usage) -> None:
        self._insights_usage[account_id] = usage

    def jobs_cap(self, account_id: str) -> int:
        """Async report runs this account may have in flight, from its insights throttle."""
        return jobs_in_flight_cap(self._insights_usage.get(account_id))

    # -- paging ---------------------------------------------------------------------------------

    def pages(
        self,
        path: tuple[str, ...],
        params: Mapping[str, Any],
        *,
        endpoint: str,
        account_id: str | None = None,
    ) -> Iterator[list[dict]]:
        """Yields each page's ``data`` until a page has no ``next``; empty pages do not stop it."""
        limit = self._page_sizes.get(endpoint, self.page_size)
        after: str | None = None
        empty_in_a_row = 0
        while True:
            page_params = {**params, "limit": limit}
            if after:
                page_params["after"] = after
            try:
                response = self.call(
                    "GET", path, page_params, endpoint=endpoint, account_id=account_id
                )
            except MarketingApiError as error:
                if error.kind != TOO_MUCH_DATA or limit <= MIN_PAGE_SIZE:
                    raise
                limit = self._shrink_page(endpoint, limit)
                continue
            body = response.body
            data = body.get("data") if isinstance(body, dict) else None
            if not isinstance(data, list):
                raise MarketingApiError(
                    "the response has no 'data' list", kind=INVALID, what=f"GET {endpoint}"
                )
            yield data
            after = _next_cursor(body)
            if after is None:
                return
            # An empty page may repeat the cursor it was asked with; only an endless run of
            # them is a loop.
            empty_in_a_row = 0 if data else empty_in_a_row + 1
            if empty_in_a_row > MAX_EMPTY_PAGES_IN_A_ROW:
                raise MarketingApiError(
                    f"{empty_in_a_row} empty pages in a row, each with a next page",
                    kind=INVALID,
                    what=f"GET {endpoint}",
                    advice="Re-run; if it repeats, Meta's paging for this edge is stuck.",
                )

    def _shrink_page(self, endpoint: str, limit: int) -> int:
        smaller = max(MIN_PAGE_SIZE, limit // 2)
        self._page_sizes[endpoint] = smaller
        self.stats.add("page_size_reductions")
        self.log.info(
            "Meta asked for less data per call on %s: page size %d → %d.",
            endpoint,
            limit,
            smaller,
        )
        return smaller

    def read_all(
        self,
        path: tuple[str, ...],
        params: Mapping[str, Any],
        *,
        endpoint: str,
        account_id: str | None = None,
        keep: Callable[[list[dict]], list] | None = None,
    ) -> list:
        """Every page's rows; through ``keep`` page by page if given, so only one page of
        dicts is alive at a time."""
        rows: list = []
        count = 0
        for page in self.pages(path, params, endpoint=endpoint, account_id=account_id):
            count += len(page)
            rows.extend(page if keep is None else keep(page))
        self.stats.add("rows", count)
        return rows

    # -- accounts and objects -------------------------------------------------------------------

    def list_ad_accounts(self, fields: list[str]) -> list[dict]:
        """Every ad account the token can read (``/me/adaccounts``)."""
        fields = validation.check_account_fields(fields)
        return self.read_all(
            ("me", "adaccounts"), {"fields": ",".join(fields)}, endpoint="adaccounts"
        )

    def get_ad_accounts(self, account_ids: list[str], fields: list[str]) -> list[dict]:
        """The named ad accounts, 50 per multi-id read, in the order given."""
        nodes = [validation.account_node(a) for a in account_ids]
        fields = validation.check_account_fields(fields)
        out: list[dict] = []
        for start in range(0, len(nodes), MAX_IDS_PER_CALL):
            chunk = nodes[start : start + MAX_IDS_PER_CALL]
            params = {"ids": ",".join(chunk), "fields": ",".join(fields)}
            try:
                response = self.call("GET", (), params, endpoint="adaccount")
            except MarketingApiError as error:
                if error.kind not in (INVALID, PERMISSION):
                    raise
                self._raise_for_unreadable_account(chunk, fields, error)
                raise
            out.extend(_accounts_in_order(response.body, chunk))
        return out

    def _raise_for_unreadable_account(
        self, nodes: list[str], fields: list[str], error: MarketingApiError
    ) -> None:
        """A multi-id read fails whole; reading one by one names the account at fault."""
        for node in nodes:
            try:
                self.call("GET", (node, ""), {"fields": ",".join(fields)}, endpoint="adaccount")
            except MarketingApiError as single:
                if single.kind in (AUTH,):
                    raise
                raise MarketingApiError(
                    single.api_message,
                    kind=single.kind,
                    code=single.code,
                    subcode=single.subcode,
                    http_status=single.http_status,
                    what=f"Ad account {node}",
                    advice=(
                        f"This token cannot read ad account {node}. Give its user or system "
                        "user a role on the account (Business Settings → Accounts → Ad "
                        "accounts), or remove the id from FACEBOOK_AD_ACCOUNT_IDS."
                    ),
                ) from None

    def list_objects(
        self, account_id: str, edge: str, fields: list[str], include_deleted: bool = True
    ) -> list[dict]:
        """Campaigns, ad sets, ads or creatives of one account; by default in every status.

        Meta leaves ARCHIVED and DELETED objects out of an edge unless they are asked for by
        ``effective_status``. The creatives edge has no such filter; it returns what Meta
        returns (deleted creatives may be missing).
        """
        node = validation.account_node(account_id)
        object_class = validation.check_edge(edge)
        fields = validation.check_fields(fields, object_class, edge)
        params: dict[str, Any] = {"fields": ",".join(fields)}
        if include_deleted and edge in EFFECTIVE_STATUSES:
            params["effective_status"] = EFFECTIVE_STATUSES[edge]
        return self.read_all((node, edge), params, endpoint=edge, account_id=node)

    # -- insights -------------------------------------------------------------------------------

    def insights(
        self,
        account_id: str,
        since: dt.date,
        until: dt.date,
        *,
        level: str = "ad",
        fields: list[str],
        action_attribution_windows: list[str] | None = None,
        time_increment: int | str = 1,
        breakdowns: list[str] | None = None,
        use_async: bool = True,
        previous: ReportTiming | None = None,
        keep_rows: Callable[[list[dict]], list] | None = None,
    ) -> InsightsResult:
        """Insights rows of one account for ``since..until`` (both inclusive).

        ``previous``: how long the last report of the same kind took (its ``job_seconds``,
        ``fingerprint`` and days); the first status read then waits about that long.
        ``keep_rows``: applied to each page of rows as it arrives; the result holds its output.
        """
        request = InsightsRequest(
            account_id=account_id,
            since=since,
            until=until,
            level=level,
            fields=tuple(fields),
            action_attribution_windows=(
                tuple(action_attribution_windows) if action_attribution_windows else None
            ),
            time_increment=time_increment,
            breakdowns=tuple(breakdowns) if breakdowns else None,
            use_async=use_async,
            previous=previous,
            keep_rows=keep_rows,
        )
        return self.insights_many([request])[0]

    def insights_many(self, requests: list[InsightsRequest]) -> list[InsightsResult]:
        """Several requests at once: async jobs run side by side, their polls batched."""
        checked = [r.checked() for r in requests]
        return InsightsRunner(self).run(checked)


def _gave_up(error: MarketingApiError, attempts: int) -> MarketingApiError:
    """The last error of a retried call, saying that retrying is over."""
    advice = (
        "Meta kept rate-limiting this app or ad account. Run fewer accounts at once (the "
        "fbads/ad_account run tag limit) or re-run later."
        if error.kind == THROTTLE
        else "Meta or the network kept failing; re-run the partition later."
    )
    final = MarketingApiError(
        error.api_message,
        kind=error.kind,
        code=error.code,
        subcode=error.subcode,
        http_status=error.http_status,
        what=error.what,
        advice=f"Gave up after {attempts} attempts. {advice}",
        fbtrace_id=error.fbtrace_id,
    )
    final.usage = error.usage
    return final


def _next_cursor(body: dict) -> str | None:
    # Like the SDK, page on with the ``after`` cursor, never the ``next`` URL (it holds the
    # token); unlike the SDK, do not stop at an empty page that still has ``next``.
    paging = body.get("paging")
    if not isinstance(paging, dict) or not paging.get("next"):
        return None
    after = (paging.get("cursors") or {}).get("after")
    return str(after) if after else None


def _accounts_in_order(body: Any, nodes: list[str]) -> list[dict]:
    if not isinstance(body, dict):
        raise MarketingApiError("the multi-id read did not return an object", kind=INVALID)
    missing = [n for n in nodes if not isinstance(body.get(n), dict)]
    if missing:
        raise MarketingApiError(
            f"Meta returned nothing for {', '.join(missing)}",
            kind=PERMISSION,
            what="Ad accounts",
            advice="Check the ids and that the token's user has a role on these accounts.",
        )
    return [body[n] for n in nodes]


def _check_config(
    access_token: str,
    graph_url: str,
    api_version: str,
    app_id: str | None,
    app_secret: str | None,
    page_size: int,
) -> None:
    if not access_token or not access_token.strip():
        raise MarketingApiError.config(
            "No access token. Set FACEBOOK_ACCESS_TOKEN (a system user token with ads_read)"
        )
    validation.check_api_version(api_version)
    if app_secret and not app_id:
        raise MarketingApiError.config(
            "An app secret was given without an app id. Set FACEBOOK_APP_ID too (App Dashboard "
            "→ Settings → Basic), or unset FACEBOOK_APP_SECRET"
        )
    if app_id and not str(app_id).isdigit():
        raise MarketingApiError.config(f"App id {app_id!r} is not numeric. Check FACEBOOK_APP_ID")
    if not graph_url.startswith(("http://", "https://")):
        raise MarketingApiError.config(
            f"Graph URL {graph_url!r} is not an http(s) URL. Check FBADS_GRAPH_URL"
        )
    if not MIN_PAGE_SIZE <= page_size <= MAX_PAGE_SIZE:
        raise MarketingApiError(
            f"page_size {page_size} is out of range; use {MIN_PAGE_SIZE}-{MAX_PAGE_SIZE}",
            kind=CONFIG,
        )
