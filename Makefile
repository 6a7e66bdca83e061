# Command Center: the two commands that matter are `make run` and `make test`.
# Both work on a machine with only Python 3.11: they create .venv, install requirements.txt and
# start an embedded PostgreSQL and Redis under .data/ unless DATABASE_URL / REDIS_URL are set.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
STAMP := $(VENV)/.installed-$(shell cksum requirements.txt | cut -d' ' -f1)

.PHONY: run test lint format migrations-check bench clean-data help

help:
	@echo "make run    - embedded PostgreSQL + Redis, migrate, seed the demo, web + worker + beat"
	@echo "make test   - the whole pytest suite against real PostgreSQL and Redis"
	@echo "make lint   - ruff check + format check + makemigrations --check"
	@echo "make bench  - the benchmarks in bench/ (see docs/performance.md)"

$(STAMP): requirements.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required (found %s)" % sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --upgrade --quiet pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

run: $(STAMP)
	$(VENV)/bin/python scripts/dev.py run

test: $(STAMP)
	$(VENV)/bin/python scripts/dev.py test $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DJANGO_SETTINGS_MODULE=config.settings.test $(VENV)/bin/python manage.py makemigrations --check --dry-run
	DJANGO_SETTINGS_MODULE=config.settings.test $(VENV)/bin/python manage.py spectacular --validate --fail-on-warn --file /dev/null

# Benchmarks need a PostgreSQL on 127.0.0.1:5432 and a Redis (see bench/README.md); each
# creates and reuses its own database (cc_bench, cc_rtbench, cc_rpbench, cc_provbench).
bench: $(STAMP)
	$(VENV)/bin/python bench/http_bench.py --server uvicorn
	$(VENV)/bin/python bench/realtime_bench.py
	$(VENV)/bin/python bench/report_bench.py
	$(VENV)/bin/python bench/provision_bench.py

clean-data:
	rm -rf .data
