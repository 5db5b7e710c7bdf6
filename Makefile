# The two commands that matter: `make dev` runs Atende on this machine, `make test` checks it.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin

# The first Python >= 3.12 found: on the PATH, then in pyenv's versions.
PYTHON ?= $(shell for c in python3.12 python3.13 python3.14 python3 \
	$$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.1[2-9]*/bin/python 2>/dev/null); do \
	  "$$c" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1 && { command -v "$$c"; break; }; \
	done)

.PHONY: dev test lint format typecheck unit bench system-deps bench-deps browser-deps screenshots chaos i18n clean

$(BIN)/.installed: pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.12+ not found: install python3.12 or a pyenv 3.12" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $@

# Debian packages: redis-server (started by the tests and `make dev`), prometheus and
# prometheus-alertmanager (the chart's alerts run on the real servers; promtool and amtool test
# the rules and routing), wrk (drives `make bench`).
APT_INSTALL = SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq

system-deps:
	@command -v redis-server >/dev/null || { echo "installing redis-server"; $(APT_INSTALL) redis-server >/dev/null; }
	@command -v prometheus >/dev/null && command -v promtool >/dev/null && command -v amtool >/dev/null \
	  && { command -v prometheus-alertmanager || command -v alertmanager; } >/dev/null \
	  || { echo "installing prometheus, alertmanager (and promtool, amtool)"; \
	  $(APT_INSTALL) --no-install-recommends prometheus prometheus-alertmanager >/dev/null; }

# Debian's Chromium for the panel's browser tests (Playwright cannot download its own here).
browser-deps:
	@command -v chromium >/dev/null || { echo "installing chromium"; $(APT_INSTALL) chromium >/dev/null; }

# KEDA's and prometheus-operator's CRD schemas, from npm, for the chart tests (Node.js from Debian).
CRD_SCHEMAS := tests/chart/crds
$(CRD_SCHEMAS)/node_modules/.installed: $(CRD_SCHEMAS)/package-lock.json
	@command -v npm >/dev/null || { echo "installing nodejs, npm"; $(APT_INSTALL) --no-install-recommends nodejs npm >/dev/null; }
	npm ci --prefix $(CRD_SCHEMAS) --no-audit --no-fund --loglevel=error
	touch $@

bench-deps: system-deps
	@command -v wrk >/dev/null || { echo "installing wrk"; $(APT_INSTALL) wrk >/dev/null; }

dev: $(BIN)/.installed system-deps
	$(BIN)/atende dev

SOURCES := services operator tests bench migrations

# The layering contracts and the 400-line module limit run here, not only in the suite.
lint: $(BIN)/.installed
	$(BIN)/ruff check $(SOURCES)
	$(BIN)/ruff format --check $(SOURCES)
	$(BIN)/lint-imports
	$(BIN)/pytest -q -p no:cacheprovider tests/test_layering.py tests/test_module_size.py

# Rewrites in place what ruff can fix, then formats (fixes first, so their output is formatted
# too); what is left to fix by hand, `make lint` reports.
format: $(BIN)/.installed
	$(BIN)/ruff check --fix-only $(SOURCES)
	$(BIN)/ruff format $(SOURCES)

typecheck: $(BIN)/.installed
	$(BIN)/mypy

unit: $(BIN)/.installed system-deps browser-deps $(CRD_SCHEMAS)/node_modules/.installed
	$(BIN)/pytest

test: lint typecheck unit

bench: $(BIN)/.installed bench-deps
	$(BIN)/python -m bench

# Fault scenarios on real processes (S1-S12 of docs/chaos.md: crashes, Redis and Postgres outages,
# Gemini and Whaticket failures, partitions, floods, injections), each followed by the invariant
# check; they also run in `make test`.
chaos: $(BIN)/.installed system-deps
	$(BIN)/pytest -m chaos tests/e2e -q

# The README's pictures of the panel, taken by the browser tests' own fixtures.
screenshots: $(BIN)/.installed system-deps browser-deps
	ATENDE_SCREENSHOTS=$(CURDIR)/docs/screenshots $(BIN)/pytest tests/e2e/test_panel_screenshots.py -q

# The panel's strings without a pt-BR translation (file:line and msgid); also writes the catalog
# template services/api/panel/locales/panel.pot (docs/panel.md#language-dates-and-numbers).
i18n: $(BIN)/.installed
	$(BIN)/python -m services.api.panel.catalogs

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache $(CRD_SCHEMAS)/node_modules
