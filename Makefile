# pyctl: `make demo` sets up and runs the main job on this machine; `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
NETBOX_ENV = eval "$$($(BIN)/pyctl dev netbox env)"

.PHONY: help bootstrap demo test test-fast lint unit integration bench down clean

help:  ## this list
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

bootstrap:  ## install Debian packages and the Python 3.12 venv (idempotent)
	@bash scripts/bootstrap.sh

demo: bootstrap  ## real NetBox + demo data, then inventory and plan of dc1-dc3
	$(BIN)/pyctl dev netbox up
	$(BIN)/pyctl dev netbox seed
	@$(NETBOX_ENV); for dc in dc1 dc2 dc3; do \
	    echo; echo "=== pyctl inventory $$dc"; $(BIN)/pyctl inventory $$dc || exit $$?; done
	@$(NETBOX_ENV); echo; echo "=== pyctl plan dc2"; $(BIN)/pyctl plan dc2
	@echo; echo "NetBox: $$($(BIN)/pyctl dev netbox env | head -1 | cut -d= -f2) (token in .dev/netbox/token);" \
	    "stop it with: make down"

test: bootstrap lint  ## every test: lint, unit, integration against the real NetBox
	$(BIN)/python -m pytest tests

test-fast: bootstrap  ## unit tests only (no servers)
	$(BIN)/python -m pytest tests/unit

lint: bootstrap  ## ruff, mypy --strict, ansible-lint (production profile)
	$(BIN)/ruff check .
	$(BIN)/mypy pyctl
	@if ls roles/*/tasks >/dev/null 2>&1; then $(BIN)/ansible-lint --profile production -q; fi

bench: bootstrap  ## benchmarks/inventory.py: pyctl vs nb_inventory on 3,000 devices, and 30,000
	$(BIN)/python benchmarks/inventory.py

down:  ## stop the local NetBox test bed
	-$(BIN)/pyctl dev netbox down

clean: down  ## remove run directories and local state (keeps the caches in /var/lib/pyctl-dev)
	rm -rf runs .dev
