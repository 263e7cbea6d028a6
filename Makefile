# The project's commands. `make demo` and `make test` work on a fresh clone with only Python.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

.PHONY: demo test dev lint format bench venv clean

# One virtual environment with the dev extras: the demo and the tests share it, so a newcomer
# who runs `make demo` then `make test` installs once.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/fbads demo --days 7

test: $(STAMP)
	bash fbads_assets_tests/infra/bigquery_emulator.sh install
	$(BIN)/dagster definitions validate -m fbads_assets.definitions
	$(BIN)/python -m pytest

dev: $(STAMP)
	DAGSTER_HOME=$${DAGSTER_HOME:-$(CURDIR)/.dagster_home} sh -c \
	  'mkdir -p "$$DAGSTER_HOME" && cp -n dagster.yaml "$$DAGSTER_HOME/dagster.yaml"; \
	   exec $(BIN)/dagster dev -h 127.0.0.1 -p 3000 -w workspace.yaml'

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy fbads_assets

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) .bq-emulator .pytest_cache .ruff_cache .mypy_cache
