"""Test settings: the real settings (DATABASE_URL, REDIS_URL as CI sets them) with a stub Dramatiq
broker that tests drain themselves, fast password hashing and a throwaway media root."""

from __future__ import annotations

import os
import tempfile
import uuid

from viewbait.settings import *  # noqa: F403
from viewbait.settings import CACHES, DRAMATIQ_BROKER

DRAMATIQ_BROKER = {**DRAMATIQ_BROKER, "BROKER": "dramatiq.brokers.stub.StubBroker", "OPTIONS": {}}
JOBS_RUN_INLINE = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = tempfile.mkdtemp(prefix="viewbait-test-media-")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
IMAGE_PROVIDER = "local"
GEMINI_API_KEY = ""

# Rate limits are off unless a test turns them on (tests/test_ratelimits.py). Each run gets its own
# cache key prefix, so counters and cached rows left on a shared Redis by an earlier run never
# leak in; the id goes into the environment so server processes a test starts share it.
RATELIMIT_ENABLE = False
TEST_RUN_ID = os.environ.setdefault("VIEWBAIT_TEST_RUN_ID", uuid.uuid4().hex[:10])
CACHES = {
    alias: {**conf, "KEY_PREFIX": f"{conf.get('KEY_PREFIX', 'vb')}-t{TEST_RUN_ID}"}
    for alias, conf in CACHES.items()
}

# Each test run gets its own SQLite test database file, so concurrent runs on one machine never
# share (and corrupt) one; server processes a test starts are pointed at it explicitly.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-db-{TEST_RUN_ID}.sqlite3")}  # noqa: F405
