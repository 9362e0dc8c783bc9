#!/bin/sh
# The jobs' stack, installed into an image's Python by liger_iris_drs.def (Apptainer) and Dockerfile: the package
# (its runtime dependencies: the steps' and CRDS jobs' environment, envs/steps.yaml) and matplotlib (the
# quick-looks', envs/quicklook.yaml), every one at its exact pin in constraints.txt; then pip checks that they
# agree. Runs in a copy of the repository's files (this script's parent directory).
set -eu
cd "$(dirname "$0")/.."
pip_install="python -m pip install --no-cache-dir --disable-pip-version-check --constraint constraints.txt"
$pip_install pip setuptools wheel
$pip_install --no-build-isolation . matplotlib
# crds's own command-line tools know the ligeriri observatory (as `make install` does).
python -m liger_iris_crds_hook
python -m pip check
