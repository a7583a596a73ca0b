# geosiam: set-up, demo, tests and benchmarks. Every target installs what it needs first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO ?= demo

.PHONY: setup demo ablations test bench lint clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

setup: $(STAMP)  ## create .venv and install geosiam with its test tools

demo: $(STAMP)  ## the whole pipeline on the built-in sample area, in ./demo
	bash scripts/demo.sh $(DEMO)

ablations: $(STAMP)  ## the demo, then the image-only and mask-only networks on its recipe, and eval
	bash scripts/demo.sh $(DEMO) --ablations

test: $(STAMP)  ## the test suite
	$(BIN)/pytest -q

bench: $(STAMP)  ## every benchmark, ratios side by side
	$(BIN)/python benchmarks/run_all.py

lint: $(STAMP)
	$(BIN)/ruff check geosiam tests benchmarks

clean:
	rm -rf $(VENV) $(DEMO) build *.egg-info
