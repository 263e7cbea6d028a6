"""Meta's error envelope, and the errors the sandbox answers with.

Every failure leaves the sandbox as ``{"error": {message, type, code, error_subcode?,
is_transient?, error_user_title?, error_user_msg?, fbtrace_id}}`` with Meta's HTTP status (400
for most errors and all throttles, 403 for permissions, 500 for code 1, 503 for code 2), never a
traceback. Messages follow the ones seen in public captures; where Meta's exact text is unknown
the wording is the sandbox's own and says so in docs/sandbox.md.
"""

from __future__ import annotations

from typing import Any

INSIGHTS_FIELDS_DOC = "https://developers.facebook.com/docs/marketing-api/reference/ads-insights/"
RATE_LIMIT_DOC = "https://developers.facebook.com/docs/graph-api/overview/rate-limiting"


class GraphError(Exception):
    """One Graph API error response: HTTP status, envelope fields and extra headers."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        type_: str = "OAuthException",
        subcode: int | None = None,
        is_transient: bool | None = None,
        user_title: str | None = None,
        user_msg: str | None = None,
        error_data: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.type_ = type_
        self.subcode = subcode
        self.is_transient = is_transient
        self.user_title = user_title
        self.user_msg = user_msg
        self.error_data = error_data
        self.headers = dict(headers or {})

    def envelope(self, trace_id: str) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.type_, "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.is_transient is not None:
            error["is_transient"] = self.is_transient
        if self.user_title:
            error["error_user_title"] = self.user_title
        if self.user_msg:
            error["error_user_msg"] = self.user_msg
        if self.error_data is not None:
            error["error_data"] = self.error_data
        error["fbtrace_id"] = trace_id
        return {"error": error}


def invalid_param(message: str, subcode: int | None = None) -> GraphError:
    """Code 100, the catch-all for a bad parameter."""
    return GraphError(400, 100, f"(#100) {message}", subcode=subcode)


def unsupported_get(object_id: str) -> GraphError:
    """100/33: the id does not exist or this token may not see it (Meta does not say which)."""
    return GraphError(
        400,
        100,
        f"Unsupported get request. Object with ID '{object_id}' does not exist, cannot be "
        "loaded due to missing permissions, or does not support this operation. Please read "
        "the Graph API documentation at https://developers.facebook.com/docs/graph-api",
        type_="GraphMethodException",
        subcode=33,
    )


def unknown_path(path: str) -> GraphError:
    return GraphError(400, 2500, f"Unknown path components: {path}", type_="OAuthException")


def nonexisting_field(field: str, node_type: str) -> GraphError:
    return invalid_param(f"Tried accessing nonexisting field ({field}) on node type ({node_type})")


def invalid_insights_fields(fields: list[str]) -> GraphError:
    verb = "is" if len(fields) == 1 else "are"
    return invalid_param(
        f"{', '.join(fields)} {verb} not valid for fields param. please check "
        f"{INSIGHTS_FIELDS_DOC} for all valid values"
    )


def reduce_data() -> GraphError:
    return GraphError(
        500,
        1,
        "Please reduce the amount of data you're asking for, then retry your request",
        is_transient=False,
    )


def unknown_error() -> GraphError:
    return GraphError(500, 1, "An unknown error occurred", subcode=99, is_transient=False)


def transient() -> GraphError:
    return GraphError(503, 2, "(#2) Service temporarily unavailable", is_transient=True)


def missing_ads_permission() -> GraphError:
    return GraphError(
        403, 200, "(#200) Ad account owner has NOT grant ads_management or ads_read permission"
    )


def missing_business_permission() -> GraphError:
    return GraphError(
        403, 200, "(#200) Requires business_management permission to manage the object"
    )


def lookback_exceeded() -> GraphError:
    return GraphError(
        400,
        3018,
        "(#3018) The start date of the time range cannot be beyond 37 months from the current date",
    )


def invalid_cursor() -> GraphError:
    return GraphError(400, 2642, "(#2642) Invalid cursors values")


def deprecated_version(latest: str) -> GraphError:
    return GraphError(
        400,
        2635,
        f"(#2635) You are calling a deprecated version of the Ads API. Please update to the "
        f"latest version: {latest}.",
    )
