# photoshelf developer commands. CI runs the same ones (.ci/run → make test).
#
#   make run     install exiftool/ffmpeg, build .venv, index the demo library in examples/, print stats,
#                then serve the viewer (and the watcher) on http://127.0.0.1:2468/ (login admin / photoshelf-demo)
#   make test    also install MariaDB + Chromium and start MariaDB, then run the test suite
#   make bench   benchmarks (never part of the test run)
#   make lint    ruff + mypy
#   make clean   remove the venv, the demo storage and caches
#
# PYTHON=python3.12 make …   builds the venv with another interpreter (needs ≥ 3.11)
# PYTEST_ARGS='-m "not mariadb" -x' make test   passes arguments through to pytest

PYTHON ?= python3
PYTEST_ARGS ?=

VENV := .venv
BIN := $(VENV)/bin

# The demo indexes the small library shipped in examples/ into a throwaway storage folder. Its first `serve` makes
# the user `admin` with DEMO_PASSWORD (a demo on 127.0.0.1 only; on a real library use `photoshelf users add`).
DEMO_PASSWORD ?= photoshelf-demo
DEMO_ENV := PHOTOSHELF_ORIGINALS=examples/originals PHOTOSHELF_STORAGE=.photoshelf-demo

.PHONY: help venv system system-test run serve test bench lint clean

help:
	@sed -n '1,12s/^# \{0,1\}//p' Makefile

venv: $(VENV)/.installed

# Rebuilt when pyproject.toml (dependencies, extras) changes; the editable install picks up code changes.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -U pip
	$(BIN)/python -m pip install -e '.[all,tensorflow,dev]'
	$(BIN)/photoshelf models install
	touch $@

system:
	bash scripts/setup-system.sh

system-test:
	bash scripts/setup-system.sh --test

run: system venv
	$(DEMO_ENV) $(BIN)/photoshelf index
	$(DEMO_ENV) $(BIN)/photoshelf stats
	@echo "demo login: admin / $(DEMO_PASSWORD) (made on the first start; change it under Account)"
	$(DEMO_ENV) PHOTOSHELF_ADMIN_PASSWORD='$(DEMO_PASSWORD)' $(BIN)/photoshelf serve

serve: venv
	$(DEMO_ENV) PHOTOSHELF_ADMIN_PASSWORD='$(DEMO_PASSWORD)' $(BIN)/photoshelf serve

test: system-test venv
	$(BIN)/python -m pytest tests $(PYTEST_ARGS)

bench: venv
	$(BIN)/python bench/index.py

lint: venv
	$(BIN)/ruff check .
	$(BIN)/python scripts/typecheck.py

clean:
	rm -rf $(VENV) .photoshelf-demo build dist .pytest_cache .mypy_cache .ruff_cache test-output bench/out
	find . -path ./.git -prune -o \( -name __pycache__ -o -name '*.egg-info' \) -prune -exec rm -rf {} +
