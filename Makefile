# provision: the README's commands. `make help` lists the targets.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
ENV ?= dev
PYTEST_ARGS ?=
BENCH_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help setup lint format test unit integration bench up plan down down-all output serve local-start local-stop clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

setup: ## Install everything (Debian packages, .venv, Pulumi CLI); idempotent
	@bash tools/setup.sh

# mypy's incremental cache lives outside the clone, like pip's and Go's: a fresh clone
# checks in 3 s instead of 18 s. mypy re-checks every file whose content differs.
MYPY_CACHE_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/provision/mypy

lint: setup ## ruff (lint and format check) and mypy on provisioner/
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --cache-dir "$(MYPY_CACHE_DIR)"

format: setup ## Apply ruff's formatting and safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Three workers on two cores (the tests wait on SSH, the local cloud and timers as much as
# they compute), each running a whole test module at a time: a module's tests share one
# environment, in order. tests/conftest.py hands out the longest modules first.
PARALLEL := -n 3 --dist loadfile --no-loadscope-reorder

test: setup lint ## Setup, lint, then unit and integration tests on the real parts
	$(BIN)/pytest tests/integration tests/unit $(PARALLEL) $(PYTEST_ARGS)

unit: setup ## Unit tests only (fast, pure)
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

integration: setup ## Integration tests only (Pulumi CLI, moto server, namespace hosts, sshd)
	$(BIN)/pytest tests/integration $(PARALLEL) $(PYTEST_ARGS)

up: setup ## Bring ENV (default dev) up on its cloud, after the environments it uses
	$(BIN)/provision up $(ENV) --with-deps --yes

plan: setup ## Show what `make up` would change in ENV
	$(BIN)/provision plan $(ENV)

down: setup ## Delete every resource of ENV (not of the environments it uses)
	$(BIN)/provision down $(ENV) --yes

down-all: setup ## Delete every environment's resources, each after those that use it
	$(BIN)/provision down --all --yes

output: setup ## Print ENV's outputs
	$(BIN)/provision output $(ENV)

serve: setup ## Serve the web view of environments and runs on http://127.0.0.1:8080/
	$(BIN)/provision serve

bench: setup ## Run the benchmarks PF1-PF11 on the local cloud; table + bench/results.json (~40 min)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

local-start: setup ## Start the local cloud (moto on 127.0.0.1)
	$(BIN)/provision local start

local-stop: ## Stop the local cloud
	@if [ -x $(BIN)/provision ]; then $(BIN)/provision local stop; fi

clean: local-stop ## Remove the state folder (.provision); keeps .venv and .tools
	rm -rf .provision
