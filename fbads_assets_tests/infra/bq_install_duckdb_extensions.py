"""Installs DuckDB extensions from their PyPI wheels, so the emulator never downloads them.

Run with the emulator venv's Python and HOME pointing at the emulator's home: DuckDB keeps
installed extensions under ``$HOME/.duckdb``. Usage: ``python bq_install_duckdb_extensions.py
ducklake spatial``.
"""

import importlib
import sys
from pathlib import Path

import duckdb


def install(name: str) -> None:
    wheel = importlib.import_module(f"duckdb_extension_{name}")
    binary = (
        Path(wheel.__file__).parent
        / "extensions"
        / f"v{duckdb.__version__}"
        / f"{name}.duckdb_extension"
    )
    if not binary.exists():
        raise SystemExit(f"{binary} is missing: the {name} wheel does not match duckdb.")
    con = duckdb.connect()
    con.execute(f"INSTALL '{binary}'")
    # Loading proves the binary works with this DuckDB before any test relies on it.
    con.execute(f"LOAD {name}")


if __name__ == "__main__":
    for extension in sys.argv[1:]:
        install(extension)
