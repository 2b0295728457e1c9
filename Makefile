# Two commands for a newcomer: `make run` (set up, import archive/, serve) and `make test`.
# The first of the supported Pythons (3.11 to 3.13) that runs: a pyenv shim can exist for a
# version that is not active, so `command -v` alone is not enough.
PYTHON ?= $(shell for p in python3.11 python3.12 python3.13 python3; do \
	$$p -c 'import sys; assert (3, 11) <= sys.version_info < (3, 14)' 2>/dev/null \
	&& { command -v $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup run test test-postgres bench lint lock clean

setup: $(STAMP)

# Every package at the version and hash requirements.lock names (made by `make lock` from
# pyproject.toml's pins). The project itself runs from this folder and is not installed;
# tests/test_dependencies.py fails if the lock and pyproject.toml disagree.
$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip check
	touch $(STAMP)

run: setup
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py import_notices archive/
	@echo "Noticeboard is serving on http://$(HOST):$(PORT)/ (Ctrl-C stops it)"
	$(BIN)/python manage.py runserver --noreload $(HOST):$(PORT)

test: setup
	$(BIN)/python -m pytest

# Not part of `make test`: figures, not assertions (issues 5, 13). `make bench N=20000`, or
# `make bench N="10000 100000 300000"` for one table with a column per N;
# DATABASE_URL=postgres://… benches PostgreSQL (a scratch database it creates and drops).
bench: setup
	$(BIN)/python bench/run.py $(N)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# After changing a pin in pyproject.toml: one lock for every supported Python and platform,
# resolved by uv, installed by plain pip (a newcomer needs no extra tool).
lock: setup
	$(BIN)/python -m pip install --quiet uv==0.13.8
	$(BIN)/uv pip compile pyproject.toml --extra test --universal --generate-hashes \
		--python-version 3.11 --quiet -o requirements.lock

clean:
	rm -rf $(VENV) staticfiles db.sqlite3 db.sqlite3-wal db.sqlite3-shm test-artifacts
