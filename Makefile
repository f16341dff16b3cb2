# Two commands work on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Use the shared datasets when they sit beside the checkout.
ifneq ($(wildcard ../shared/data),)
export RNNKIT_DATA ?= $(abspath ../shared/data)
endif

.PHONY: demo test lint format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	@# KenLM's Python module builds from source (about a minute); its ARPA check skips without it.
	$(BIN)/pip install --quiet kenlm || echo "note: kenlm did not build; the KenLM ARPA check is skipped"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/rnnkit demo --out runs/demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) runs .pytest_cache
