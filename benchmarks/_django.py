"""Shared set-up for benchmark scripts: Django configured against a throwaway test database
(created and destroyed like the test runner does), so benchmarks never touch real data."""

from __future__ import annotations

import os
import statistics
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


@contextmanager
def django_test_db(settings_module: str = "tests.settings") -> Iterator[None]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module)
    os.environ.setdefault("LOCAL_DEV", "1")  # a local run (viewbait.settings refuses else)
    import django

    django.setup()
    from django.test.utils import (
        setup_databases,
        setup_test_environment,
        teardown_databases,
        teardown_test_environment,
    )

    setup_test_environment()
    old = setup_databases(verbosity=0, interactive=False, keepdb=False)
    try:
        yield
    finally:
        teardown_databases(old, verbosity=0)
        teardown_test_environment()


def percentiles(samples_ms: list[float]) -> str:
    """ "p50 X ms, p95 Y ms, p99 Z ms (n=N)" from millisecond samples."""
    cuts = statistics.quantiles(samples_ms, n=100, method="inclusive")
    return (
        f"p50 {cuts[49]:.2f} ms, p95 {cuts[94]:.2f} ms, p99 {cuts[98]:.2f} ms (n={len(samples_ms)})"
    )


def database_label() -> str:
    from django.db import connection

    return f"{connection.vendor}"
