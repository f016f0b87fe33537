# kinstall: `make demo` installs everything and runs kinstall; `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Debian packages: Python's venv for the controller; the lab's podman machines need the rest.
SYSTEM_PACKAGES := python3-venv python3-dev gcc podman runc debootstrap openssh-client openssl rsync
DEMO_INVENTORY ?= inventories/ha-calico

.PHONY: demo test unit lint deps legacy-schemas system-deps bench clean

system-deps:
	@scripts/install-system-deps $(SYSTEM_PACKAGES)
	@# podman defaults that work on this kind of machine (see installer/lab/files/containers.conf)
	@cmp -s installer/lab/files/containers.conf /etc/containers/containers.conf.d/kinstall.conf || \
	  install -D -m 0644 installer/lab/files/containers.conf /etc/containers/containers.conf.d/kinstall.conf

$(BIN)/.installed: pyproject.toml | system-deps
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,lint]'
	@touch $@

deps: $(BIN)/.installed

# The API schemas of the legacy releases (1.15, 1.20, 1.21) that kubernetes-validate dropped: its
# 1.24.0 source from PyPI, checked by sha256; only the tests read them (tests/kube_schemas.py).
LEGACY_SCHEMAS := $(VENV)/share/kubernetes-json-schema-legacy
LEGACY_SDIST := kubernetes-validate-1.24.0.tar.gz
LEGACY_SDIST_SHA256 := c4121729c9e60ed216d8335b0da787141f6f5827e26483c777de3b27f4eb3d98
export KINSTALL_LEGACY_SCHEMAS := $(abspath $(LEGACY_SCHEMAS))

$(LEGACY_SCHEMAS)/.installed: | $(BIN)/.installed
	rm -rf $(LEGACY_SCHEMAS).tmp && mkdir -p $(LEGACY_SCHEMAS).tmp
	$(BIN)/pip download -q --no-deps -d $(LEGACY_SCHEMAS).tmp kubernetes-validate==1.24.0
	echo "$(LEGACY_SDIST_SHA256)  $(LEGACY_SCHEMAS).tmp/$(LEGACY_SDIST)" | sha256sum -c --quiet
	tar -xzf $(LEGACY_SCHEMAS).tmp/$(LEGACY_SDIST) -C $(LEGACY_SCHEMAS).tmp --strip-components=4 --wildcards \
	  '*/kubernetes-json-schema/v1.15.0-local-strict/*' '*/kubernetes-json-schema/v1.20.0-local-strict/*' \
	  '*/kubernetes-json-schema/v1.21.0-local-strict/*'
	rm -rf $(LEGACY_SCHEMAS) && mkdir -p $(LEGACY_SCHEMAS)
	mv $(LEGACY_SCHEMAS).tmp/v1.* $(LEGACY_SCHEMAS)/ && rm -rf $(LEGACY_SCHEMAS).tmp
	@touch $@

legacy-schemas: $(LEGACY_SCHEMAS)/.installed

# Molecule and ansible-runner call Ansible's commands by name: the venv's come first.
export PATH := $(abspath $(BIN)):$(PATH)
LAB ?= kinstall
LAB_INVENTORY := $(HOME)/.local/share/kinstall/labs/$(LAB)/inventory.yml

test: deps legacy-schemas lint
	$(BIN)/pytest

# The lint gate (the field's own tools): ansible-lint's production profile (.ansible-lint) on the
# playbooks, roles and Molecule scenarios, yamllint (Kubespray's rules, .yamllint.yml), ruff (pyproject.toml), shellcheck on the
# shell scripts, and mypy on installer/ at a baseline that only goes down (scripts/mypy-gate).
lint: deps
	ANSIBLE_ROLES_PATH=$(abspath installer/roles) $(BIN)/ansible-lint -q installer/playbooks installer/roles molecule
	$(BIN)/yamllint --strict -c .yamllint.yml .
	$(BIN)/ruff check installer tests bench scripts/kubespray-corpus scripts/kubespray-vocabulary scripts/mypy-gate \
	  scripts/settings-reference scripts/stages-reference
	$(BIN)/shellcheck scripts/install-system-deps .ci/run
	$(BIN)/python scripts/mypy-gate

unit: deps legacy-schemas
	$(BIN)/pytest tests/unit

# The demo boots a 3-node lab and goes as far as kinstall goes today: validate the lab's
# inventory, then `kinstall up` every stage for real (Kubernetes 1.20.2 from the lab's bundle,
# the bridge network), twice: the second run must change nothing. kubectl runs on node1:
# `kinstall lab ssh kinstall node1 -- kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes`.
# `kinstall lab down kinstall` removes the lab.
demo: deps
	$(BIN)/kinstall plugins
	$(BIN)/kinstall validate $(DEMO_INVENTORY)
	$(BIN)/kinstall lab up --name $(LAB) --nodes 3
	$(BIN)/kinstall validate $(LAB_INVENTORY)
	$(BIN)/kinstall up $(LAB_INVENTORY) --yes --check-idempotent
	$(BIN)/kinstall verify $(LAB_INVENTORY)
	$(BIN)/kinstall status $(LAB_INVENTORY)
	$(BIN)/kinstall lab ssh $(LAB) node1 -- kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes -o wide

bench: deps
	$(BIN)/python bench/validate_scale.py
	$(BIN)/python bench/lab_boot.py
	$(BIN)/python bench/cluster_state.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis *.egg-info
