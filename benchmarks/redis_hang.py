"""What a hung Redis costs: a private redis-server paused with SIGSTOP (it accepts connections and
never answers), the app's clients configured as production configures them
(viewbait.settings.redis_caches, redis_channel_layers; core.redis_faults.RedisBroker).

Prints, per client, the first call (which waits out one timeout and opens the server's breaker)
and p50/max of the next calls (which fail at once), then the same general-cache reads without the
breaker (plain redis-py pools: every call waits out the timeout), and how long 50 progress
publications keep a worker thread.

    .venv/bin/python benchmarks/redis_hang.py [--calls 20]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("VIEWBAIT_VAR_DIR", tempfile.mkdtemp(prefix="viewbait-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "viewbait.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.core.cache import caches  # noqa: E402
from django.test import override_settings  # noqa: E402

from core import redis_faults  # noqa: E402
from tests.servers import RedisServer, redis_binary  # noqa: E402
from viewbait.settings import redis_caches, redis_channel_layers  # noqa: E402


def timings(call: Callable[[], Any], n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        with contextlib.suppress(Exception):  # a fault is the expected answer here
            call()
        out.append((time.perf_counter() - started) * 1000)
    return out


def report(name: str, ms: list[float]) -> None:
    rest = ms[1:]
    print(
        f"{name:<44} first {ms[0]:8.1f} ms   next {len(rest)}: "
        f"p50 {statistics.median(rest):7.2f} ms  max {max(rest):7.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    binary = redis_binary()
    if binary is None:
        sys.exit("no redis-server binary")
    server = RedisServer(binary, Path(tempfile.mkdtemp(prefix="viewbait-bench-redis-")))
    server.start()
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    try:
        with override_settings(
            CACHES=redis_caches(server.url(2), server.url(1), key_prefix=prefix),
            CHANNEL_LAYERS=redis_channel_layers(server.url(0)),
        ):
            general, limits = caches["default"], caches["ratelimit"]
            broker = redis_faults.RedisBroker(url=server.url(0), namespace=prefix)
            general.set("warm", 1)
            limits.set("warm", 1)
            broker.client.ping()
            server.pause()
            print(
                f"redis-server paused (SIGSTOP); client timeout {settings.REDIS_TIMEOUT_SECONDS} s"
            )
            report(
                "general cache get (fails open)", timings(lambda: general.get("warm"), args.calls)
            )
            redis_faults.reset_breakers()
            report(
                "rate-limit store incr (raises)", timings(lambda: limits.incr("warm"), args.calls)
            )
            redis_faults.reset_breakers()
            report("broker ping (raises)", timings(broker.client.ping, args.calls))

            redis_faults.reset_breakers()
            from generation.progress import _publisher, flush_publications, publication_layer

            layer = publication_layer()
            started = time.perf_counter()
            for n in range(50):
                _publisher.submit(layer, "bench", {"type": "job.updated", "n": n})
            queued = (time.perf_counter() - started) * 1000
            flushed = flush_publications(10)
            drained = (time.perf_counter() - started) * 1000
            print(
                f"{'50 progress publications (worker thread)':<44} {queued:8.2f} ms to queue; "
                f"publisher drained them in {drained:.0f} ms ({'ok' if flushed else 'timeout'})"
            )
        # Another database number: django-redis keeps one pool per URL for the process.
        plain = redis_caches(server.url(3), server.url(1), key_prefix=prefix)
        plain["default"]["OPTIONS"]["CONNECTION_POOL_CLASS"] = "redis.connection.ConnectionPool"
        plain["default"]["BACKEND"] = "django_redis.cache.RedisCache"
        plain["default"]["OPTIONS"]["IGNORE_EXCEPTIONS"] = True
        with override_settings(CACHES=plain):
            n = max(3, args.calls // 4)
            report(
                "without the breaker: general cache get",
                timings(lambda: caches["default"].get("warm"), n),
            )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
