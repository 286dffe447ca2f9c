# socialcrm: `make run` sets everything up and starts the demo; `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test soak bench lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first and pinned: 2.13.0 is the CPU wheel kept on the build machines' disk (CONTRIBUTING.md).
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: install
	$(VENV)/bin/socialcrm demo

test: install
	tools/run_tests.sh

# The fault suite at full length (tests/soak): 20 kill -9 while polling and 20 while posting on SQLite and
# PostgreSQL, a PostgreSQL restart, a full disk, two daemons on one database, hanging feeds. `make test`
# runs a few kills of it.
soak: install
	SOCIALCRM_SOAK=full tools/run_tests.sh tests/soak -p no:cacheprovider -s -q

bench: install
	$(PY) bench/run_all.py

lint: install
	$(VENV)/bin/ruff check socialcrm connectors classifiers tests bench
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy --strict socialcrm connectors

clean:
	rm -rf $(VENV) .demo .pytest_cache
