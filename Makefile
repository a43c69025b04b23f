# The two commands a newcomer needs: `make run` and `make test`.
# Both create .venv and install the project from pyproject.toml pinned by constraints.txt.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
ALLIANCE_RISK_HOME ?= $(CURDIR)/var
export ALLIANCE_RISK_HOME

.PHONY: run test browser postgres format bench lock clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# Local development: authentication off, so the service binds to loopback only.
run: $(STAMP)
	ALLIANCE_RISK_AUTH=disabled $(BIN)/alliance-risk quickstart --host 127.0.0.1 --port $(PORT)

test: $(STAMP) browser postgres
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -q

# The report's real-browser test needs Chromium: install Debian's when it is missing and we
# are root; elsewhere the test is skipped with its reason (and fails when CI=true).
browser:
	@command -v chromium >/dev/null || (test "$$(id -u)" = 0 && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || echo "chromium is not installed: the real-browser report test will be skipped (it fails when CI=true)"

# Benchmarks (not part of `make test`): writes BENCHMARKS.md; needs wrk for HTTP load.
bench: $(STAMP)
	@command -v wrk >/dev/null || (test "$$(id -u)" = 0 && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null)
	$(BIN)/python tests/benchmarks/run_all.py
	$(BIN)/python tests/benchmarks/cds_hooks.py
	$(BIN)/python tests/benchmarks/dask_comparison.py --clients 100000 1000000 --paths

# The audit and shared-tracking tests start a throwaway PostgreSQL cluster (initdb, pg_ctl):
# install Debian's server when it is missing and we are root; elsewhere they are skipped.
postgres:
	@command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || (test "$$(id -u)" = 0 && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) || echo "PostgreSQL is not installed: its tests will be skipped (they fail when CI=true)"

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

lock: $(STAMP)
	$(BIN)/pip freeze --exclude-editable --exclude alliance-risk > constraints.txt

clean:
	rm -rf $(VENV) var build *.egg-info .pytest_cache .ruff_cache
