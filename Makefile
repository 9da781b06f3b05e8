# Two commands on a fresh machine: `make demo` and `make test`.
# Every target sets up .venv on first use and re-installs only when
# pyproject.toml changes (the stamp file depends on it).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TORCH := torch==2.13.0
NORSE := norse==1.1.0

.PHONY: setup test demo lint bench data clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first: the CPU wheel on disk; a bare requirement would resolve to a CUDA build.
	$(PY) -m pip install --quiet --disable-pip-version-check $(TORCH)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	# norse without its torchvision requirement (see README, "Dependencies").
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps $(NORSE)
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

demo: $(STAMP)
	$(VENV)/bin/rramlsm demo --out runs/demo

data: $(STAMP)
	$(VENV)/bin/rramlsm data build

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	$(PY) -m bench

clean:
	rm -rf runs build .pytest_cache
