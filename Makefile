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

demo: bootstrap  ## real NetBox + demo data + 5 lab hosts: inventory of dc1-dc3, plan, preflight on the lab
	$(BIN)/pyctl dev netbox up
	$(BIN)/pyctl dev netbox seed
	@$(NETBOX_ENV); for dc in dc1 dc2 dc3; do \
	    echo; echo "=== pyctl inventory $$dc"; $(BIN)/pyctl inventory $$dc || exit $$?; done
	@$(NETBOX_ENV); echo; echo "=== pyctl plan dc2"; $(BIN)/pyctl plan dc2
	@echo; echo "=== pyctl dev lab up 5   (podman hosts booting systemd, registered in NetBox site lab)"
	$(BIN)/pyctl dev lab up 5
	@$(NETBOX_ENV); echo; echo "=== pyctl inventory lab"; $(BIN)/pyctl inventory lab
	@$(NETBOX_ENV); echo; echo "=== pyctl run lab preflight"; $(BIN)/pyctl run lab preflight
	@echo; echo "NetBox: $$($(BIN)/pyctl dev netbox env | head -1 | cut -d= -f2) (token in .dev/netbox/token);" \
	    "stop everything with: make down"

test: bootstrap lint  ## every test: lint, unit, integration (real NetBox, lab hosts), then Molecule
	$(BIN)/python -m pytest tests
	bash scripts/molecule-all.sh

test-fast: bootstrap  ## lint, unit and NetBox integration tests; no lab hosts, no Molecule
	$(BIN)/python -m pytest -m "not lab" tests

lint: bootstrap  ## ruff, mypy --strict, ansible-lint (production profile)
	$(BIN)/ruff check .
	$(BIN)/mypy pyctl
	@# The lint run has no inventory: a strict inventory parse (ansible.cfg) would fail its syntax check.
	ANSIBLE_INVENTORY_UNPARSED_FAILED=false $(BIN)/ansible-lint --profile production -q \
	    roles playbooks .config/molecule tests/integration/lab/playbooks

molecule: bootstrap  ## every role's Molecule scenarios (podman, the lab host image)
	bash scripts/molecule-all.sh

bench: bootstrap  ## benchmarks/inventory.py: pyctl vs nb_inventory on 3,000 devices, and 30,000
	$(BIN)/python benchmarks/inventory.py

down:  ## remove the lab hosts and stop the local NetBox test bed
	-$(BIN)/pyctl dev lab down
	-$(BIN)/pyctl dev netbox down

clean: down  ## remove run directories and local state (keeps the caches in /var/lib/pyctl-dev)
	rm -rf runs .dev
