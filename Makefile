# mamfast: `make demo` runs the pipeline on a sample library, `make test` runs every test.
# Both install what they need (system packages via apt-get, Python packages into .venv).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DIR ?= $(CURDIR)/demo-data

.PHONY: setup demo test lint bench clean

$(BIN)/mamfast: pyproject.toml requirements.lock requirements-dev.lock
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "mamfast needs Python 3.11 or newer ($(PYTHON) is older)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.lock
	$(BIN)/pip install -q --no-deps -e .
	@touch $@

setup: $(BIN)/mamfast

demo:
	scripts/system-deps.sh demo
	$(MAKE) setup
	$(BIN)/mamfast demo $(DEMO_DIR)/library
	MAMFAST_DATA_DIR=$(DEMO_DIR)/data $(BIN)/mamfast run --library $(DEMO_DIR)/library

test:
	scripts/system-deps.sh test
	$(MAKE) setup
	$(BIN)/python -m pytest -q $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

lint: setup
	$(BIN)/ruff check mamfast workers tests bench
	$(BIN)/ruff format --check mamfast workers tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .mypy_cache .ruff_cache
