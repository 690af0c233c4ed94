# One task runner; CI calls `make test` through .ci/run.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_CALLS ?= 5000

.PHONY: install install-run run test test-fast lint bench bench-quick clean

# Two stamps in one virtualenv: running needs the service only (about 60 packages); the test
# tools (moto, schemathesis, hypothesis, ruff: 50 more, ~400 MB) come with `make test`.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(BIN)/.installed-run: pyproject.toml $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e .
	touch $@

$(BIN)/.installed: pyproject.toml $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(BIN)/.installed-run

install-run: $(BIN)/.installed-run  ## install the service only into .venv

install: $(BIN)/.installed  ## install the service and its test tools into .venv

# The port is checked before anything is installed or loaded; the demo is made once and reused.
run:  ## SQLite + local folder, demo data, printed credentials, then serve
	@$(PYTHON) callreport/portcheck.py $(HOST) $(PORT)
	@$(MAKE) --no-print-directory install-run
	$(BIN)/callreport demo --calls $(DEMO_CALLS) --port $(PORT) --host $(HOST)
	$(BIN)/callreport serve --host $(HOST) --port $(PORT)

test: install  ## the whole suite, on SQLite and PostgreSQL, local folder and S3 (moto)
	$(BIN)/pytest -n 2 -q

test-fast: install  ## the inner loop: everything but the tests marked slow (live servers, subprocesses, browsers)
	$(BIN)/pytest -n 2 -q -m "not slow"

lint: install
	$(BIN)/ruff check callreport tests benchmarks

bench: install  ## callreport against Datasette, pandas and ReportLab platypus (1,000,000 calls)
	$(BIN)/python benchmarks/compare.py

bench-quick: install
	$(BIN)/python benchmarks/compare.py --quick

clean:
	rm -rf $(VENV) callreport-data .pytest_cache
