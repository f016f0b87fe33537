# kinstall: `make demo` installs everything and runs kinstall; `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Debian packages: Python's venv for the controller; the lab's podman machines need the rest.
SYSTEM_PACKAGES := python3-venv python3-dev gcc podman runc debootstrap openssh-client openssl rsync
DEMO_INVENTORY ?= inventories/ha-calico

.PHONY: demo test unit deps system-deps bench clean

system-deps:
	@scripts/install-system-deps $(SYSTEM_PACKAGES)

$(BIN)/.installed: pyproject.toml | system-deps
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $@

deps: $(BIN)/.installed

test: deps
	$(BIN)/pytest

unit: deps
	$(BIN)/pytest tests/unit

# Until the lab lands, the demo stops after validate and plan (nothing is contacted).
demo: deps
	$(BIN)/kinstall plugins
	$(BIN)/kinstall validate $(DEMO_INVENTORY)
	$(BIN)/kinstall plan $(DEMO_INVENTORY)

bench: deps
	$(BIN)/python bench/validate_scale.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis *.egg-info
