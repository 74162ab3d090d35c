# Two commands a fresh clone needs: `make demo` and `make test`.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.eegdeploy-installed

.PHONY: demo test test-fast bench install clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

# torch is pinned through constraints.txt to the local CPU wheel; pyproject keeps a range.
$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install --disable-pip-version-check -q -c constraints.txt -e ".[dev]"
	touch $@

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/eegdeploy demo

# -n auto: one pytest-xdist worker per core (conftest gives each one torch thread and its own data cache);
# loadfile keeps each test file on one worker, so module fixtures are built once (--dist loadgroup built them on both
# workers: 121 s vs 67 s for the fast tier, README) and the two Ray tests never start two clusters at once.
XDIST := -n auto --dist loadfile

test: $(STAMP)
	$(BIN)/python -m pytest -q $(XDIST)

# Everything but the end-to-end matrices and sweeps (marked slow): the tier to run while iterating.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q $(XDIST) -m "not slow"

# Benchmarks print figures and write benchmarks/RESULTS.md and PEERS.md; they are not tests.
BENCH_RATIOS ?= 0.3,0.5,0.7

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run --ratios $(BENCH_RATIOS) --out benchmarks/RESULTS.md
	$(BIN)/python -m benchmarks.readme
	$(BIN)/python -m benchmarks.peers --out benchmarks/PEERS.md

clean:
	rm -rf $(VENV) .pytest_cache
