# pyctl: `make demo` sets up and runs the main job on this machine; `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
NETBOX_ENV = eval "$$($(BIN)/pyctl dev netbox env)"

.PHONY: help bootstrap demo test test-fast lint molecule bench down clean

help:  ## this list
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

bootstrap:  ## install Debian packages, podman for the lab, and the Python 3.12 venv (idempotent)
	@bash scripts/bootstrap.sh --lab

demo: bootstrap  ## real NetBox + demo data + 6 lab hosts: plan, artifacts, rollout, smoke; prints the HTML report
	$(BIN)/pyctl dev netbox up
	$(BIN)/pyctl dev netbox seed
	@$(NETBOX_ENV); echo; echo "=== pyctl inventory dc2"; $(BIN)/pyctl inventory dc2
	@$(NETBOX_ENV); echo; echo "=== pyctl plan dc2"; $(BIN)/pyctl plan dc2
	@echo; echo "=== pyctl dev lab up 6   (podman hosts booting systemd, registered in NetBox site lab, the lab mirror)"
	$(BIN)/pyctl dev lab up 6
	@$(NETBOX_ENV); echo; echo "=== pyctl plan lab"; $(BIN)/pyctl plan lab
	@$(NETBOX_ENV); echo; echo "=== pyctl artifacts lab --check"; $(BIN)/pyctl artifacts lab --check >/dev/null
	@$(NETBOX_ENV); echo; echo "=== pyctl rollout lab --yes"; $(BIN)/pyctl rollout lab --yes
	@$(NETBOX_ENV); echo; echo "=== pyctl smoke lab"; $(BIN)/pyctl smoke lab
	@echo; echo "NetBox: $$($(BIN)/pyctl dev netbox env | head -1 | cut -d= -f2) (token in .dev/netbox/token);" \
	    "stop everything with: make down"
	@echo "smoke report (HTML): $$(ls -t $(CURDIR)/runs/lab/*-smoke/report.html | head -1)"

test: bootstrap  ## every test, phase by phase with their times: lint, unit, Molecule, integration (real NetBox, lab hosts)
	bash scripts/test.sh

test-fast: bootstrap  ## lint, unit and NetBox integration tests; no lab hosts, no Molecule
	$(BIN)/python -m pytest -m "not lab" tests

lint: bootstrap  ## ruff, mypy --strict, the import layers (import-linter), ansible-lint (production profile)
	$(BIN)/ruff check .
	$(BIN)/mypy pyctl
	$(BIN)/lint-imports
	@# The lint run has no inventory: a strict inventory parse (ansible.cfg) would fail its syntax check.
	ANSIBLE_INVENTORY_UNPARSED_FAILED=false $(BIN)/ansible-lint --profile production -q \
	    roles playbooks .config/molecule tests/integration/lab/playbooks

molecule: bootstrap  ## every role's Molecule scenarios (podman, the lab host image)
	bash scripts/molecule-all.sh

bench: bootstrap  ## benchmarks: inventory (vs nb_inventory), rollout (vs Ansible defaults), smoke (vs an Ansible play)
	$(BIN)/python benchmarks/inventory.py
	$(BIN)/python benchmarks/rollout.py
	$(BIN)/python benchmarks/smoke.py

down:  ## remove the lab hosts and stop the local NetBox test bed
	-$(BIN)/pyctl dev lab down
	-$(BIN)/pyctl dev netbox down

clean: down  ## remove run directories and local state (keeps the caches in /var/lib/pyctl-dev)
	rm -rf runs .dev
