"""Benchmark settings: the real settings (real Redis broker when REDIS_URL is set) with a
throwaway media root and rate limits off, so the accept path is measured as deployed."""

from __future__ import annotations

import tempfile

from viewbait.settings import *  # noqa: F403

MEDIA_ROOT = tempfile.mkdtemp(prefix="viewbait-bench-media-")
# Its own broker namespace, flushed after the run, so no benchmark message reaches a worker.
DRAMATIQ_BROKER = {
    **DRAMATIQ_BROKER,  # noqa: F405
    "OPTIONS": {**DRAMATIQ_BROKER["OPTIONS"], "namespace": "vb-bench"}  # noqa: F405
    if DRAMATIQ_BROKER["OPTIONS"]  # noqa: F405
    else {},
}
JOBS_RUN_INLINE = False
RATELIMIT_ENABLE = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
