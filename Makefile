# dpiglib: the two set-up commands of the README, plus helpers.
VENV ?= .venv
PY := $(VENV)/bin/python
RUN_DIR ?= runs/synth-tiny

.PHONY: setup pipeline test test-fast bench clean-notebooks check-notebooks

setup:
	VENV=$(VENV) bash scripts/install.sh

## Main job: install, then run the whole notebook pipeline on the embedded SynthPerson data (CPU).
pipeline: setup
	$(VENV)/bin/dpig run --preset synth-tiny --out $(RUN_DIR)

## Install, then run the full test suite (what .ci/run calls).
test: setup
	$(PY) -m pytest

test-fast: setup
	$(PY) -m pytest -m "not slow"

bench: setup
	$(PY) benchmarks/run_all.py

## Strip outputs from notebooks before committing.
clean-notebooks:
	$(PY) scripts/strip_notebooks.py notebooks/*.ipynb
