"""Parsing the Graph API's parameter dialect: JSON-encoded values and comma lists.

The facebook-business SDK JSON-encodes every list, dict and bool (``["a","b"]``, ``true``) and
sends ``fields`` as a comma list on GETs but as a JSON array on the async POST; curl users and
other SDKs send comma lists. Both forms are accepted, as Meta accepts both.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from fbads_assets.sandbox.errors import invalid_cursor, invalid_param


def parse_list(name: str, raw: str | None) -> list[str] | None:
    if raw is None:
        return None
    text = raw.strip()
    if text.startswith("["):
        try:
            value = json.loads(text)
        except ValueError:
            raise invalid_param(f"param {name} must be a valid JSON array") from None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise invalid_param(f"param {name} must be an array of strings")
        return [v.strip() for v in value if v.strip()]
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_fields(raw: str | None) -> list[str] | None:
    """``a,b{c,d},e`` -> ["a", "b", "e"]; sub-field selections are accepted and ignored."""
    if raw is None:
        return None
    text = raw.strip()
    if text.startswith("["):
        return parse_list("fields", text)
    names, depth, current = [], 0, ""
    for char in text:
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == "," and depth == 0:
            names.append(current)
            current = ""
        elif depth == 0:
            current += char
    names.append(current)
    # ".limit(10)" style modifiers on a field are accepted and ignored as well.
    return [name.split(".")[0].strip() for name in names if name.strip()]


def parse_json(name: str, raw: str | None, kind: type) -> Any:
    if raw is None:
        return None
    if not raw.strip():
        raise invalid_param(f"param {name} must be non-empty.")
    try:
        value = json.loads(raw)
    except ValueError:
        what = "a JSON object" if kind is dict else "a JSON array"
        raise invalid_param(f"param {name} must be {what}") from None
    if not isinstance(value, kind):
        what = "a JSON object" if kind is dict else "a JSON array"
        raise invalid_param(f"param {name} must be {what}")
    return value


def parse_bool(raw: str | None) -> bool:
    return raw is not None and raw.strip().lower() in ("true", "1")


def parse_limit(raw: str | None, cap: int, default: int = 25) -> int:
    if raw is None or raw == "":
        return default
    try:
        limit = int(raw)
    except ValueError:
        raise invalid_param("param limit must be a number") from None
    if limit < 1:
        raise invalid_param("param limit must be a positive number")
    # Graph caps oversized limits silently; the page holds fewer rows and paging continues.
    return min(limit, cap)


def encode_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"sbx:{position}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not text.startswith("sbx:"):
            raise ValueError(text)
        return int(text[4:])
    except ValueError:
        raise invalid_cursor() from None
