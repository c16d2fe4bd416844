"""django.setup() with Python's cyclic garbage collector paused.

A process start (a gunicorn worker loading viewbait.asgi, `manage.py`) creates some hundreds of
thousands of objects that all stay alive (modules, classes, functions, the URL patterns); the
collector ran about 300 times while it did (two full collections), finding nothing to free: about
0.1 of the 0.6 CPU-seconds a web worker took to load (2026-12-05, 2-core machine). The collector is
off while Django sets up; then gc.freeze() moves what start-up made out of every later collection's
way (they stay alive for the process's life anyway) and the collector is on again, with its usual
thresholds, for whatever the process then does."""

from __future__ import annotations

import gc
from typing import Any

import django

_django_setup = django.setup


def setup(*args: Any, **kwargs: Any) -> None:
    """django.setup(*args, **kwargs) with the collector off, then start-up's objects frozen."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        _django_setup(*args, **kwargs)
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
