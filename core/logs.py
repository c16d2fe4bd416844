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
