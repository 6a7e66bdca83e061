"""Moved to ``testing.factories`` (the builders shared by every app's tests). Kept only for
``bench/report_bench.py``, which imports these names from here; tests import
``testing.factories``."""

from testing.factories import NamedCatalog as Catalog
from testing.factories import TaskSpec, at, big_day
from testing.factories import catalog_named as make_catalog
from testing.factories import tasks_bulk as make_tasks

__all__ = ["Catalog", "TaskSpec", "at", "big_day", "make_catalog", "make_tasks"]
