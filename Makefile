# Two commands on a fresh machine with Python 3.11+ and make:
#   make demo   the whole pipeline on embedded defaults
#   make test   ruff, mypy and the test suite, exactly as CI runs them
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint typecheck pytest bench-render bench-redirect bench monitoring-panels clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/newsletter demo

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

# Two pytest processes (pytest-xdist): most tests wait on workers, Redis and
# HTTP rather than compute; on two cores the suite took 7.5 min instead of
# 11 to 14. PYTEST_WORKERS=0 runs it in one process.
PYTEST_WORKERS ?= 2

pytest: $(VENV)/.installed-dev
	$(BIN)/pytest -n $(PYTEST_WORKERS)

test: lint typecheck pytest

bench-render: $(VENV)/.installed-dev
	$(BIN)/python -m tests.bench.bench_render

# A click link and the open pixel answered by the real web app over loopback (docs/performance.md).
bench-redirect: $(VENV)/.installed-dev
	$(BIN)/python -m tests.bench.bench_redirect

# At the defaults a user gets, every figure the median of three runs (docs/performance.md).
bench: $(VENV)/.installed-dev
	$(BIN)/python -m tests.bench.bench_send

# The Grafana dashboard's panels as PNG charts in docs/monitoring/, drawn from
# the data of the live monitoring test's Prometheus (Grafana itself is not
# installable here): run the test, then draw what it recorded.
monitoring-panels: $(VENV)/.installed-dev
	rm -f var/monitoring/panels.json
	NEWSLETTER_TEST_PANEL_DATA=$(CURDIR)/var/monitoring/panels.json $(BIN)/pytest -n 0 -q tests/test_monitoring_live.py
	$(BIN)/python -m tests.monitoring.render_panels var/monitoring/panels.json docs/monitoring

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
