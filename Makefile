# Set-up and the two entry points of the README: `make demo` and `make test`.
# Everything installs into .venv with the exact versions pinned in constraints.txt.

SYSTEM_PYTHON := $(shell command -v python3)
PYTHON ?= $(SYSTEM_PYTHON)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO ?= demo_output
DOCS_BUILD ?= docs/_build/html
# Snakemake runs the workflow's scripts with the python it finds first.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: install demo test benchmark benchmark-image3 docs system-packages clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt pip setuptools wheel
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-build-isolation -c constraints.txt -e '.[test,workflow,docs]'
	# stcal, the tests' independent reference for ramps, pins drizzle<2.3; the modules the tests use never import drizzle.
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -c constraints.txt stcal
	$(BIN)/python -m liger_iris_crds_hook  # crds's own tools know the ligeriri observatory
	touch $@

# The main job on the shipped demo: simulate 2 IRIS (with a GUIDE subarray, drawn through a 10-pixel geometric distortion) + 2
# Liger frames (no distortion reference: their WCS is TAN only, which the QA says) and their references, put the
# references into a store as a CRDS context, and run the workflow on them (.test/config/config.yaml) on 2 cores. Liger also
# has a sky frame (associated with each science frame) and 3 darks + 3 dome flats, which the workflow turns
# into a master dark and flat and adds to the store as a new context before reducing the science frames; its two
# (dithered) exposures are then combined into a Level-3 mosaic.
demo: install
	rm -rf $(DEMO)
	$(BIN)/liger-iris-simulate --instrument IRIS --n-exposures 2 --seed 1 --observation 001 --subarray GUIDE,1793,1793,512,512 \
		--distortion 10 --output-dir $(DEMO)/raw/iris
	$(BIN)/liger-iris-simulate --instrument LIGER --n-exposures 2 --seed 2 --observation 002 --ra 210.8 --dec 54.35 \
		--n-sky 1 --sky-stars 0 --n-darks 3 --n-flats 3 --output-dir $(DEMO)/raw/liger
	$(BIN)/liger-iris-asn $(DEMO)/raw/liger/*_SCI_LVL1_????.fits $(DEMO)/raw/liger/*_SKY_LVL1_????.fits
	$(BIN)/crds_add_references --store $(DEMO)/store --description "simulated demo references" \
		$(DEMO)/raw/iris/IRIS_IMG1_*_1.fits $(DEMO)/raw/iris/IRIS_IMG1_*_1.asdf $(DEMO)/raw/liger/Liger_IMG_*_1.fits
	$(BIN)/snakemake --cores 2 --configfile .test/config/config.yaml
	@echo "L2b frames:"; ls -1 $(DEMO)/results/*/*_cal.fits $(DEMO)/results/*/*_merged.fits
	@echo "Level-3 mosaics:"; ls -1 $(DEMO)/results/*/*_i2d.fits

# Two workers, each taking whole test files (a module's fixtures stay in one process); the night's-life test, the
# longest, first.
test: install system-packages
	$(BIN)/python -m pytest -n 2 --dist loadfile tests/test_workflow_night.py tests

# The benchmarks of benchmarks/results/ (about an hour and a half on 2 cores; BENCH_FRAMES=1,10 for a quicker run).
# jwst's steps, the reference point, run in their own environment: jwst pins asdf<6, which conflicts with constraints.txt.
JWST_VENV ?= benchmarks/.jwst-venv
BENCH_FRAMES ?= 1,10,50

$(JWST_VENV)/.installed: benchmarks/jwst-constraints.txt
	$(PYTHON) -m venv $(JWST_VENV)
	$(JWST_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -c benchmarks/jwst-constraints.txt jwst
	touch $@

benchmark: install $(JWST_VENV)/.installed
	$(BIN)/python benchmarks/bench_imager_l2.py
	$(BIN)/python benchmarks/bench_workflow_scale.py --frames $(BENCH_FRAMES) --jwst-python $(JWST_VENV)/bin/python
	$(BIN)/python benchmarks/bench_workflow_startup.py  # snakemake -n against the workflow before issue 16 (git 1909ff5)
	$(BIN)/python benchmarks/bench_detector1.py
	$(BIN)/python benchmarks/bench_quicklook.py
	$(BIN)/python benchmarks/bench_distortion.py
	$(BIN)/python benchmarks/bench_distortion_solution.py
	$(BIN)/python benchmarks/bench_watch.py
	$(MAKE) benchmark-image3

# Level 3 alone (issue 18): a BENCH_IMAGE3_FRAMES-point dither of 4096x4096 frames to a mosaic, ours beside jwst's
# calwebb_image3 outlier detection and resample and drizzle's own kernel (results/image3.md; 9 frames need ~10 GiB).
BENCH_IMAGE3_FRAMES ?= 9
benchmark-image3: install $(JWST_VENV)/.installed
	$(BIN)/python benchmarks/bench_image3.py --frames $(BENCH_IMAGE3_FRAMES) --jwst-python $(JWST_VENV)/bin/python

# The documentation site (docs/), warnings as errors; tests/test_docs.py builds it in CI.
docs: install system-packages
	$(BIN)/sphinx-build -W --keep-going -b html docs $(DOCS_BUILD)

# System programs that tests and docs need, installed from Debian's packages when missing (as root): Graphviz's
# dot draws the docs' workflow pictures, Chromium opens the workflow's HTML report in its test.
SYSTEM_PROGRAMS := dot:graphviz chromium:chromium

system-packages:
	@missing=""; for pair in $(SYSTEM_PROGRAMS); do command -v $${pair%%:*} >/dev/null || missing="$$missing $${pair#*:}"; done; \
	[ -z "$$missing" ] || { [ "$$(id -u)" = 0 ] \
		&& apt-get -o DPkg::Lock::Timeout=300 update -qq \
		&& DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends $$missing >/dev/null; } \
		|| { echo "make: missing system packages:$$missing (apt-get install$$missing, as root)" >&2; exit 1; }

clean:
	rm -rf $(VENV) $(DEMO) docs/_build docs/api/generated
