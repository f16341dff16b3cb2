# Two commands work on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Use the shared datasets when they sit beside the checkout.
ifneq ($(wildcard ../shared/data),)
export RNNKIT_DATA ?= $(abspath ../shared/data)
endif

.PHONY: demo test test-browser lint format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	@# The dev tools include KenLM's Python module, built from source (about a minute): the
	@# tests check exported ARPA files against it.
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/rnnkit demo --out runs/demo

# Every test, the browser test of the web page included (it skips, saying why, without
# /usr/bin/chromium; `apt-get install chromium` provides it). Two workers, one per core of a
# small machine; a test file stays on one worker, so its module fixtures are made once.
test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

# Only the browser test; RNNKIT_SCREENSHOT=docs/serve.png also saves the README's picture.
test-browser: $(STAMP)
	$(BIN)/python -m pytest -q -m browser

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) runs .pytest_cache
