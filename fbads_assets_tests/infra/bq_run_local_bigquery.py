"""Starts local-bigquery with one offline fix; arguments are local-bigquery's own CLI.

local-bigquery opens DuckDB with ``config={"TimeZone": "UTC"}``. Applying that setting at
connect time needs the icu extension to be autoloaded, which fails without network; setting it
right after connecting works because icu is built into the wheel. So the setting moves from the
config to a ``SET`` statement.
"""

import sys

import duckdb

_connect = duckdb.connect


def _connect_then_set_timezone(*args, config=None, **kwargs):
    config = dict(config or {})
    timezone = config.pop("TimeZone", None)
    con = _connect(*args, config=config, **kwargs)
    if timezone:
        con.execute("SET TimeZone = ?", [timezone])
    return con


duckdb.connect = _connect_then_set_timezone

from local_bigquery.cli import main  # noqa: E402  (must import after the patch)

sys.exit(main())
