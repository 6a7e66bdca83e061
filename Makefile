# Command Center: the two commands that matter are `make run` and `make test`.
# Both work on a machine with only Python 3.11: they create .venv, install requirements/dev.txt
# (the runtime pins of requirements/base.txt plus the development tools, hashed) and start an
# embedded PostgreSQL and Redis under .data/ unless DATABASE_URL / REDIS_URL are set.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
REQUIREMENTS := requirements/base.txt requirements/dev.txt
STAMP := $(VENV)/.installed-$(shell cat $(REQUIREMENTS) | cksum | cut -d' ' -f1)
# Compiled translations (.mo, not in git): rebuilt whenever a .po changes (docs/i18n.md).
MESSAGES_MO := $(patsubst %.po,%.mo,$(wildcard locale/*/LC_MESSAGES/*.po))
# Settings that load without a database or Redis (compilemessages and makemessages need neither).
I18N_ENV := DJANGO_SETTINGS_MODULE=config.settings.test

.PHONY: install run test lint format migrations-check bench clean-data help messages requirements

help:
	@echo "make run    - embedded PostgreSQL + Redis, migrate, seed the demo, web + worker + beat"
	@echo "make test   - the whole pytest suite against real PostgreSQL and Redis"
	@echo "make lint   - ruff check + format check + makemigrations --check"
	@echo "make bench  - the benchmarks in bench/ (see docs/performance.md)"
	@echo "make messages - collect new strings into locale/*.po (needs GNU gettext)"
	@echo "make requirements - recompile requirements/*.txt from *.in (README: Upgrading a pin)"

install: $(STAMP)

# Hash-checked install (every line of dev.txt has hashes); pip itself is pinned there too.
$(STAMP): $(REQUIREMENTS)
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required (found %s)" % sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --require-hashes -r requirements/dev.txt
	$(I18N_ENV) $(VENV)/bin/python manage.py compilemessages -v 0
	@rm -f $(VENV)/.installed-*
	@touch $@

# Pure Python (polib, core/management/commands/compilemessages.py): no msgfmt on the machine.
locale/%.mo: locale/%.po | $(STAMP)
	$(I18N_ENV) $(VENV)/bin/python manage.py compilemessages -v 0

MESSAGES_IGNORE := -i '.venv/*' -i 'bench/*' -i 'scripts/*' -i '*/tests/*' -i 'staticfiles/*' \
	-i 'media/*' -i '.data/*' -i 'conftest.py'
# Developers only: makemessages runs GNU gettext's xgettext/msgmerge. New msgids arrive with
# an empty msgstr; core/tests/test_i18n.py fails until each one is translated.
messages: $(STAMP)
	$(I18N_ENV) $(VENV)/bin/python manage.py makemessages -l zh_Hans --no-obsolete $(MESSAGES_IGNORE)
	$(I18N_ENV) $(VENV)/bin/python manage.py makemessages -d djangojs -l zh_Hans --no-obsolete $(MESSAGES_IGNORE)
	$(I18N_ENV) $(VENV)/bin/python manage.py compilemessages -v 0

run: $(STAMP) $(MESSAGES_MO)
	$(VENV)/bin/python scripts/dev.py run

test: $(STAMP) $(MESSAGES_MO)
	$(VENV)/bin/python scripts/dev.py test $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/python scripts/check_imports.py
	DJANGO_SETTINGS_MODULE=config.settings.test $(VENV)/bin/python manage.py makemigrations --check --dry-run
	DJANGO_SETTINGS_MODULE=config.settings.test $(VENV)/bin/python manage.py spectacular --validate --fail-on-warn --file /dev/null

# Benchmarks need a PostgreSQL on 127.0.0.1:5432 and a Redis (see bench/README.md); each
# creates and reuses its own database (cc_bench, cc_rtbench, cc_rpbench, cc_provbench).
bench: $(STAMP)
	$(VENV)/bin/python bench/http_bench.py --server uvicorn
	$(VENV)/bin/python bench/realtime_bench.py
	$(VENV)/bin/python bench/report_bench.py
	$(VENV)/bin/python bench/provision_bench.py

# Pins: requirements/*.in name what the project needs, pip-compile pins the whole tree with
# hashes (PyPI reachable). Upgrade one: make requirements UPGRADE="-P django".
requirements: $(STAMP)
	$(VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
		--no-emit-index-url --no-emit-find-links $(UPGRADE) -o requirements/base.txt requirements/base.in
	$(VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
		--no-emit-index-url --no-emit-find-links $(UPGRADE) -o requirements/dev.txt requirements/dev.in

clean-data:
	rm -rf .data
