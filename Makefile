# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check
export PYTHONPATH := $(CURDIR)/src:$(CURDIR)
export LOCAL_REGISTRY_DIR ?= $(CURDIR)/.mlflow
CAPTURE_URI ?= $(CURDIR)/capture

.PHONY: demo test lint format train model predict clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.build-installed: requirements.txt requirements-build.txt | $(BIN)/python
	$(PIP) install -q -r requirements-build.txt
	touch $@

$(VENV)/.dev-installed: $(VENV)/.build-installed requirements-dev.txt
	$(PIP) install -q -r requirements-dev.txt
	touch $@

## demo: train a demo model into the local registry (if it holds none), build model/, predict data.json
demo: $(VENV)/.build-installed
	$(BIN)/python -m credit_score.training train --synthetic 20000 --skip-if-registered
	$(BIN)/python model_downloader.py --output model
	CAPTURE_URI=$(CAPTURE_URI) $(BIN)/python test.py data.json

## test: lint, then the whole test suite
test: $(VENV)/.dev-installed lint
	$(BIN)/python -m pytest

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev-installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .mlflow model capture .pytest_cache .ruff_cache .hypothesis
