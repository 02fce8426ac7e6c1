# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check
export LOCAL_REGISTRY_DIR ?= $(CURDIR)/.mlflow
# MLflow 3 reports usage to outside servers unless told not to.
export MLFLOW_DISABLE_TELEMETRY ?= true
export DO_NOT_TRACK ?= true
CAPTURE_URI ?= $(CURDIR)/capture

.PHONY: demo test test-fast bench-book lint-imports lint lint-infra lint-sam format serve bench drift clean image-test image-test-registry docs-examples

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The pinned requirements, then this package (editable, console scripts) without resolving anything more.
$(VENV)/.build-installed: requirements.txt requirements-build.txt pyproject.toml | $(BIN)/python
	$(PIP) install -q -r requirements-build.txt
	$(PIP) install -q --no-deps -e .
	touch $@

$(VENV)/.dev-installed: $(VENV)/.build-installed requirements-dev.txt
	$(PIP) install -q -r requirements-dev.txt
	touch $@

## demo: train a demo model into the local registry (if it holds none), build model/, predict data.json
demo: $(VENV)/.build-installed
	$(BIN)/credit-score-train --synthetic 20000 --skip-if-registered
	$(BIN)/python model_downloader.py --output model
	CAPTURE_URI=$(CAPTURE_URI) $(BIN)/python test.py data.json

PORT ?= 8080
## serve: local HTTP API (API Gateway HTTP API shape) on 127.0.0.1:$(PORT); docs at /docs
serve: $(VENV)/.build-installed
	CAPTURE_URI=$(CAPTURE_URI) $(BIN)/credit-score-serve --host 127.0.0.1 --port $(PORT) --model-dir model

# pyspark (and the JVM it drives) only for the Spark test and the book benchmark.
$(VENV)/.spark-installed: $(VENV)/.dev-installed requirements-spark.txt
	$(PIP) install -q -r requirements-spark.txt
	touch $@

## docs-examples: send every documented example to the demo model (make demo builds model/), keep the answers
## in docs/examples.json and rewrite each <!-- example: NAME --> block of README.md and docs/*.md
docs-examples: $(VENV)/.build-installed
	@test -f model/metadata.json || $(MAKE) demo
	$(BIN)/python -m credit_score.devtools.examples --model-dir model

$(VENV)/.bench-installed: $(VENV)/.dev-installed requirements-bench.txt
	$(PIP) install -q -r requirements-bench.txt
	touch $@

## bench: benchmark suite against the old design -> benchmarks/results/latest.{json,md}
bench: $(VENV)/.bench-installed
	$(BIN)/python -m benchmarks
	$(BIN)/python -m benchmarks.emf

## bench-book: loan-book scoring, rows/s on Spark local[2], pandas predict and the Lambda batch path
## -> benchmarks/results/book.json (needs Java 17, as the Spark test does)
bench-book: $(VENV)/.spark-installed
	$(BIN)/python -m benchmarks.book

## drift: drift report of the local capture against model/'s reference profile -> drift-report/
## (exit codes 1-3 are verdicts, not failures: warn, alert, insufficient data)
drift: $(VENV)/.build-installed
	$(BIN)/credit-score-drift --capture $(CAPTURE_URI) --bundle model \
		--html drift-report/report.html --json drift-report/report.json $(DRIFT_ARGS) || [ $$? -lt 4 ]

## test: lint, then the whole test suite but the container image (what .ci/run calls, then image-test)
test: $(VENV)/.spark-installed lint
	$(BIN)/python -m pytest -m "not image"

## test-fast: the inner loop: unit and functional tests, no real servers, no heavy variants
test-fast: $(VENV)/.dev-installed
	$(BIN)/python -m pytest -q -m "not slow and not integration and not image" 

## lint: ruff, then the workflow, Dockerfile and SAM template linters
lint: $(VENV)/.dev-installed lint-infra lint-imports
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## lint-imports: the houses' import direction (pyproject.toml, [tool.importlinter])
lint-imports: $(VENV)/.dev-installed
	$(BIN)/lint-imports

lint-infra: $(VENV)/.dev-installed
	$(BIN)/actionlint
	$(BIN)/hadolint Dockerfile
	$(BIN)/cfn-lint infra/template.yaml

# The image tests need an engine: tests/image/engine.py installs Debian's docker.io when missing,
# starts dockerd when none runs and stops what it started; without one they fail in one line.
ENGINE_RUN := $(BIN)/python -m tests.image.engine run --

## image-test: build the Lambda image FROM a stand-in base (Debian Python + awslambdaric), run it as
## Lambda does against the Runtime API emulator, audit its layers -> benchmarks/results/image.json
image-test: $(VENV)/.dev-installed
	@test -f model/metadata.json || $(MAKE) demo
	$(ENGINE_RUN) sh -c '$(BIN)/python -m pytest -q -m image tests/image --ignore=tests/image/test_registry_image.py \
		&& $(BIN)/python -m benchmarks.image'

## image-test-registry: the image built with MODEL_SOURCE=registry from a local mlflow server with basic
## auth, credentials as secret files; the password must be in no layer, history entry or config
image-test-registry: $(VENV)/.dev-installed
	$(ENGINE_RUN) $(BIN)/python -m pytest -q -m image tests/image/test_registry_image.py

# The SAM CLI in a virtualenv of its own (its dependencies would move our pins): 54 s and 342 MB here.
.venv-sam/.installed: requirements-sam.txt
	$(PYTHON) -m venv .venv-sam
	.venv-sam/bin/python -m pip install -q --disable-pip-version-check -r requirements-sam.txt
	touch $@

## lint-sam: `sam validate --lint` on the template; tests/test_deploy.py then also checks SAM's own translation
lint-sam: .venv-sam/.installed
	cd infra && SAM_CLI_TELEMETRY=0 ../.venv-sam/bin/sam validate --lint --template-file template.yaml

format: $(VENV)/.dev-installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .venv-sam .mlflow model capture drift-report .pytest_cache .ruff_cache .hypothesis
