# Concord: set up, run, test.
#
#   make run    virtualenv + Debian packages, migrate, demo data, serve on :8080
#   make test   the same plus test packages, a throwaway PostgreSQL, the whole suite
#   make lint   ruff check, ruff format --check, mypy
#   make lock   resolve pyproject.toml's dependencies again into requirements.lock (hashes)
#   make bench  the SFU under load: CPU per forwarded stream, RSS, fps, join time
#   make bench-agreements  render and seal time of an agreement, event-loop stalls
#   make bench-vs-janus    the same room load on Concord and on Janus VideoRoom, side by side
#   make bench-closed-loop the statistics and follow-up pages on 50,000 disputes (SQLite)
#   make bench-minutes     the 调解笔录 PDF: time, and event-loop stalls, worker against thread
#   make clean  build artefacts and caches (keeps .venv and var/)
#
# Works on a fresh Debian 12 / Ubuntu machine. As root it installs missing
# Debian packages itself; otherwise it prints the apt-get line to run. Stamp
# files (.venv/.installed, var/.apt-*) make repeated runs skip the installs.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.ONESHELL:
.DELETE_ON_ERROR:
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMPS := var
PYTEST_ARGS ?=

# Debian packages the server needs at run time: HarfBuzz's subsetter (fast
# PDF font subsetting), a CJK font, fontconfig's fc-list (which characters the
# fonts can print), poppler's pdftoppm/pdfsig.
SERVER_APT_PACKAGES := libharfbuzz-subset0 fonts-noto-cjk fontconfig poppler-utils
# ... and what the test suite needs on top: Chromium for the browser tests
# (Playwright drives /usr/bin/chromium), PostgreSQL for the postgres tests,
# nginx for the reverse-proxy test (deploy/nginx/concord.conf in front of Concord),
# coturn for the TURN tests (Debian's turnserver taking `concord turn-config`'s file,
# and relaying media in tests/netlab/), nftables for those tests' firewalled namespaces,
# Firefox ESR for the room test beside Chromium (driven through Marionette), iproute2
# (`ip netns`) for the network-namespace tests.
TEST_APT_PACKAGES := $(SERVER_APT_PACKAGES) chromium postgresql nginx coturn nftables firefox-esr iproute2

APT_SERVER_STAMP := $(STAMPS)/.apt-server
APT_TEST_STAMP := $(STAMPS)/.apt-test
INSTALLED_STAMP := $(VENV)/.installed

export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help run test lint lock clean bench bench-agreements bench-vs-janus bench-closed-loop \
	bench-minutes

help:
	@sed -n 's/^#   //p' $(firstword $(MAKEFILE_LIST))

# Python itself and its venv module (Debian/Ubuntu ship ensurepip separately,
# in python3-venv) are added to the apt list only when they are missing.
python_apt_packages = $$(command -v $(PYTHON) >/dev/null || echo python3; \
	$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || echo python3-venv)

$(APT_SERVER_STAMP): Makefile scripts/ensure-apt.sh
	@bash scripts/ensure-apt.sh $(SERVER_APT_PACKAGES) $(python_apt_packages)
	mkdir -p $(@D)
	touch $@

$(APT_TEST_STAMP): Makefile scripts/ensure-apt.sh
	@bash scripts/ensure-apt.sh $(TEST_APT_PACKAGES) $(python_apt_packages)
	mkdir -p $(@D)
	touch $@

# Re-running venv over a half-made .venv (no pip) completes it.
$(BIN)/pip: | $(APT_SERVER_STAMP)
	$(PYTHON) -m venv $(VENV)

# Every package at the version and hash requirements.lock names (dev and postgres
# extras included), then the project itself without resolving anything again.
$(INSTALLED_STAMP): pyproject.toml requirements.lock | $(BIN)/pip
	$(BIN)/pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

# After a change to pyproject.toml's dependencies: resolve again, with hashes.
lock: | $(BIN)/pip
	$(BIN)/pip install --quiet 'pip-tools>=7.4,<8'
	$(BIN)/pip-compile --quiet --extra dev --extra postgres --generate-hashes --strip-extras \
		--no-emit-index-url --no-emit-find-links --output-file requirements.lock pyproject.toml

run: $(INSTALLED_STAMP) $(APT_SERVER_STAMP)
	@$(BIN)/concord migrate
	$(BIN)/concord demo
	url=$$($(BIN)/python -c 'from server.config import load_config; print(load_config().effective_public_url)')
	echo
	echo "Starting Concord: log in at $$url/login (Ctrl-C stops it)"
	exec $(BIN)/concord serve

# The PostgreSQL cluster is stopped and removed however pytest ends (the EXIT
# trap also runs after Ctrl-C or a TERM from CI). Each run gets its own state
# directory, so two runs at once do not collide; clusters left behind by a run
# that was killed outright (its shell is gone) are removed first.
test: $(INSTALLED_STAMP) $(APT_TEST_STAMP)
	@mkdir -p $(STAMPS)
	for old in $(STAMPS)/pg-test.*; do
		if [[ -f $$old/owner ]] && ! kill -0 "$$(<"$$old/owner")" 2>/dev/null; then
			bash scripts/pg-test.sh stop "$$old"
		fi
	done
	pgstate=$$(mktemp -d $(STAMPS)/pg-test.XXXXXX)
	echo $$$$ >"$$pgstate/owner"
	trap 'bash scripts/pg-test.sh stop "$$pgstate"' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	CONCORD_TEST_POSTGRES_URL=$$(bash scripts/pg-test.sh start "$$pgstate")
	export CONCORD_TEST_POSTGRES_URL
	echo "PostgreSQL for the tests: $$CONCORD_TEST_POSTGRES_URL"
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(INSTALLED_STAMP)
	@status=0
	$(BIN)/ruff check . || status=1
	$(BIN)/ruff format --check . || status=1
	$(BIN)/mypy || status=1
	exit $$status

# Room benchmark (bench/README.md): its own server process, loopback only,
# about 2.5 minutes with the defaults. E.g. make bench BENCH_ARGS='--n 8 --json'
bench: $(INSTALLED_STAMP)
	@$(BIN)/python -m bench.room $(BENCH_ARGS)

# Concord and Janus VideoRoom under the same load (bench/README.md); installs Janus
# (Debian package) and builds its loopback shim when missing; leaves nothing running.
bench-vs-janus: $(INSTALLED_STAMP)
	@$(BIN)/python -m bench.room --vs janus $(BENCH_ARGS)

# Agreement benchmark (bench/README.md): 20 agreements rendered and sealed in the worker.
bench-agreements: $(INSTALLED_STAMP) $(APT_SERVER_STAMP)
	@$(BIN)/python -m bench.agreements $(BENCH_ARGS)

# Closed-loop benchmark (bench/README.md): 50,000 disputes and 200,000 timeline entries
# generated once into var/bench-closed-loop.db, then the pages timed over HTTP.
# E.g. make bench-closed-loop BENCH_ARGS='--runs 50 --regenerate'
bench-closed-loop: $(INSTALLED_STAMP)
	@$(BIN)/python -m bench.closed_loop $(BENCH_ARGS)

bench-minutes: $(INSTALLED_STAMP)
	@$(BIN)/python -m bench.minutes_paper $(BENCH_ARGS)

clean:
	rm -rf build dist .pytest_cache .mypy_cache .ruff_cache *.egg-info
	find . -path ./$(VENV) -prune -o -path ./var -prune -o \
		-type d -name __pycache__ -exec rm -rf {} +
