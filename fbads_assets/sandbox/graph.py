"""The Graph API as the sandbox answers it: routing, auth, faults, quotas, nodes and edges.

``Graph.handle`` takes one parsed request and returns one response; the HTTP server and the
batch endpoint both go through it, so a sub-request of a batch is checked, throttled, faulted
and counted exactly like a direct call.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from facebook_business.adobjects.ad import Ad
from facebook_business.adobjects.adaccount import AdAccount
from facebook_business.adobjects.adcreative import AdCreative
from facebook_business.adobjects.adreportrun import AdReportRun
from facebook_business.adobjects.adset import AdSet
from facebook_business.adobjects.campaign import Campaign
from facebook_business.adobjects.user import User

from fbads_assets.sandbox import errors, faults as fault_kinds, quota
from fbads_assets.sandbox.clock import SandboxClock
from fbads_assets.sandbox.config import API_VERSION, OLDEST_API_VERSION, SandboxConfig
from fbads_assets.sandbox.counters import Counters
from fbads_assets.sandbox.errors import GraphError
from fbads_assets.sandbox.faults import FaultBook, FaultRule
from fbads_assets.sandbox.insights import InsightsQuery, build_query
from fbads_assets.sandbox.jobs import ReportRuns
from fbads_assets.sandbox.params import (
    decode_cursor,
    encode_cursor,
    parse_bool,
    parse_fields,
    parse_json,
    parse_limit,
    parse_list,
)
from fbads_assets.sandbox.prng import hash_of
from fbads_assets.sandbox.tokens import EXCHANGE_EXPIRES_IN, TokenInfo, TokenRegistry
from fbads_assets.sandbox.world import HIDDEN_BY_DEFAULT, World

log = logging.getLogger(__name__)

JSON_TYPE = "application/json; charset=UTF-8"
VERSION_RE = re.compile(r"^v(\d+)\.(\d+)$")
EDGE_KINDS = {"campaigns": "campaign", "adsets": "adset", "ads": "ad", "adcreatives": "adcreative"}
NODE_TYPES = {
    "adaccount": "AdAccount",
    "campaign": "Campaign",
    "adset": "AdSet",
    "ad": "Ad",
    "adcreative": "AdCreative",
    "report_run": "AdReportRun",
    "user": "User",
}
DEFAULT_NODE_FIELDS = {"adaccount": ["id", "account_id"], "user": ["id", "name"]}
ACCOUNT_EXTRA_FIELDS = ("amount_spent", "owner", "business_name", "min_daily_budget")
MAX_BATCH = 50
SDK_CLASSES = {
    "adaccount": AdAccount, "campaign": Campaign, "adset": AdSet, "ad": Ad,
    "adcreative": AdCreative, "report_run": AdReportRun, "user": User,
}  # fmt: skip


@functools.cache
def sdk_fields(kind: str) -> frozenset[str]:
    """The fields the SDK lists for a node type: the ones Graph would not call nonexisting."""
    field_enum = SDK_CLASSES[kind].Field
    names = {v for k, v in vars(field_enum).items() if not k.startswith("_") and isinstance(v, str)}
    return frozenset(names) | (frozenset(ACCOUNT_EXTRA_FIELDS) if kind == "adaccount" else set())


HTML_PAGES = {
    502: (
        "<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>"
    ),
    504: (
        "<html><head><title>504 Gateway Time-out</title></head>"
        "<body>upstream request timeout</body></html>"
    ),
}


@dataclass
class Request:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    base_url: str = ""
    in_batch: bool = False


@dataclass
class Response:
    status: int
    body: bytes | None  # None: drop the connection without answering
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = JSON_TYPE
    rows: int = 0


@dataclass
class Route:
    """What a request addresses, resolved before auth so faults and counters can see it."""

    version: str
    segments: list[str]
    endpoint: str  # normalised, e.g. "/act/insights"
    account: str | None
    kind: str | None = None  # type of the node in segments[0]
    node: Any = None


class Graph:
    def __init__(
        self,
        config: SandboxConfig,
        clock: SandboxClock,
        world: World,
        tokens: TokenRegistry,
        faults: FaultBook,
        counters: Counters,
    ) -> None:
        self.config = config
        self.clock = clock
        self.world = world
        self.tokens = tokens
        self.faults = faults
        self.counters = counters
        self.runs = ReportRuns(config.seed)
        self.quota = quota.QuotaEngine(*self._budgets())
        self._trace = 0

    def _budgets(self) -> tuple[dict[str, int], dict[str, int]]:
        insights, management = {}, {}
        for account in self.world.accounts:
            active = sum(1 for ad in account.ads if ad["effective_status"] == "ACTIVE")
            insights[account.id] = self.config.insights_calls_per_hour or 600 + 400 * active
            management[account.id] = 300 + 40 * active
        return insights, management

    # --- the request pipeline -------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        if self.config.latency_ms and not request.in_batch:
            time.sleep(self.config.latency_ms / 1000)
        try:
            route = self._route(request)
        except GraphError as error:
            return self._finish(request, Route(API_VERSION, [], "/?", None), self._error(error))
        response = self._faulted(request, route) or self._answer(request, route)
        return self._finish(request, route, response)

    def _answer(self, request: Request, route: Route) -> Response:
        headers: dict[str, str] = {}
        try:
            result = self._dispatch(request, route, headers)
            if isinstance(result, Response):
                result.headers = {**headers, **result.headers}
                return result
            return self._json(200, result, headers)
        except GraphError as error:
            error.headers = {**headers, **error.headers}
            return self._error(error)
        except Exception:  # never a traceback on the wire, as Graph never sends one
            log.exception("Sandbox failed on %s %s", request.method, route.endpoint)
            return self._error(errors.unknown_error())

    def _finish(self, request: Request, route: Route, response: Response) -> Response:
        code = None
        if response.status >= 400 and response.body and response.content_type == JSON_TYPE:
            try:
                code = json.loads(response.body)["error"]["code"]
            except (ValueError, KeyError, TypeError):
                code = None
        elif response.body is None or response.content_type != JSON_TYPE:
            code = -response.status if response.body is not None else 0
        self.counters.record(
            request.method,
            route.endpoint,
            route.account,
            response.status if response.body is not None else 0,
            code,
            response.rows,
        )
        return response

    def _route(self, request: Request) -> Route:
        segments = [s for s in request.path.split("/") if s]
        version = API_VERSION
        matched = VERSION_RE.match(segments[0]) if segments else None
        if matched:
            version = segments.pop(0)
            major, minor = (int(x) for x in matched.groups())
            if (major, minor) < OLDEST_API_VERSION:
                raise errors.deprecated_version(API_VERSION)
        if not segments:
            name = "/batch" if request.method == "POST" else "/?ids"
            return Route(version, segments, name, None)
        head, rest = segments[0], segments[1:]
        kind, node, account = self._lookup(head)
        label = {"me": "me", "debug_token": "debug_token", "oauth": "oauth"}.get(head)
        if label is None:
            label = "act" if kind == "adaccount" else (kind or "id")
        endpoint = "/" + "/".join([label, *rest])
        return Route(version, segments, endpoint, account, kind, node)

    def _lookup(self, head: str) -> tuple[str | None, Any, str | None]:
        found = self.world.by_id.get(head)
        if found:
            kind, node = found
            return kind, node, self.world.account_of[head].id
        run = self.runs.get(head)
        if run:
            return "report_run", run, run.account_id
        return None, None, None

    # --- faults -----------------------------------------------------------------------------

    def _faulted(self, request: Request, route: Route) -> Response | None:
        path = "/" + "/".join(route.segments)
        slow = self.faults.take(fault_kinds.DELAY_KINDS, request.method, path, route.account)
        if slow:
            time.sleep(float(slow.params.get("seconds", 1.0)))
        rule = self.faults.take(fault_kinds.REQUEST_KINDS, request.method, path, route.account)
        if rule is None:
            return None
        if rule.kind == "batch_null" and not request.in_batch:
            return None
        return self._fault_response(rule, route)

    def _fault_response(self, rule: FaultRule, route: Route) -> Response:
        if rule.kind in ("drop_connection", "batch_null"):
            return Response(0, None)
        if rule.kind in ("html_502", "html_504"):
            status = int(rule.kind[-3:])
            return Response(status, HTML_PAGES[status].encode(), content_type="text/html")
        if rule.kind == "rate_limit":
            return self._error(self._rate_limit(rule, route))
        if rule.kind == "invalid_token":
            subcode = int(rule.params.get("subcode", 463))
            return self._error(self._token_problem(subcode))
        makers: dict[str, Callable[[], GraphError]] = {
            "transient": errors.transient,
            "unknown": errors.unknown_error,
            "reduce_data": errors.reduce_data,
        }
        return self._error(makers[rule.kind]())

    def _rate_limit(self, rule: FaultRule, route: Route) -> GraphError:
        code = int(rule.params.get("code", 80000))
        default_subcode = 2446079 if code in (17, 80000, 80004) else None
        subcode = rule.params.get("subcode", default_subcode)
        minutes = int(rule.params.get("minutes", 5))
        use_case = quota.MANAGEMENT if code == 80004 else quota.INSIGHTS
        headers = quota.usage_headers(
            route.account or "0", use_case, 100, minutes, 100 if code == 4 else 50
        )
        return quota.throttle(code, subcode, headers)

    def _token_problem(self, subcode: int) -> GraphError:
        if subcode == 463:
            now = self.clock.timestamp()
            from fbads_assets.sandbox.tokens import _expired_message

            message = _expired_message(int(now) - 3600, now)
        else:
            from fbads_assets.sandbox.tokens import INVALIDATION_MESSAGES

            message = INVALIDATION_MESSAGES[subcode].format(app_id=self.config.app_id)
        return GraphError(400, 190, message, subcode=subcode)

    # --- dispatch ---------------------------------------------------------------------------

    def _dispatch(self, request: Request, route: Route, headers: dict[str, str]) -> Any:
        """The answer to one request; fills ``headers`` with the usage headers as it goes."""
        segments, method = route.segments, request.method
        if segments[:1] == ["debug_token"]:
            return self._debug_token(request)
        if segments[:2] == ["oauth", "access_token"]:
            return self._exchange(request)
        token = self._authenticate(request)
        insights = route.kind == "report_run" or "insights" in segments
        use_case = quota.INSIGHTS if insights else quota.MANAGEMENT
        headers.update(self.quota.charge(route.account, use_case, self.clock.timestamp()))
        if route.account is None:
            headers.setdefault("x-business-use-case-usage", "{}")
            headers.setdefault(
                "x-ad-account-usage",
                json.dumps(
                    {
                        "acc_id_util_pct": 0.0,
                        "reset_time_duration": 0,
                        "ads_api_access_tier": quota.ACCESS_TIER,
                    },
                    separators=(",", ":"),
                ),
            )
        if not segments:
            if method == "POST":
                return self._batch(request)
            return self._multi_id(request)
        if segments[0] == "me":
            return self._me(request, token, segments[1:])
        if route.kind is None:
            raise (
                errors.unsupported_get(segments[0])
                if method == "GET"
                else errors.unknown_path("/".join(segments))
            )
        self._check_access(token, route)
        if route.kind == "report_run":
            return self._report_run(request, route)
        if len(segments) == 1:
            if method != "GET":
                raise errors.unknown_path("/".join(segments))
            return self._node(route.kind, route.node, request, token)
        if len(segments) == 2 and segments[1] == "insights":
            if method == "POST":
                return self._async_insights(request, route)
            return self._sync_insights(request, route)
        if len(segments) == 2 and segments[1] in EDGE_KINDS and method == "GET":
            return self._object_edge(request, route, EDGE_KINDS[segments[1]])
        raise errors.unknown_path("/".join(segments[1:]))

    # --- auth -------------------------------------------------------------------------------

    def _authenticate(self, request: Request) -> TokenInfo:
        token = request.params.get("access_token")
        auth = request.headers.get("authorization", "")
        if not token and auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        info = self.tokens.validate(token)
        if self.config.app_secret:
            proof = request.params.get("appsecret_proof")
            if not proof:
                raise GraphError(
                    400,
                    100,
                    "API calls from the server require an appsecret_proof argument",
                    type_="GraphMethodException",
                )
            expected = hmac.new(
                self.config.app_secret.encode(), info.token.encode(), hashlib.sha256
            ).hexdigest()
            if not hmac.compare_digest(proof, expected):
                raise GraphError(
                    400,
                    100,
                    "Invalid appsecret_proof provided in the API argument",
                    type_="GraphMethodException",
                )
        return info

    def _check_access(self, token: TokenInfo, route: Route) -> None:
        if not token.can_read_ads:
            raise errors.missing_ads_permission()
        if token.account_ids is not None and route.account not in token.account_ids:
            # Meta does not say "forbidden": the object simply cannot be loaded (100/33).
            raise errors.unsupported_get(route.segments[0])

    def request_token(self, request: Request) -> str:
        token = request.params.get("access_token")
        auth = request.headers.get("authorization", "")
        if not token and auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        return token or ""

    # --- nodes and object edges -------------------------------------------------------------

    def _node(
        self, kind: str, node: dict[str, Any], request: Request, token: TokenInfo
    ) -> dict[str, Any]:
        fields = parse_fields(request.params.get("fields")) or DEFAULT_NODE_FIELDS.get(kind, ["id"])
        allowed = set(node) | sdk_fields(kind)
        unknown = [f for f in fields if f not in allowed]
        if unknown:
            raise errors.nonexisting_field(unknown[0], NODE_TYPES[kind])
        result: dict[str, Any] = {}
        for name in fields:
            if name == "owner":
                if "business_management" not in token.scopes:
                    raise errors.missing_business_permission()
                result[name] = self.world.business["id"]
            elif name == "amount_spent":
                result[name] = str(self._amount_spent(node["account_id"]))
            elif name == "business_name":
                result[name] = self.world.business["name"]
            elif name == "min_daily_budget":
                result[name] = 100
            elif name in node:
                # Fields the type has but this object does not set are left out, as on Graph.
                result[name] = node[name]
        result.setdefault("id", node["id"])
        return result

    def _amount_spent(self, account_id: str) -> int:
        """Lifetime spend in minor units: the sum of every ad-day up to the account's today."""
        account = self.world.account_by_id(account_id)
        assert account is not None
        params = {
            "level": "account",
            "fields": "spend",
            "time_range": json.dumps(
                {
                    "since": dt.date.fromordinal(self.world.history_start).isoformat(),
                    "until": account.today(self.clock.now()).isoformat(),
                }
            ),
        }
        query = build_query(self.world, account, "account", account.ads, params, self.clock.now())
        total = 0
        for _pos, row in query.scan(0, self.world.seed):
            total += round(float(json.loads(row)["spend"]) * account.offset)
        return total

    def _me(self, request: Request, token: TokenInfo, rest: list[str]) -> Any:
        if not rest:
            if token.type == "PAGE":
                return {"id": token.profile_id, "name": "Sandbox Page"}
            fields = parse_fields(request.params.get("fields")) or ["id", "name"]
            return {f: self.world.user[f] for f in fields if f in self.world.user}
        if rest != ["adaccounts"]:
            raise errors.unknown_path("me/" + "/".join(rest))
        if not token.can_read_ads:
            raise errors.missing_ads_permission()
        accounts = [
            a for a in self.world.accounts if token.account_ids is None or a.id in token.account_ids
        ]
        nodes = [self._node("adaccount", a.node, request, token) for a in accounts]
        return self._offset_page(request, nodes)

    def _object_edge(self, request: Request, route: Route, kind: str) -> Response:
        account = self.world.account_of[route.segments[0]]
        pool = {
            "campaign": account.campaigns,
            "adset": account.adsets,
            "ad": account.ads,
            "adcreative": account.creatives,
        }[kind]
        if route.kind != "adaccount":
            parent_key = f"{route.kind}_id"
            pool = [obj for obj in pool if obj.get(parent_key) == route.node["id"]]
        statuses = parse_list("effective_status", request.params.get("effective_status"))
        pool = self._filter_objects(pool, statuses, request.params.get("filtering"))
        token = self.tokens.lookup(self.request_token(request))
        assert token is not None
        nodes = [self._node(kind, obj, request, token) for obj in pool]
        return self._offset_page(request, nodes)

    @staticmethod
    def _filter_objects(
        pool: list[dict[str, Any]], statuses: list[str] | None, filtering_raw: str | None
    ) -> list[dict[str, Any]]:
        rules = parse_json("filtering", filtering_raw, list) if filtering_raw else []
        for rule in rules:
            if not isinstance(rule, dict) or not {"field", "operator", "value"} <= set(rule):
                raise errors.invalid_param(
                    "param filtering must be an array of {field, operator, value}"
                )
            name = str(rule["field"]).rpartition(".")[2]
            operator = str(rule["operator"]).upper()
            if name == "effective_status" and operator == "IN":
                statuses = [str(v) for v in rule["value"]]
            elif name == "updated_time" and operator in ("GREATER_THAN", "LESS_THAN"):

                def stamp(obj: dict[str, Any]) -> float:
                    return dt.datetime.strptime(
                        obj["updated_time"], "%Y-%m-%dT%H:%M:%S%z"
                    ).timestamp()

                bound = float(rule["value"])
                pool = [o for o in pool if (stamp(o) > bound) == (operator == "GREATER_THAN")]
            elif name == "id" and operator == "IN":
                pool = [o for o in pool if o["id"] in {str(v) for v in rule["value"]}]
            else:
                raise errors.invalid_param(
                    f"Filtering field {rule['field']} with operation {operator} is not supported"
                )
        if statuses:
            wanted = set(statuses)
            return [o for o in pool if o.get("effective_status", o.get("status")) in wanted]
        # Default filtering: archived and deleted objects only when asked for by status.
        return [
            o for o in pool if o.get("effective_status", o.get("status")) not in HIDDEN_BY_DEFAULT
        ]

    def _offset_page(self, request: Request, items: list[dict[str, Any]]) -> Response:
        limit = parse_limit(request.params.get("limit"), self.config.max_page_size)
        start, end = self._page_bounds(request, limit, len(items))
        rows = items[start:end]
        page = self._paging(request, rows, start, end - 1, end < len(items), start > 0, limit)
        if parse_bool(request.params.get("summary")):
            page["summary"] = {"total_count": len(items)}
        return self._json(200, page, rows=len(rows))

    def _page_bounds(self, request: Request, limit: int, size: int) -> tuple[int, int]:
        if request.params.get("before"):
            end = max(0, decode_cursor(request.params["before"]))
            return max(0, end - limit), end
        start = decode_cursor(request.params["after"]) + 1 if request.params.get("after") else 0
        return start, min(size, start + limit)

    # --- paging -----------------------------------------------------------------------------

    def _paging(
        self,
        request: Request,
        rows: list[Any],
        first: int,
        last: int,
        has_next: bool,
        has_previous: bool,
        limit: int,
        count: int | None = None,
    ) -> dict[str, Any]:
        count = len(rows) if count is None else count
        self._check_reduce(count)
        page: dict[str, Any] = {"data": rows}
        if not count:
            return page
        cursors = {"before": encode_cursor(first)}
        paging: dict[str, Any] = {"cursors": cursors}
        if has_next:
            # Meta keeps cursors.after on the last page sometimes; the sandbox drops it there so
            # that "no next and no after" is the one end-of-data signal clients see.
            cursors["after"] = encode_cursor(last)
            paging["next"] = self._link(request, limit, "after", cursors["after"])
        if has_previous:
            paging["previous"] = self._link(request, limit, "before", cursors["before"])
        page["paging"] = paging
        return page

    def _check_reduce(self, count: int) -> None:
        threshold = self.config.reduce_data_rows
        if threshold is not None and count > threshold:
            raise errors.reduce_data()

    def _link(self, request: Request, limit: int, direction: str, cursor: str) -> str:
        """An absolute paging URL carrying the access token, as Meta's do."""
        skip = {"access_token", "appsecret_proof", "after", "before", "limit"}
        query = [("access_token", self.request_token(request)), ("pretty", "0")]
        query += [(k, v) for k, v in request.params.items() if k not in skip]
        if "appsecret_proof" in request.params:
            query.append(("appsecret_proof", request.params["appsecret_proof"]))
        query += [("limit", str(limit)), (direction, cursor)]
        path = "/" + "/".join(s for s in request.path.split("/") if s)
        if not VERSION_RE.match(path.split("/")[1]):
            path = f"/{API_VERSION}{path}"
        return f"{request.base_url}{path}?{urlencode(query)}"

    # --- insights ---------------------------------------------------------------------------

    def _scope(self, route: Route) -> tuple[str, list[dict[str, Any]]]:
        account = self.world.account_of[route.segments[0]]
        if route.kind == "adaccount":
            return "account", account.ads
        key = {"campaign": "campaign_id", "adset": "adset_id", "ad": "id"}.get(route.kind or "")
        if key is None:
            raise errors.unknown_path("/".join(route.segments))
        return route.kind or "ad", [ad for ad in account.ads if ad[key] == route.node["id"]]

    def _sync_insights(self, request: Request, route: Route) -> Response:
        account = self.world.account_of[route.segments[0]]
        level, ads = self._scope(route)
        query = build_query(self.world, account, level, ads, request.params, self.clock.now())
        return self._insights_page(request, route, query)

    def _insights_page(self, request: Request, route: Route, query: InsightsQuery) -> Response:
        limit = parse_limit(request.params.get("limit"), self.config.max_page_size)
        path = "/" + "/".join(route.segments)
        if self.faults.take(fault_kinds.PAGE_KINDS, request.method, path, route.account):
            return self._empty_page_with_next(request, limit)
        seed = self.world.seed
        if request.params.get("before"):
            end = decode_cursor(request.params["before"])
            found = []
            for item in query.scan(end - 1, seed, step=-1):
                found.append(item)
                if len(found) == limit:
                    break
            found.reverse()
            has_next = True
        else:
            after = request.params.get("after")
            start = decode_cursor(after) + 1 if after else 0
            found, has_next = query.page(start, limit, seed)
        rows = [row for _pos, row in found]
        first = found[0][0] if found else 0
        last = found[-1][0] if found else 0
        has_previous = bool(found) and bool(
            request.params.get("after") or request.params.get("before")
        )
        page = self._paging(request, [], first, last, has_next, has_previous, limit, len(rows))
        # Rows are JSON text already (see metrics.make_row_encoder); only the envelope is dumped.
        paging = page.get("paging")
        body = '{"data":[' + ",".join(rows) + "]"
        if paging:
            body += ',"paging":' + json.dumps(paging, separators=(",", ":"))
        return Response(200, (body + "}").encode(), rows=len(rows))

    def _empty_page_with_next(self, request: Request, limit: int) -> Response:
        """An empty page that still has ``next`` (Meta documents these; the SDK stops on them).

        Its cursor resumes where the request began, so a client that keeps paging loses nothing.
        """
        start = decode_cursor(request.params["after"]) + 1 if request.params.get("after") else 0
        cursor = encode_cursor(start - 1)
        paging = {
            "cursors": {"before": cursor, "after": cursor},
            "next": self._link(request, limit, "after", cursor),
        }
        return self._json(200, {"data": [], "paging": paging})

    def _async_insights(self, request: Request, route: Route) -> dict[str, Any]:
        account = self.world.account_of[route.segments[0]]
        level, ads = self._scope(route)
        now = self.clock.now()
        query = build_query(self.world, account, level, ads, request.params, now)
        duration = self.config.async_job_seconds
        path = "/" + "/".join(route.segments)
        rule = self.faults.take(fault_kinds.JOB_KINDS, "POST", path, route.account)
        if rule and rule.kind == "slow_job":
            duration = float(rule.params.get("seconds", 5.0))
        run = self.runs.create(account.id, query, duration, int(now.timestamp()))
        if rule and rule.kind in ("job_failed", "job_skipped"):
            run.outcome = "Job Failed" if rule.kind == "job_failed" else "Job Skipped"
        self.counters.job_created()
        return {"report_run_id": run.id}

    def _report_run(self, request: Request, route: Route) -> Any:
        run = route.node
        segments = route.segments
        path = "/" + "/".join(segments)
        if len(segments) == 1 and request.method == "GET":
            rule = self.faults.take(
                frozenset({"job_failed", "job_skipped"}), "GET", path, route.account
            )
            if rule:
                run.outcome = "Job Failed" if rule.kind == "job_failed" else "Job Skipped"
            status = run.status(time.monotonic())
            fields = parse_fields(request.params.get("fields"))
            if fields:
                status = {k: v for k, v in status.items() if k in fields or k == "id"}
            return status
        if segments[1:] == ["insights"] and request.method == "GET":
            state = run.status(time.monotonic())
            if state["async_status"] != "Job Completed":
                raise errors.invalid_param(
                    f"Report run {run.id} is not ready: its async_status is "
                    f"{state['async_status']!r}. Poll GET /{run.id} until 'Job Completed'."
                )
            return self._insights_page(request, route, run.query)
        raise errors.unknown_path("/".join(segments))

    # --- batch and multi-id -----------------------------------------------------------------

    def _batch(self, request: Request) -> Response:
        items = parse_json("batch", request.params.get("batch"), list)
        if items is None:
            raise errors.invalid_param("param batch must be a JSON array of requests")
        if len(items) > MAX_BATCH:
            raise errors.invalid_param(
                f"Too many requests in batch message. Maximum batch size is {MAX_BATCH}"
            )
        answers = [self._batch_item(request, item) for item in items]
        return self._json(200, answers)

    def _batch_item(self, outer: Request, item: Any) -> dict[str, Any] | None:
        if not isinstance(item, dict) or "relative_url" not in item:
            raise errors.invalid_param("Each batch request needs method and relative_url")
        url = urlsplit("/" + str(item["relative_url"]).lstrip("/"))
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        params.update(parse_qsl(str(item.get("body", "")), keep_blank_values=True))
        for key in ("access_token", "appsecret_proof"):
            if key not in params and key in outer.params:
                params[key] = outer.params[key]
        sub = Request(
            str(item.get("method", "GET")).upper(),
            url.path,
            params,
            outer.headers,
            outer.base_url,
            in_batch=True,
        )
        answer = self.handle(sub)
        if answer.body is None:
            return None  # Meta's "not processed": the SDK hands these back as a new batch
        headers = [{"name": "Content-Type", "value": answer.content_type}]
        headers += [{"name": k, "value": v} for k, v in answer.headers.items()]
        return {"code": answer.status, "headers": headers, "body": answer.body.decode()}

    def _multi_id(self, request: Request) -> dict[str, Any]:
        ids = parse_list("ids", request.params.get("ids"))
        if not ids:
            raise errors.invalid_param("Missing ids or a path: GET /?ids=a,b or GET /{id}")
        result = {}
        for object_id in ids:
            params = {k: v for k, v in request.params.items() if k != "ids"}
            sub = Request(
                "GET", f"/{object_id}", params, request.headers, request.base_url, in_batch=True
            )
            answer = self.handle(sub)
            body = json.loads(answer.body or b"{}")
            if answer.status != 200:
                error = body["error"]
                raise GraphError(
                    answer.status,
                    error["code"],
                    error["message"],
                    type_=error["type"],
                    subcode=error.get("error_subcode"),
                )
            result[object_id] = body
        return result

    # --- tokens -----------------------------------------------------------------------------

    def _debug_token(self, request: Request) -> dict[str, Any]:
        caller = self.request_token(request)
        app_token = caller.startswith(f"{self.config.app_id}|") and (
            self.config.app_secret is None
            or caller == f"{self.config.app_id}|{self.config.app_secret}"
        )
        caller_info = self.tokens.lookup(caller)
        if not app_token and (caller_info is None or self.tokens.problem(caller_info)):
            raise errors.invalid_param(
                "You must provide an app access token, or a user access token that is an owner "
                "or developer of the app"
            )
        input_token = request.params.get("input_token", "")
        info = self.tokens.lookup(input_token)
        if info is None:
            return {
                "data": {
                    "error": {
                        "code": 190,
                        "message": "Invalid OAuth access token - Cannot parse access token",
                    },
                    "is_valid": False,
                    "scopes": [],
                }
            }
        data: dict[str, Any] = {
            "app_id": self.config.app_id,
            "type": info.type,
            "application": "fbads sandbox app",
            "data_access_expires_at": info.data_access_expires_at,
            "expires_at": info.expires_at,
            "is_valid": True,
            "issued_at": info.issued_at,
            "scopes": list(info.scopes),
            "granular_scopes": [
                {"scope": s, **({"target_ids": list(info.account_ids)} if info.account_ids else {})}
                for s in info.scopes
            ],
            "user_id": info.user_id,
        }
        if info.profile_id:
            data["profile_id"] = info.profile_id
        problem = self.tokens.problem(info)
        if problem:
            data["is_valid"] = False
            data["error"] = {"code": 190, "message": problem[1], "subcode": problem[0]}
        return {"data": data}

    def _exchange(self, request: Request) -> dict[str, Any]:
        params = request.params
        if params.get("grant_type") != "fb_exchange_token":
            raise errors.invalid_param("Unsupported grant_type; use fb_exchange_token")
        if params.get("client_id") != self.config.app_id:
            raise GraphError(400, 101, "Error validating application. Invalid application ID.")
        secret = params.get("client_secret")
        if not secret or (self.config.app_secret and secret != self.config.app_secret):
            raise GraphError(400, 1, "Error validating client secret.")
        info = self.tokens.validate(params.get("fb_exchange_token"))
        if info.type != "USER":
            raise errors.invalid_param("fb_exchange_token must be a user access token")
        new = self.tokens.exchange(info)
        return {
            "access_token": new.token,
            "token_type": "bearer",
            "expires_in": EXCHANGE_EXPIRES_IN,
        }

    # --- responses --------------------------------------------------------------------------

    def _json(
        self, status: int, payload: Any, headers: dict[str, str] | None = None, rows: int = 0
    ) -> Response:
        body = json.dumps(payload, separators=(",", ":")).encode()
        return Response(status, body, dict(headers or {}), rows=rows)

    def _error(self, error: GraphError) -> Response:
        self._trace += 1
        trace = f"A{hash_of(self.config.seed, 'trace', self._trace) % 36**10:010d}"[:12]
        return self._json(error.status, error.envelope(trace), error.headers)
