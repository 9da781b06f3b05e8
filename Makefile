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
# LZ4 C sources (from the lz4 sdist on PyPI) for Verilator's FST trace writer (--waves).
LZ4 := lz4==4.4.4
LZ4_DIR := $(VENV)/share/lz4

.PHONY: setup test test-long fuzz demo lint bench data cosim fpga sweeps clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first: the CPU wheel on disk; a bare requirement would resolve to a CUDA build.
	$(PY) -m pip install --quiet --disable-pip-version-check $(TORCH)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,fpga]'
	# norse without its torchvision requirement (see README, "Dependencies").
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps $(NORSE)
	mkdir -p $(LZ4_DIR)
	$(PY) -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
		-d $(LZ4_DIR) $(LZ4)
	tar -xzf $(LZ4_DIR)/lz4-*.tar.gz -C $(LZ4_DIR) --strip-components=2 --wildcards \
		'*/lz4libs/lz4.c' '*/lz4libs/lz4.h'
	touch $(STAMP)

# Two pytest workers (pytest-xdist): most tests keep one core busy (RTL builds and
# simulations), so two workers use both of a 2-core machine's cores (README: measured time).
# TEST_WORKERS=0 runs it in one process.
# --dist loadgroup: the tests on each shared run (demo, tune) go to one worker (tests/conftest.py).
TEST_WORKERS ?= 2
test: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadgroup -m "not paper_size and not long"

# The tests too long for make test (marker `long`: a second configuration of what make
# test checks, the iCE40 build, the SRNN contrast sweep; about 4 min on 2 cores).
test-long: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadgroup -m long

# The readers' property-based tests with many more examples than `make test` runs
# (2,500 per property instead of 100, fresh ones each run; about 10 min on 2 cores).
# A failing example is kept in .hypothesis/ and replayed first next time.
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(PY) -m pytest -q tests/test_fuzz_readers.py

demo: $(STAMP)
	$(VENV)/bin/rramlsm demo --out runs/demo

data: $(STAMP)
	$(VENV)/bin/rramlsm data build

# The long RTL regression: 1,000 samples per modality through the Verilated macro of the
# demo bundle, with and without random input gaps / output back-pressure, plus aborts;
# then the same for a demo-size bundle read out in windows (visual W = 5, audio W = 3:
# the counter bank and the head over W x N counts), made once by a one-seed demo (whose
# own RTL check runs on it too); the same windows read out as exponential traces (the
# trace registers and their samples at the windows' ends); and for the 4-bit-cell bundle
# of 8 device levels that make fpga builds (narrow crossbar words), with the ULX3S-25F's
# visual lanes: a LIF bank of P = 5 behind a crossbar of 25 lanes (K = 5 groups per pass).
COSIM_SAMPLES ?= 1000
COSIM_FOLD_SAMPLES ?= 200
cosim: $(STAMP)
	$(PY) -m pytest -q -m paper_size tests
	test -f runs/demo/bundle/manifest.json || $(VENV)/bin/rramlsm demo --out runs/demo --quiet
	$(VENV)/bin/rramlsm cosim --bundle runs/demo/bundle --samples $(COSIM_SAMPLES) --stalls \
		--out runs/cosim
	test -f runs/demo-windows/bundle/manifest.json || $(VENV)/bin/rramlsm demo --seeds 0 \
		--windows visual=5,audio=3 --unseen-splits none --out runs/demo-windows --quiet
	$(VENV)/bin/rramlsm cosim --bundle runs/demo-windows/bundle --samples $(COSIM_SAMPLES) \
		--stalls --out runs/cosim-windows
	test -f runs/demo-trace/bundle/manifest.json || $(VENV)/bin/rramlsm demo --seeds 0 \
		--windows visual=5,audio=3 --readout trace --unseen-splits none \
		--out runs/demo-trace --quiet
	$(VENV)/bin/rramlsm cosim --bundle runs/demo-trace/bundle --samples $(COSIM_SAMPLES) \
		--stalls --out runs/cosim-trace
	test -f runs/demo-l8/bundle/manifest.json || $(VENV)/bin/rramlsm demo --levels 8 \
		--windows 1 --unseen-splits none --out runs/demo-l8 --quiet
	$(VENV)/bin/rramlsm cosim --bundle runs/demo-l8/bundle --samples $(COSIM_SAMPLES) \
		--lanes 5 --crossbar-lanes 25 --stalls --out runs/cosim-l8
	# The 85F's cores, LIF banks of P = 10 behind crossbars of 50 lanes, and the 80-lane
	# crossbar tried there; --crossbar-lanes applies to both cores, so one run per width.
	for x in 80 50; do $(VENV)/bin/rramlsm cosim --bundle runs/demo-l8/bundle \
		--samples $(COSIM_FOLD_SAMPLES) --lanes 10 --crossbar-lanes $$x --stalls \
		--out runs/cosim-l8-p10x$$x || exit 1; done

# Bitstreams and resource / Fmax reports for the ULX3S boards from the demo bundle with
# 4-bit cells (8 device levels: both cores fit the 25F), and for the iCEBreaker (iCE40UP5K)
# from one with 48-neuron reservoirs (Yosys + nextpnr from the YoWASP wheels; the first run
# compiles them, ~1 min, cached in ~/.cache/YoWASP).  Both read one total count per neuron
# (--windows 1, the configuration docs/FPGA.md measures): the demo's own choice of windows
# gives the audio core three, whose head weights take 20 DP16KD instead of 8.  runs/fpga/<board>/fpga.json,
# fpga.txt, build/rramlsm_top.{bit,bin}.
# The ULX3S boards place and route with FPGA_SEEDS nextpnr seeds (one synthesis, the seeds as
# Ray tasks) and keep the fastest: fpga.json lists every seed's Fmax.
FPGA_BOARDS ?= ulx3s-25f ulx3s-85f
FPGA_SEEDS ?= 2
fpga: $(STAMP)
	test -f runs/demo-l8/bundle/manifest.json || $(VENV)/bin/rramlsm demo --levels 8 \
		--windows 1 --unseen-splits none --out runs/demo-l8 --quiet
	for b in $(FPGA_BOARDS); do \
		$(VENV)/bin/rramlsm fpga --board $$b --bundle runs/demo-l8/bundle --seeds $(FPGA_SEEDS) \
			--out runs/fpga/$$b || exit 1; \
	done
	test -f runs/demo-n48-l8/bundle/manifest.json || \
		$(VENV)/bin/rramlsm demo --neurons 48 --levels 8 --windows 1 --unseen-splits none \
		--out runs/demo-n48-l8 --rtl-samples 0 --quiet
	$(VENV)/bin/rramlsm fpga --board icebreaker-up5k --bundle runs/demo-n48-l8/bundle \
		--out runs/fpga/icebreaker-up5k

# Monte Carlo sweeps of every device non-ideality (configs/sweeps/*.toml) on local Ray,
# 5 chips per point; resumable: rerun to finish an interrupted sweep.
sweeps: $(STAMP)
	for c in configs/sweeps/*.toml; do \
		$(VENV)/bin/rramlsm sweep $$c --out runs/sweeps/$$(basename $$c .toml) || exit 1; \
	done

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# The cosimulation benchmark runs the demo bundle: built first on a fresh clone (~3 min).
bench: $(STAMP)
	test -f runs/demo/bundle/manifest.json || $(VENV)/bin/rramlsm demo --out runs/demo --quiet
	$(PY) -m bench

clean:
	rm -rf runs build .pytest_cache
