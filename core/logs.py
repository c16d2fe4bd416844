"""Logging filters of the console handler (viewbait.settings.LOGGING)."""

from __future__ import annotations

import logging

from django_guid.context import guid


class RequestId(logging.Filter):
    """Sets `record.request_id`: the request's id (django-guid's X-Request-ID), a job's id in
    the worker (generation.actors), or "-" outside both (start-up, commands)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = guid.get() or "-"
        return True


class No403Traceback(logging.Filter):
    """Drops the traceback Django attaches to "Forbidden (Permission denied): /path" (a 403 is
    an answer, not a fault); the line stays."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) == 403 and record.exc_info:
            record.exc_info = None
            record.exc_text = None
        return True


class BrokerReconnectThrottle(logging.Filter):
    """Dramatiq's consumers each log, every 3 s while their broker cannot be reached, a
    CRITICAL "Consumer encountered a connection error: ..." and an INFO "Restarting consumer in
    3.00 seconds." (six consumers: 12 lines every 3 s, about 2,000 through a ten-minute Redis
    hang, fault test). One of each per REDIS_FAULT_LOG_INTERVAL_SECONDS for all consumers
    (core.redis_faults.LogThrottle), the next saying how many were held back; other lines
    pass."""

    PREFIXES = ("Consumer encountered a connection error", "Restarting consumer in")

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("dramatiq.worker.ConsumerThread"):
            return True
        message = str(record.msg)
        prefix = next((p for p in self.PREFIXES if message.startswith(p)), None)
        if prefix is None:
            return True
        from core.redis_faults import _throttle

        held = _throttle.admit(f"dramatiq-consumer:{prefix}")
        if held is None:
            return False
        if held:
            args = record.args if isinstance(record.args, tuple) else ()
            record.msg = message + " (%d similar lines held back in the last %.0f s)"
            record.args = (*args, held, _throttle.interval)
        return True
