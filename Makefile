# kukey: two commands on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean install lock
# The lock files pin every third-party package with its hashes (pip-compile --generate-hashes):
#   requirements/runtime.txt   what the production package needs (the Docker image installs exactly this)
#   requirements/dev.txt       runtime + the sandbox's dependencies + the dev tools (make install uses it)
# kukey and kukey-sandbox themselves come from this tree. `make lock` re-resolves after a pyproject change.
COMPILE := $(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
	--no-emit-find-links --no-emit-trusted-host

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml sandbox/pyproject.toml requirements/dev.txt
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e ./sandbox -e .
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/kukey demo

# Three workers on CI's two cores: much of the suite waits (leases running out, Slack's retry waits, kill -9
# and restarts), so a third worker fills the idle CPU (9:05 -> 7:20 on 2 cores, 2026-12-02).
test: $(STAMP)
	$(BIN)/python -m pytest -q -n 3 tests

lint: $(STAMP)
	$(BIN)/ruff check bot sandbox tests bench
	$(BIN)/mypy
	$(BIN)/vulture bot lint/vulture_whitelist.py --min-confidence 60 --exclude bot/storage/migrations

bench: $(STAMP)
	$(BIN)/python -m bench

lock: $(STAMP)
	$(COMPILE) -o requirements/runtime.txt pyproject.toml
	$(COMPILE) --extra dev -o requirements/dev.txt pyproject.toml requirements/sandbox.in

clean:
	rm -rf $(VENV) build dist *.egg-info
