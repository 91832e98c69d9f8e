# Stay Certified - the two commands: `make demo` and `make test`. Each sets itself up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export POWERTOOLS_TRACE_DISABLED := true
export POWERTOOLS_METRICS_DISABLED := true
export AWS_DEFAULT_REGION := us-east-1
export SAM_CLI_TELEMETRY := 0

.PHONY: demo test test-fast lint typecheck contracts template sam-build bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/staycert demo

test: $(STAMP) lint typecheck contracts template
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy shared functions local

contracts: $(STAMP)
	$(BIN)/lint-imports

template: $(STAMP)
	$(BIN)/sam validate --lint --template template.yaml --region us-east-1

sam-build: $(STAMP)
	$(BIN)/sam build --template template.yaml

# Every bench/bench_*.py script; each merges its figures into bench/results.json.
bench: $(STAMP)
	@for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

# Called by `sam build` (BuildMethod: makefile) to assemble the shared layer: shared/ plus the
# runtime dependencies declared in pyproject.toml, for the Lambda runtime's platform.
build-SharedLayer:
	mkdir -p "$(ARTIFACTS_DIR)/python"
	cp -R shared "$(ARTIFACTS_DIR)/python/"
	find "$(ARTIFACTS_DIR)/python" -name __pycache__ -prune -exec rm -rf {} +
	python3 -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; print('\n'.join(d for d in deps if not d.startswith('boto3')))" > "$(ARTIFACTS_DIR)/requirements.txt"
	python3 -m pip install --quiet -r "$(ARTIFACTS_DIR)/requirements.txt" -t "$(ARTIFACTS_DIR)/python" \
		--platform manylinux2014_aarch64 --implementation cp --python-version 3.12 --only-binary=:all:
	rm "$(ARTIFACTS_DIR)/requirements.txt"

clean:
	rm -rf .aws-sam .mypy_cache .ruff_cache .hypothesis
