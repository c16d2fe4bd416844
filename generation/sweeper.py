"""The job sweeper: a thread in every Dramatiq worker process that re-sends jobs whose message
may be lost (`generation.services.sweep_jobs`) every JOB_SWEEP_INTERVAL_SECONDS.

Installed as Dramatiq middleware (settings.DRAMATIQ_BROKER["MIDDLEWARE"]), so it runs wherever
workers run and needs no scheduler of its own. One sweep at a time across all processes (a lock
key on the shared cache); a sweep is idempotent anyway.

Each worker process also writes a heartbeat (`WORKER_SEEN_KEY`: Unix seconds) at boot and on
every tick, which `/healthz` reports as `worker`: with every worker stopped, jobs only queue up
and nothing else tells an operator.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import dramatiq
from django.conf import settings
from django.core.cache import cache
from django.db import close_old_connections, connection

from core.db_faults import log_fault

logger = logging.getLogger(__name__)
WORKER_SEEN_KEY = "jobs:worker-seen"


def beat() -> None:
    """Record that a worker process is alive now (the general cache: dropped while Redis is
    down, never raises)."""
    cache.set(WORKER_SEEN_KEY, time.time(), timeout=None)


def sweep_once() -> int:
    """One sweep unless another process is sweeping; returns jobs re-sent."""
    from generation.services import sweep_jobs

    interval = settings.JOB_SWEEP_INTERVAL_SECONDS
    if cache.add("jobs:sweep-lock", 1, max(1, int(interval * 0.8))) is False:
        return 0
    close_old_connections()
    try:
        return sweep_jobs()
    finally:
        connection.close()


class JobSweeper(dramatiq.Middleware):
    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def after_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        self._stop.clear()
        beat()
        self._thread = threading.Thread(target=self._loop, name="job-sweeper", daemon=True)
        self._thread.start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(settings.JOB_SWEEP_INTERVAL_SECONDS):
            try:
                beat()
                sweep_once()
            except Exception as exc:
                log_fault(logger, "sweep", exc, "job sweep failed")
