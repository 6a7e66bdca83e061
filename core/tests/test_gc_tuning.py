"""The web entry points tune the garbage collector once the application is loaded."""

import gc
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.gc_tuning import gc_tune_for_serving

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def gc_state():
    # Importing config.asgi (the displays tests do) tunes this test process too: each test
    # starts unfrozen and leaves the collector as it found it.
    threshold, was_frozen = gc.get_threshold(), gc.get_freeze_count() > 0
    gc.unfreeze()
    yield
    gc.unfreeze()
    if was_frozen:
        gc.freeze()
    gc.set_threshold(*threshold)


def test_freezes_the_loaded_application_and_raises_the_young_threshold(settings, gc_state):
    settings.GC_GEN0_THRESHOLD = 12_345
    _gen0, gen1, gen2 = gc.get_threshold()
    gc_tune_for_serving()
    assert gc.get_threshold() == (12_345, gen1, gen2)
    assert gc.get_freeze_count() > 10_000  # Django, DRF and the project's modules


def test_zero_keeps_python_defaults(settings, gc_state):
    settings.GC_GEN0_THRESHOLD = 0
    before = gc.get_threshold()
    gc_tune_for_serving()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


@pytest.mark.parametrize("entry_point", ["config.wsgi", "config.asgi"])
def test_server_entry_points_apply_it(entry_point):
    probe = f"import gc, {entry_point}; print(gc.get_threshold()[0], gc.get_freeze_count() > 0)"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    env.pop("GC_GEN0_THRESHOLD", None)
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["10000", "True"]
