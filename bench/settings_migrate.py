"""Settings for bench/migrate_bench.py: the project's local settings plus the bench-only tenant
app ``bench.migbench`` (its 0002 is the migration applied to the whole fleet)."""

import os

from config.settings.local import *  # noqa: F403
from config.settings.local import INSTALLED_APPS, TENANT_APPS

TENANT_APPS = [*TENANT_APPS, "bench.migbench"]
INSTALLED_APPS = [*INSTALLED_APPS, "bench.migbench"]
# django-tenants' multiprocessing executor (the comparison): as many processes as the bench's
# --jobs.
TENANT_MULTIPROCESSING_MAX_PROCESSES = int(os.environ.get("BENCH_MIGRATE_PROCESSES", "4"))
