# The two commands a newcomer needs: `make run` and `make test`.
# Both create .venv and install the project from pyproject.toml pinned by constraints.txt.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
ALLIANCE_RISK_HOME ?= $(CURDIR)/var
export ALLIANCE_RISK_HOME

.PHONY: run test lint format bench lock clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/alliance-risk quickstart --host $(HOST) --port $(PORT)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -q

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

lock: $(STAMP)
	$(BIN)/pip freeze --exclude-editable --exclude alliance-risk > constraints.txt

clean:
	rm -rf $(VENV) var build *.egg-info .pytest_cache .ruff_cache
