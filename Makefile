# Stay Certified - the two commands: `make demo` and `make test`. Each sets itself up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export POWERTOOLS_TRACE_DISABLED := true
export POWERTOOLS_METRICS_DISABLED := true
export AWS_DEFAULT_REGION := us-east-1
export SAM_CLI_TELEMETRY := 0

.PHONY: constraints demo test gates pytest pytest-schemathesis pytest-browser chromium test-slow lint typecheck contracts complexity template checkov sam-build bench clean

# constraints.txt pins every package to the versions the checks last passed with (regenerate with
# `make constraints` after changing dependencies), so CI installs what developers ran.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

# checkov lives in its own venv: it pins boto3/botocore/pydantic versions that conflict with ours.
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
$(CHECKOV_STAMP): tools/checkov-requirements.txt
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r tools/checkov-requirements.txt
	@touch $(CHECKOV_STAMP)

demo: $(STAMP)
	$(BIN)/staycert demo

# Every gate and the test suite run side by side (make -j, each target's output kept together), and
# pytest spreads the test files over one worker per core (pytest-xdist). `--dist loadfile` keeps a
# file on one worker: some files share a module-scoped local stack. The schemathesis module runs in
# its own plain pytest process beside them: its last test checks the figures every operation's
# generated test collected in module globals, which needs the whole module in one process, in order.
# Set PYTEST_WORKERS=0 to run the rest in one process too (e.g. to debug with -s).
# The staff console's browser tests (headless Chromium) run beside them too, in their own process:
# one Chromium and one local stack for the file, started while the other parts run.
PYTEST_WORKERS ?= auto
SCHEMATHESIS_TESTS := tests/reliability/test_schemathesis.py
BROWSER_TESTS := tests/console/test_console_browser.py
# The gates run at a lower CPU priority (GATE_NICE): on 2 cores the pytest workers are the longest
# part, so they get the cores first and the gates fill what the tests leave (waits on sockets).
GATE_NICE ?=
test: $(STAMP) $(CHECKOV_STAMP)
	@$(MAKE) --no-print-directory -j 8 --output-sync=target GATE_NICE="nice -n 10" gates pytest pytest-schemathesis pytest-browser

gates: lint typecheck contracts complexity template checkov

# Coverage of shared/, functions/ and local/ by this run (pytest-cov combines the xdist workers'
# data); below the floor in pyproject.toml ([tool.coverage.report] fail_under) the target fails.
pytest: $(STAMP)
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile --ignore=$(SCHEMATHESIS_TESTS) --ignore=$(BROWSER_TESTS) --cov --cov-report=term:skip-covered

pytest-schemathesis: $(STAMP)
	$(BIN)/pytest $(SCHEMATHESIS_TESTS)

pytest-browser: $(STAMP) chromium
	$(BIN)/pytest $(BROWSER_TESTS)

# Debian's chromium and chromium-driver: installed when missing and we can (root with apt-get, as CI
# runs); otherwise a clear failure - the browser tests are never skipped.
chromium:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then exit 0; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing chromium and chromium-driver (apt-get)"; \
		apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 || \
		{ apt-get update -qq && apt-get install -y -qq chromium chromium-driver; }; \
	else \
		echo "The staff console's browser tests need Chromium: run 'apt-get install -y chromium chromium-driver' as root (Debian), or put chromium and chromedriver on PATH" >&2; \
		exit 1; \
	fi

# The long part of the reliability suite (convergence property at full example count, ...), and
# the full size of every test `make test` runs a sample of (marker `sampled`, tests/tiers.py).
test-slow: $(STAMP)
	$(BIN)/pytest -m "slow or sampled" --full-sweeps

lint: $(STAMP)
	$(GATE_NICE) $(BIN)/ruff check .
	$(GATE_NICE) $(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(GATE_NICE) $(BIN)/mypy shared functions local

# Cyclomatic complexity budget (radon's ranks, via xenon): no function above D (today's worst: 28),
# no module above C, the average A. Lower a rank when the worst function gets simpler.
complexity: $(STAMP)
	$(GATE_NICE) $(BIN)/xenon --max-absolute D --max-modules C --max-average A shared functions local

contracts: $(STAMP)
	$(GATE_NICE) $(BIN)/lint-imports

template: $(STAMP)
	$(GATE_NICE) $(BIN)/sam validate --lint --template template.yaml --region us-east-1
	$(GATE_NICE) $(BIN)/cfn-lint -I template.yaml

# Offline (--skip-download); every skipped check is written in the resource's Metadata with a reason.
checkov: $(CHECKOV_STAMP)
	$(GATE_NICE) $(CHECKOV_VENV)/bin/checkov -f template.yaml --framework cloudformation --skip-download --compact --quiet

sam-build: $(STAMP)
	$(BIN)/sam build --template template.yaml

# Every bench/bench_*.py script; each merges its figures into bench/results.json. Then bench/cost.py
# regenerates docs/cost.md from them and prints the summary table (every figure beside its target).
bench: $(STAMP)
	@for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done
	$(BIN)/python -m bench.cost

# Called by `sam build` (BuildMethod: makefile) to assemble the shared layer: shared/ plus the
# runtime dependencies declared in pyproject.toml, for the Lambda runtime's platform.
build-SharedLayer:
	mkdir -p "$(ARTIFACTS_DIR)/python"
	cp -R shared "$(ARTIFACTS_DIR)/python/"
	find "$(ARTIFACTS_DIR)/python" -name __pycache__ -prune -exec rm -rf {} +
	python3 -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; print('\n'.join(d for d in deps if not d.startswith('boto3')))" > "$(ARTIFACTS_DIR)/requirements.txt"
	python3 -m pip install --quiet -r "$(ARTIFACTS_DIR)/requirements.txt" -c constraints.txt -t "$(ARTIFACTS_DIR)/python" \
		--platform manylinux2014_aarch64 --implementation cp --python-version 3.12 --only-binary=:all:
	rm "$(ARTIFACTS_DIR)/requirements.txt"

constraints: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^staycert' > constraints.txt

clean:
	rm -rf .aws-sam .mypy_cache .ruff_cache .hypothesis $(CHECKOV_VENV)
