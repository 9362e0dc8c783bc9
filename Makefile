# Set-up and the two entry points of the README: `make demo` and `make test`.
# Everything installs into .venv with the exact versions pinned in constraints.txt.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO ?= demo_output

.PHONY: install demo test benchmark clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt pip setuptools wheel
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-build-isolation -c constraints.txt -e '.[test]'
	$(BIN)/python -m liger_iris_crds_hook  # crds's own tools know the ligeriri observatory
	touch $@

# Simulate one full IRIS imager frame with its references, then reduce it to L2b.
demo: install
	$(BIN)/liger-iris-simulate --instrument IRIS --seed 1 --output-dir $(DEMO)/raw
	$(BIN)/tmtrun process_imager_l2 $(DEMO)/raw/2027A-P001-001_IRIS_IMG1_SCI_LVL1_0001.fits \
		--output-dir $(DEMO)/reduced \
		--steps.dq_init.override_mask=$(DEMO)/raw/IRIS_IMG1_MASK_20200101T000000_1.fits \
		--steps.dark_current.override_dark=$(DEMO)/raw/IRIS_IMG1_DARK_20200101T000000_1.fits \
		--steps.flat_field.override_flat=$(DEMO)/raw/IRIS_IMG1_FLAT_20200101T000000_1.fits
	@echo "L2b frame: $(DEMO)/reduced/2027A-P001-001_IRIS_IMG1_SCI_LVL1_0001_cal.fits"

test: install
	$(BIN)/python -m pytest

benchmark: install
	$(BIN)/python benchmarks/bench_imager_l2.py

clean:
	rm -rf $(VENV) $(DEMO)
