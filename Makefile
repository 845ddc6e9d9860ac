# The two commands (README): `make repro` runs the whole pipeline on the default profile,
# `make test` runs the test suite. Both build the environment first if it is missing.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PROFILE ?= default
PYTEST_ARGS ?=

# Offline dataset mirror: used when ../shared/data exists (this workplace, CI); elsewhere the
# data stage downloads with torchvision. An explicit PAPERLIB_DATA_MIRROR always wins.
MIRROR_DEFAULT := $(if $(wildcard ../shared/data/README.md),$(abspath ../shared/data),)
export PAPERLIB_DATA_MIRROR ?= $(MIRROR_DEFAULT)
export DVC_NO_ANALYTICS := 1
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: help setup repro test test-fast push pull status lock clean-env lab

help:
	@echo "make repro [PROFILE=smoke|default|paper]  build .venv if missing, then dvc repro"
	@echo "make test                                 the test suite (end-to-end smoke pipeline included)"
	@echo "make test-fast                            the test suite without the end-to-end pipeline tests"
	@echo "make setup                                build .venv from the pinned requirements"
	@echo "make push | make pull                     send/fetch models and results to/from the DVC remote"
	@echo "make lab                                  open the executed notebooks (results/notebooks) in JupyterLab"

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

repro: setup
	$(BIN)/python -m paperlib.profiles $(PROFILE)
	$(BIN)/dvc repro

status: setup
	$(BIN)/dvc status

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

# JupyterLab on this machine only (127.0.0.1), opened on the executed notebooks of the last `dvc repro`.
lab: setup
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.root_dir=results/notebooks

push: setup
	$(BIN)/dvc push

pull: setup
	$(BIN)/dvc pull

# Re-pin requirements.txt from the current .venv (after changing a pin in pyproject.toml).
lock: setup
	( sed -n '1,3p' requirements.txt; $(BIN)/python -m pip freeze --exclude-editable | grep -v '^paperlib' ) > requirements.txt.new
	mv requirements.txt.new requirements.txt

clean-env:
	rm -rf $(VENV)
