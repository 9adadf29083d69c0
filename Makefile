# Fieldcast developer entry points. `make demo` and `make test` are the two that matter;
# `make help` lists the rest.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

PYTHON ?= python3
PYTEST_ARGS ?=
# Test processes (pytest-xdist, each taking whole files; each its own PostgreSQL database and Redis
# database number); 0 = one process. See README "Tests".
PYTEST_WORKERS ?= 2

VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# npm writes this hidden lockfile on every install, so it marks "node_modules matches the lock".
NODE_STAMP := node_modules/.package-lock.json

VENDOR_DIR := src/fieldcast/web/static/vendor
VENDOR_FILES := $(VENDOR_DIR)/pico.min.css $(VENDOR_DIR)/hls.min.js $(VENDOR_DIR)/echarts.min.js $(VENDOR_DIR)/china.json

LOCALE_DIR := src/fieldcast/web/locale
POT := $(LOCALE_DIR)/messages.pot
LOCALES := zh_CN en

# bench/ may be empty (and so absent from a fresh clone); lint only what exists.
LINT_PATHS := $(wildcard src tests bench)

DIST_DIR := dist

.PHONY: help install venv vendor demo test lint dist system-deps messages clean

help:
	@echo "make demo         install, migrate the SQLite DB, seed demo data, serve on http://127.0.0.1:8000"
	@echo "make test         install, then ruff, mypy, lint-imports and pytest (PYTEST_ARGS='-k ...' passes through)"
	@echo "make lint         ruff, mypy and the import layers (lint-imports) only"
	@echo "make install      venv + pip install -e '.[dev]' + npm ci (axe-core for the tests) + vendor assets (alias: venv)"
	@echo "make vendor       copy pico.min.css, hls.min.js, echarts.min.js and china.json into $(VENDOR_DIR)/"
	@echo "make messages     extract strings and update the zh_CN/en catalogues"
	@echo "make dist         build the wheel and sdist into $(DIST_DIR)/ (vendored assets and catalogues included; checked)"
	@echo "make system-deps  apt-get install chromium, fonts-noto-cjk, nginx, libnginx-mod-rtmp, wrk (root only)"
	@echo "make clean        remove .venv, node_modules, vendored assets and data/"

install venv: $(STAMP)

# Vendored assets are order-only: refreshing them must not force a pip reinstall. node_modules is
# named too: the browser tests inject node_modules/axe-core/axe.min.js, which is not vendored.
$(STAMP): pyproject.toml package-lock.json | $(VENDOR_FILES) $(NODE_STAMP)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --include=dev --no-audit --no-fund
	touch $@

vendor: $(VENDOR_FILES)

$(VENDOR_DIR)/pico.min.css: $(NODE_STAMP)
	mkdir -p $(@D)
	cp node_modules/@picocss/pico/css/pico.min.css $@

$(VENDOR_DIR)/hls.min.js: $(NODE_STAMP)
	mkdir -p $(@D)
	cp node_modules/hls.js/dist/hls.min.js $@

$(VENDOR_DIR)/echarts.min.js: $(NODE_STAMP)
	mkdir -p $(@D)
	cp node_modules/echarts/dist/echarts.min.js $@

# The provinces of China for the report and big-screen maps (ECharts 4.9.0 shipped them; 5+ do not).
$(VENDOR_DIR)/china.json: $(NODE_STAMP)
	mkdir -p $(@D)
	cp node_modules/echarts-map-data/map/json/china.json $@

demo: $(STAMP)
	$(BIN)/fieldcast demo

lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/mypy
	$(BIN)/lint-imports --config pyproject.toml

# With workers: every file but tests/conftest.py's SERIAL_FILES in parallel, then those alone
# (exit code 5, "nothing selected", is not a failure: PYTEST_ARGS may select only one part).
test: lint
ifeq ($(PYTEST_WORKERS),0)
	$(BIN)/python -m pytest $(PYTEST_ARGS)
else
	rc=0; $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile -m "not serial" $(PYTEST_ARGS) || rc=$$?; \
	  [ $$rc = 0 ] || [ $$rc = 5 ]
	rc=0; $(BIN)/python -m pytest -m serial $(PYTEST_ARGS) || rc=$$?; [ $$rc = 0 ] || [ $$rc = 5 ]
endif

# Browser tests drive Debian's chromium; CJK fonts so zh-CN pages render (and screenshot) legibly;
# nginx with the RTMP module for the production ingest test and the latency benchmark.
SYSTEM_PACKAGES := chromium fonts-noto-cjk nginx libnginx-mod-rtmp wrk

system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then \
	  echo "system-deps: $(SYSTEM_PACKAGES) present"; \
	elif [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	else \
	  echo "system-deps: not root; install$$missing yourself (sudo apt-get install$$missing), or the tests that need them will skip"; \
	fi

# The wheel and sdist carry the vendored assets (git-ignored, so they are made first here: npm is
# needed to build a release, never to install one) and the .po catalogues the app compiles at
# start-up; scripts/check_dist.py refuses a build that lacks any of them.
dist: $(STAMP) $(VENDOR_FILES)
	rm -rf $(DIST_DIR) build
	$(BIN)/python -m build --outdir $(DIST_DIR) .
	rm -rf build
	$(BIN)/python scripts/check_dist.py $(DIST_DIR)

messages: $(STAMP)
	mkdir -p $(LOCALE_DIR)
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k _ -k gettext -k ngettext:1,2 \
	  --project=Fieldcast -o $(POT) src
	for locale in $(LOCALES); do \
	  if [ -f $(LOCALE_DIR)/$$locale/LC_MESSAGES/messages.po ]; then \
	    $(BIN)/pybabel update -i $(POT) -d $(LOCALE_DIR) -D messages -l $$locale --no-fuzzy-matching; \
	  else \
	    $(BIN)/pybabel init -i $(POT) -d $(LOCALE_DIR) -D messages -l $$locale; \
	  fi; \
	done

clean:
	rm -rf $(VENV) node_modules $(VENDOR_DIR) data $(DIST_DIR) build
