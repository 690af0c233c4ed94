# One task runner; CI calls `make test` through .ci/run.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_CALLS ?= 5000

.PHONY: install run test lint bench bench-quick clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/.installed  ## install the service and its test tools into .venv

run: install  ## SQLite + local folder, demo data, printed credentials, then serve
	$(BIN)/callreport demo --calls $(DEMO_CALLS) --port $(PORT)
	$(BIN)/callreport serve --host $(HOST) --port $(PORT)

test: install  ## the whole suite, on SQLite and PostgreSQL, local folder and S3 (moto)
	$(BIN)/pytest -n 2 -q

lint: install
	$(BIN)/ruff check callreport tests benchmarks

bench: install  ## callreport against Datasette, pandas and ReportLab platypus (1,000,000 calls)
	$(BIN)/python benchmarks/compare.py

bench-quick: install
	$(BIN)/python benchmarks/compare.py --quick

clean:
	rm -rf $(VENV) callreport-data .pytest_cache
