# managed-hsm-operator: the two commands that matter are `make run` and `make test` (see README.md).
# Everything else is a step of those two, usable on its own.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
# Reinstall only when the dependency list changed.
VENV_STAMP := $(VENV)/.installed-from-pyproject

# Whole-suite guards, so a hung apiserver or test cannot eat the CI budget (pytest-timeout also bounds each test).
SESSION_TIMEOUT ?= 2400
HARD_TIMEOUT ?= 45m
PYTEST_ARGS ?=
PYTEST := timeout --signal=TERM --kill-after=60 $(HARD_TIMEOUT) $(BIN)/pytest -ra --durations=15 \
	--session-timeout=$(SESSION_TIMEOUT)

.PHONY: help venv controlplane azurite lint test test-unit test-integration test-e2e test-reliability cluster run crds \
	clean distclean bench

help:
	@echo "make run               start control plane (+ emulator and operator as they land) under .run/, Ctrl-C stops"
	@echo "make test              venv + control plane + lint + the whole test suite"
	@echo "make test-unit         unit tests only (no processes)"
	@echo "make test-integration  integration tests (real kube-apiserver, emulator)"
	@echo "make test-reliability  fault tests only (kills, restarts, full disk, clock skew; also part of make test)"
	@echo "make lint              ruff check, ruff format --check, mypy --strict, lint-imports"
	@echo "make cluster           only the local control plane (state in .run/cluster)"
	@echo "make bench             every benchmark in one table (BENCH_ARGS=--quick, --compare A.json; README Benchmarks)"
	@echo "make controlplane      build the control-plane binaries once (or use \$$KUBEBUILDER_ASSETS)"
	@echo "make crds              regenerate crds/ from the pydantic models"
	@echo "make clean|distclean   remove .run and caches | also .venv"

venv: $(VENV_STAMP)

$(VENV_STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "error: $(PYTHON) is Python < 3.11; set PYTHON=python3.11 (or newer)" >&2; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

controlplane: venv
	@$(PY) -m hsm_devtools.binaries

# Azurite (Azure Storage emulator) receives the HSMs' full backups; installed once outside the repo.
azurite:
	@hack/install-azurite.sh

# Every linter runs even when an earlier one fails, so one pass shows all problems.
lint: venv
	@status=0; \
	for step in "ruff check ." "ruff format --check ." "mypy" "lint-imports"; do \
		echo "--- $$step"; $(BIN)/$$step || { status=1; echo "--- $$step: FAILED"; }; \
	done; exit $$status

# Lint and tests both run even if one fails; one summary line says what failed; the exit status is non-zero if any
# did. The fixtures stop every process they start (also on failures, SIGTERM and timeouts); afterwards
# hsm_devtools.leaks finds any process still carrying this run's random marker, names it (a fixture bug) and stops it.
test: venv controlplane azurite
	@lint=0; $(MAKE) --no-print-directory lint || lint=$$?; \
	run_id=$$($(PY) -c 'import uuid; print(uuid.uuid4().hex)'); \
	tests=0; HSM_DEVTOOLS_RUN_ID=$$run_id $(PYTEST) $(PYTEST_ARGS) || tests=$$?; \
	leaks=0; $(PY) -m hsm_devtools.leaks $$run_id || leaks=$$?; \
	verdict() { if [ "$$1" = 0 ]; then echo passed; else echo "FAILED (exit $$1)"; fi; }; \
	echo "==== make test: lint $$(verdict $$lint); tests $$(verdict $$tests); no leftover processes $$(verdict $$leaks) ===="; \
	[ $$lint = 0 ] && [ $$tests = 0 ] && [ $$leaks = 0 ]

test-unit: venv
	$(PYTEST) -m "not integration and not e2e" tests/unit $(PYTEST_ARGS)

test-integration: venv controlplane azurite
	$(PYTEST) tests/integration $(PYTEST_ARGS)

test-e2e: venv controlplane
	@if [ -d tests/e2e ]; then $(PYTEST) tests/e2e $(PYTEST_ARGS); else echo "no tests/e2e yet"; fi

# Part of `make test` too (tests/reliability/ is under testpaths); this runs only the marked fault tests.
test-reliability: venv controlplane azurite
	$(PYTEST) -m reliability $(PYTEST_ARGS)

# Every benchmark, one table beside its references, JSON in bench/results/ (<timestamp>.json and latest.json).
BENCH_ARGS ?=
bench: venv controlplane azurite
	$(PY) -m bench $(BENCH_ARGS)

cluster: venv controlplane
	$(PY) -m hsm_devtools.controlplane up --state-dir .run/cluster

run: venv controlplane
	$(PY) -m hsm_devtools.run --run-dir .run

# The chart serves exact copies of crds/ (tests/e2e/test_chart.py checks they match).
crds: venv
	$(PY) -m hsm_operator.crdgen --output crds
	$(PY) -m hsm_operator.crdgen --output charts/managed-hsm-operator/files/crds

# The control-plane binaries live outside the repo (~/.cache/managed-hsm-operator) and are kept.
clean:
	rm -rf .run .pytest_cache .mypy_cache .ruff_cache .import_linter_cache .hypothesis build dist
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
