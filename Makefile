# Two commands on a fresh Debian/Ubuntu machine:
#   make demo   install Ngspice + .venv, train the XOR example in Ngspice
#   make test   the same set-up, then the test suite
#   make docs   the documentation site (mkdocs.yml) into site/, offline
VENV ?= .venv
# In the Docker image (EBANA_SYSTEM_PYTHON=1) the image's Python is the environment: no .venv.
PY := $(if $(filter 1,$(EBANA_SYSTEM_PYTHON)),python3,$(VENV)/bin/python)
PYTEST_ARGS ?= -m "not slow"
# Many tiny batched solves: BLAS threads only fight over the cores.
export OPENBLAS_NUM_THREADS ?= 1

.PHONY: setup demo test test-all docs bench bench-scale clean

setup:
	VENV=$(VENV) bash scripts/setup.sh

demo: setup
	$(PY) test_circuit/xor.py

test: setup
	$(PY) -m pytest -q $(PYTEST_ARGS)

test-all: setup
	$(PY) -m pytest -q -m ""

# API reference from the docstrings, guides from docs/; --strict: a broken link or reference fails.
docs: setup
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir site

bench: setup
	$(PY) bench/speed.py

# Image-sized networks (sets its own BLAS threads for the large products: --blas-threads).
bench-scale: setup
	$(PY) bench/scale.py

clean:
	rm -rf $(VENV) build site *.egg-info .pytest_cache
