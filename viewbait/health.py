"""`/healthz`: liveness, and the state of each dependency for load balancers and operators.

`GET /healthz?live=1` answers `{"status": "ok"}` without touching any dependency (liveness: the
process serves requests); `HEAD` is answered as `GET` (uptime monitors probe with it; it was a
405). `GET /healthz` probes each dependency once and answers

    {"status": "ok" | "unavailable",
     "database": {"status": "ok" | "down", "latency_ms": 1.3, "required": true, ...},
     "redis": {...}, "broker": {...}, "worker": {...}}

with 200, or 503 when a dependency named in settings.HEALTHZ_REQUIRED is down. `error` gives
the exception's class only (messages can name internal hosts). `worker` is a Dramatiq worker's
heartbeat, newer than three sweep intervals (`last_seen_seconds`); not in HEALTHZ_REQUIRED by
default (a stopped worker loses no request), so it shows in the body while the answer stays
200. Redis probes use the clients the app uses (short timeouts, the server's circuit breaker:
core.redis_faults), so a hung Redis costs this check one timeout at most, and nothing while its
breaker is open. A dependency that
runs in-process (no REDIS_URL: LocMem cache, stub broker) reports `"backend": "in-process"`.

`HealthzMiddleware` answers `/healthz` before any middleware reads the Host header: load
balancers and Kubernetes probes send the target's own address as Host (`10.0.3.7:8000`), which
is not in ALLOWED_HOSTS, and Django's host check (CommonMiddleware, SecurityMiddleware's https
redirect) answered their probe 400, so a healthy process was taken out of service.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import dramatiq
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import caches
from django.db import connection
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from core.middleware import SyncAndAsyncMiddleware

Probe = Callable[[], dict[str, Any]]
HEALTHZ_PATH = "/healthz"


def _database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"vendor": connection.vendor}


def _redis() -> dict[str, Any]:
    """PING every Redis-backed cache alias (the general cache and the rate-limit store)."""
    pinged = []
    for alias, conf in settings.CACHES.items():
        if "redis" not in conf["BACKEND"].lower():
            continue
        caches[alias].client.get_client(write=True).ping()  # type: ignore[attr-defined]
        pinged.append(alias)
    return {"caches": pinged} if pinged else {"backend": "in-process"}


def _broker() -> dict[str, Any]:
    """PING the Redis broker, or check that RabbitMQ answers (core.rabbitmq.RabbitmqBroker)."""
    broker = dramatiq.get_broker()
    ping = getattr(broker, "ping", None)  # RabbitMQ
    if ping is not None:
        ping()
        return {"backend": "rabbitmq"}
    client = getattr(broker, "client", None)
    if client is None:
        return {"backend": "in-process"}
    client.ping()
    return {}


class WorkerNotSeen(Exception):
    """No worker process has written its heartbeat lately (or ever, or Redis is down)."""


def _worker() -> dict[str, Any]:
    """The age of the newest worker heartbeat (generation.sweeper.beat, every
    JOB_SWEEP_INTERVAL_SECONDS in each worker process); down past three intervals (+5 s)."""
    from generation.sweeper import WORKER_SEEN_KEY

    if settings.JOBS_RUN_INLINE:
        return {"backend": "in-process"}
    seen = caches["default"].get(WORKER_SEEN_KEY)
    if seen is None:
        raise WorkerNotSeen
    age = time.time() - float(seen)
    if age > 3 * settings.JOB_SWEEP_INTERVAL_SECONDS + 5:
        raise WorkerNotSeen
    return {"last_seen_seconds": round(age, 1)}


PROBES: dict[str, Probe] = {
    "database": _database,
    "redis": _redis,
    "broker": _broker,
    "worker": _worker,
}


def probe(name: str, check: Probe) -> dict[str, Any]:
    """Run one probe: `{"status", "latency_ms", "required", ...}` (`error` when down)."""
    started = time.perf_counter()
    try:
        report: dict[str, Any] = {"status": "ok", **check()}
    except Exception as exc:  # any fault of the dependency is what this reports
        report = {"status": "down", "error": type(exc).__name__}
    report["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    report["required"] = name in settings.HEALTHZ_REQUIRED
    return report


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    if request.GET.get("live"):
        return JsonResponse({"status": "ok"})
    reports = {name: probe(name, check) for name, check in PROBES.items()}
    down = any(r["status"] != "ok" and r["required"] for r in reports.values())
    return JsonResponse(
        {"status": "unavailable" if down else "ok", **reports}, status=503 if down else 200
    )


class HealthzMiddleware(SyncAndAsyncMiddleware):
    """`/healthz` whatever the Host header (see the module docstring); second in MIDDLEWARE,
    after the input guard. Every other path goes on down the chain."""

    def call(self, request: HttpRequest) -> HttpResponseBase:
        if request.path_info == HEALTHZ_PATH:
            return healthz(request)
        return self.get_response(request)

    async def acall(self, request: HttpRequest) -> HttpResponseBase:
        if request.path_info == HEALTHZ_PATH:
            return await sync_to_async(healthz)(request)
        return await self.get_response(request)
