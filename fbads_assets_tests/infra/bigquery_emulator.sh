#!/usr/bin/env bash
# Installs and runs the local BigQuery emulator the BigQuery tests use, in a venv of its own.
#
#   bash fbads_assets_tests/infra/bigquery_emulator.sh install   # idempotent; `make test` runs it
#   bash fbads_assets_tests/infra/bigquery_emulator.sh which     # prints the installed emulator
#   bash fbads_assets_tests/infra/bigquery_emulator.sh serve [PORT]   # run it in the foreground
#
# Two emulators work (see docs/bigquery.md): local-bigquery 0.3.2, the closest to BigQuery
# (partitioning and clustering metadata, BigQuery-like errors), needs Python 3.13; bqemulator
# 1.4.0 runs on the project's Python. The script uses local-bigquery when it finds a usable
# Python 3.13 and otherwise falls back to bqemulator. BQ_EMULATOR=bqemulator|local-bigquery
# forces one; BQ_EMULATOR_PYTHON names the 3.13 interpreter to use.
#
# Each emulator lives in .bq-emulator/<kind>/ (venv + HOME with DuckDB's extensions), never in
# the project's .venv: both pull in google-cloud-bigquery-storage, which makes the project's
# client try Google's Storage API on larger results.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
INFRA="$ROOT/fbads_assets_tests/infra"
BASE="$ROOT/.bq-emulator"
# The DuckDB extensions must come from PyPI wheels, which exist up to 1.5.5: the emulators would
# otherwise download them from DuckDB's extension site at start-up, which CI cannot reach.
LB_SPEC="local-bigquery==0.3.2 duckdb==1.5.5 duckdb-extension-ducklake==1.5.5 duckdb-extension-spatial==1.5.5"
LB_EXTENSIONS="ducklake spatial"
BQE_SPEC="bqemulator==1.4.0 duckdb==1.5.5 duckdb-extension-spatial==1.5.5 numpy"
BQE_EXTENSIONS="spatial"

log() { echo "bigquery_emulator: $*" >&2; }

# A bare `python3.13` may be a pyenv shim that fails unless 3.13 is a pyenv global version, so
# every candidate is run once before it is trusted.
find_python313() {
  local candidates=()
  [[ -n "${BQ_EMULATOR_PYTHON:-}" ]] && candidates+=("$BQ_EMULATOR_PYTHON")
  candidates+=(python3.13)
  local dir
  for dir in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*; do
    [[ -x "$dir/bin/python3" ]] && candidates+=("$dir/bin/python3")
  done
  candidates+=(/usr/local/bin/python3.13 /usr/bin/python3.13)
  local py
  for py in "${candidates[@]}"; do
    if "$py" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info[:2] != (3, 13))' \
        >/dev/null 2>&1; then
      command -v "$py" 2>/dev/null || echo "$py"
      return 0
    fi
  done
  return 1
}

spec_for() { [[ "$1" == local-bigquery ]] && echo "$LB_SPEC" || echo "$BQE_SPEC"; }
extensions_for() { [[ "$1" == local-bigquery ]] && echo "$LB_EXTENSIONS" || echo "$BQE_EXTENSIONS"; }

# install KIND PYTHON: a venv, the pinned packages, and the extensions copied into its HOME.
install_kind() {
  local kind="$1" python="$2" dir="$BASE/$1"
  local stamp="$dir/.installed" spec
  spec="$(spec_for "$kind")"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$spec" ]]; then
    return 0
  fi
  log "installing $kind with $("$python" --version 2>&1) into $dir (about a minute, once)"
  # Every step says `|| return 1`: this runs as an `if` condition, where bash ignores set -e,
  # and a half-installed emulator must not get its stamp.
  rm -rf "$dir"
  mkdir -p "$dir/home" || return 1
  "$python" -m venv "$dir/venv" || return 1
  # shellcheck disable=SC2086  # the spec is a list of requirements
  "$dir/venv/bin/pip" install -qq --disable-pip-version-check $spec || return 1
  # shellcheck disable=SC2046
  HOME="$dir/home" "$dir/venv/bin/python" "$INFRA/bq_install_duckdb_extensions.py" \
    $(extensions_for "$kind") || return 1
  echo "$spec" >"$stamp"
}

cmd_install() {
  mkdir -p "$BASE"
  local wanted="${BQ_EMULATOR:-}" py313
  if [[ "$wanted" != bqemulator ]] && py313="$(find_python313)"; then
    if install_kind local-bigquery "$py313"; then
      echo local-bigquery >"$BASE/kind"
      log "ready: local-bigquery 0.3.2 ($py313)"
      return 0
    fi
    log "local-bigquery did not install; falling back to bqemulator"
  elif [[ "$wanted" == local-bigquery ]]; then
    log "BQ_EMULATOR=local-bigquery needs Python 3.13; none found (set BQ_EMULATOR_PYTHON)"
    return 1
  fi
  if ! install_kind bqemulator "${PYTHON:-python3}"; then
    log "bqemulator did not install either; the BigQuery tests cannot run"
    return 1
  fi
  echo bqemulator >"$BASE/kind"
  log "ready: bqemulator 1.4.0"
}

cmd_which() {
  cat "$BASE/kind" 2>/dev/null || { log "not installed; run: $0 install"; return 1; }
}

cmd_serve() {
  local kind port="${1:-9050}" project="${BQ_EMULATOR_PROJECT:-test-project}"
  kind="$(cmd_which)"
  local dir="$BASE/$kind"
  export HOME="$dir/home"
  if [[ "$kind" == local-bigquery ]]; then
    local data_dir
    data_dir="$(mktemp -d)"
    exec "$dir/venv/bin/python" "$INFRA/bq_run_local_bigquery.py" serve --host 127.0.0.1 \
      --port "$port" --grpc-port "$((port + 1))" --project "$project" --data-dir "$data_dir"
  fi
  BQEMU_ENABLE_FORMAT_EXTENSIONS=false exec "$dir/venv/bin/python" "$INFRA/bq_run_bqemulator.py" \
    start --rest-port "$port" --grpc-port "$((port + 1))" --project "$project" --log-level warning
}

case "${1:-}" in
  install)
    # Outside CI a failed install must not stop `make test`: the BigQuery tests then skip and
    # say why. CI must run them, so there it fails here, at the cause.
    if ! cmd_install; then
      [[ "${CI:-}" == true ]] && exit 1
      log "continuing without an emulator: the BigQuery tests will skip"
    fi
    ;;
  which) cmd_which ;;
  serve) shift; cmd_serve "$@" ;;
  *) echo "usage: $0 install|which|serve [PORT]" >&2; exit 2 ;;
esac
