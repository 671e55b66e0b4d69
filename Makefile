# The two set-up commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev

.PHONY: demo test test-scale lint types unit bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@ $(STAMP_RUN)

demo: $(STAMP_RUN)
	$(BIN)/dsar demo

lint: $(STAMP_DEV)
	$(BIN)/ruff check src tests bench scripts examples
	$(BIN)/ruff format --check src tests bench scripts examples
	$(BIN)/lint-imports --no-cache

types: $(STAMP_DEV)
	$(BIN)/mypy

# The suite and, at the same time in a second process, the scale pass (it mostly waits on Celery, PostgreSQL and
# S3; its output follows the suite's). Either failing fails `make test`.
test: lint types
	@log=$$(mktemp); trap 'rm -f "$$log"' EXIT; \
	DSAR_TEST_STACK=scale $(BIN)/python -m pytest -q -m "not local_stack" tests/api tests/portability tests/odr \
		>"$$log" 2>&1 & scale=$$!; \
	$(BIN)/python -m pytest -q; main=$$?; \
	wait $$scale; scale_rc=$$?; \
	echo "--- the scale pass (make test-scale): the API suites on the distributed stack"; cat "$$log"; \
	test $$main -eq 0 && test $$scale_rc -eq 0

# The API suites again on the distributed stack: PostgreSQL, Celery on Redis, S3 (docs/testing.md).
test-scale: $(STAMP_DEV)
	DSAR_TEST_STACK=scale $(BIN)/python -m pytest -q -m "not local_stack" tests/api tests/portability tests/odr

bench: $(STAMP_DEV)
	$(BIN)/python -m bench

cluster: $(STAMP_DEV)
	$(BIN)/python scripts/cluster.py

clean:
	rm -rf $(VENV) dsar-data dsar-demo .pytest_cache .mypy_cache .ruff_cache
