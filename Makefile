# Every target sets up what it needs: .venv with poise installed editable, plus its dev
# tools. The first run installs (a minute or so); later runs reuse it unless
# pyproject.toml changed.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: all demo test suites lint format bench bench-doctor bench-overload bench-closed-loop bench-probes clean

all: lint test

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "poise needs Python >= 3.11 (found $$($(PYTHON) --version)); set PYTHON=..."; exit 2; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## demo: the burnt example shop under uvicorn with poise, a few hundred requests, the table
demo: $(STAMP)
	$(PY) examples/demo.py

## test: the whole test suite, with coverage. pytest's exit code 5 (no tests collected)
## means the suite was not found, so it fails with its own message. Coverage starts
## before pytest (not through pytest-cov) because poise's own pytest plugin imports
## poise while pytest loads plugins, before pytest-cov would start measuring.
test: $(STAMP)
	@rm -f .coverage .coverage.*; status=0; \
	$(PY) -m coverage run -m pytest $(PYTEST_ARGS) || status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests; that is a failure" >&2; fi; \
	if [ $$status -eq 0 ]; then $(PY) -m coverage combine -q && $(PY) -m coverage report; fi; \
	exit $$status
	$(MAKE) --no-print-directory suites

## suites: Starlette's and FastAPI's own test suites, bare and with Poise(app) on every
## app they build (bench/suites.py; about 2 minutes, from the package index): poise must
## change no outcome
suites: $(STAMP)
	$(PY) bench/suites.py

## lint: ruff (lint + format check) and mypy --strict
lint: $(STAMP)
	$(PY) -m ruff check src tests examples bench
	$(PY) -m ruff format --check src tests examples bench
	$(PY) -m mypy

format: $(STAMP)
	$(PY) -m ruff format src tests examples bench
	$(PY) -m ruff check --fix src tests examples bench

## bench: poise's overhead on a hello-world app vs the bare app (needs wrk)
bench: $(STAMP)
	@command -v wrk >/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && apt-get install -y -qq wrk >/dev/null; \
		else echo "bench needs wrk: sudo apt-get install -y wrk"; exit 2; fi; }
	$(PY) bench/overhead.py --json bench/results/overhead.json

## bench-doctor: poise doctor against ruff and flake8-async on the corpus, and its speed
## on a generated 100,000-line project
bench-doctor: $(STAMP)
	$(PY) bench/doctor_vs_peers.py --json bench/results/doctor_vs_peers.json
	$(PY) bench/doctor_speed.py --json bench/results/doctor_speed.json

## bench-overload: bare vs uvicorn --limit-concurrency vs poise at 1x/3x/10x capacity (~12 min)
bench-overload: $(STAMP)
	$(PY) bench/overload.py --json bench/results/overload.json --svg docs/img/overload.svg

## bench-closed-loop: wrk at 4/50/200/50 connections: bare vs poise vs uvicorn --limit-concurrency,
## three apps, three interleaved runs (~15 min; needs wrk and the local PostgreSQL)
bench-closed-loop: $(STAMP)
	$(PY) bench/closed_loop.py --json bench/results/closed_loop.json --svg docs/img/closed_loop.svg

## bench-probes: health probes under 3x overload: fastapi-health vs poise's /readyz and probe port (~2 min)
bench-probes: $(STAMP)
	$(PY) bench/probes.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov dist build
