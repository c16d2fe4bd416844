"""Test settings: the real settings (DATABASE_URL, REDIS_URL as CI sets them) with a stub Dramatiq
broker that tests drain themselves, fast password hashing and a throwaway media root."""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

# Set before the settings are read, and inherited by every server process a test starts:
# static files unhashed (no collectstatic needed; viewbait.settings STORAGES), and a connection
# pool larger than the 20 threads + 1 of tests/test_concurrency.py, whose request threads each
# hold a connection while they wait at a barrier (a pool of 10 deadlocked there).
os.environ.setdefault("STATIC_MANIFEST", "0")
os.environ.setdefault("DB_POOL_MAX_SIZE", "32")
# A `make run` of this checkout may be up: tests and the servers they start never take its
# embedded Redis (viewbait.settings.running_embedded_redis).
os.environ.setdefault("VIEWBAIT_SHARE_RUNNING_REDIS", "0")
# A studio page without a websocket (pytest-django's live_server has none; tests/test_browser_tools.py's
# page that refuses it) fetches its unfinished job cards every STUDIO_POLL_MS instead: 250 ms, not
# the production 4000, so a finished job shows in a fraction of a second rather than up to 4 s
# later. The page still learns only by polling (what those tests cover), just sooner.
os.environ.setdefault("STUDIO_POLL_MS", "250")

# pytest-xdist workers (PYTEST_XDIST_WORKER = gw0, gw1, ...) each get Redis databases of their own
# (a stride of REDIS_DBS_PER_WORKER from REDIS_URL's: the cache, rate-limit and any other database
# viewbait.settings derives from it), because tests clear caches with FLUSHDB. pytest-django gives
# each worker its own test database (test_<name>_gw0, ...). The original URL is kept in the
# environment, so server processes a test starts (which inherit both variables) land on the same
# databases instead of shifting again; a REDIS_URL a test set itself is left alone.
REDIS_DBS_PER_WORKER = 4
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
_BASE_REDIS_URL = os.environ.setdefault(
    "VIEWBAIT_TEST_BASE_REDIS_URL", os.environ.get("REDIS_URL", "")
)
if (
    XDIST_WORKER
    and _BASE_REDIS_URL.startswith("redis://")
    and os.environ.get("REDIS_URL") == _BASE_REDIS_URL  # not a private server a test started
):
    _parts = urlsplit(_BASE_REDIS_URL)
    _base_db = int(_parts.path.strip("/") or 0)
    _worker = int(XDIST_WORKER.removeprefix("gw"))
    if _worker >= 16 // REDIS_DBS_PER_WORKER:  # Redis has 16 databases: a fifth worker would wrap
        raise RuntimeError(  # onto the first one's and FLUSHDB its cache mid-test
            f"tests/settings.py: at most {16 // REDIS_DBS_PER_WORKER} xdist workers share one "
            f"Redis (REDIS_URL); this is {XDIST_WORKER}. Run with -n {16 // REDIS_DBS_PER_WORKER}."
        )
    _db = (_base_db + REDIS_DBS_PER_WORKER * _worker) % 16
    os.environ["REDIS_URL"] = urlunsplit(_parts._replace(path=f"/{_db}"))

from viewbait.settings import *  # noqa: E402, F403
from viewbait.settings import (  # noqa: E402
    CACHES,
    CONTENT_SECURITY_POLICY,
    DRAMATIQ_BROKER,
    REDIS_URL,
)

DRAMATIQ_BROKER = {**DRAMATIQ_BROKER, "BROKER": "dramatiq.brokers.stub.StubBroker", "OPTIONS": {}}
JOBS_RUN_INLINE = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = Path(tempfile.mkdtemp(prefix="viewbait-test-media-"))
STORAGES = {
    "default": {"BACKEND": "studio.media.PrivateFileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# WhiteNoise looks static files up through the finders when they are asked for (its development
# mode) instead of listing all of them when the middleware is built: Django's test client builds
# the middleware chain for every client, and the listing took 13 ms of each (180 files).
WHITENOISE_AUTOREFRESH = True
IMAGE_PROVIDER = "local"
# The test client and the servers tests start speak plain http on 127.0.0.1, as `make run` does
# (LOCAL_DEV): a key of the tests' own, no Secure cookies, no https redirect or HSTS. The
# production defaults are tested in tests/test_safe_defaults.py with viewbait.settings.
SECRET_KEY = "viewbait-tests-only-key-" + "k7Qz9w2Lr5Xv8Nc1Bt4Yp6Hs3Jd0Fg"
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SECURE_SSL_REDIRECT = False
SECURE_HSTS_SECONDS = 0
CONTENT_SECURITY_POLICY = {
    **CONTENT_SECURITY_POLICY,
    "DIRECTIVES": {**CONTENT_SECURITY_POLICY["DIRECTIVES"], "upgrade-insecure-requests": False},
}
GEMINI_API_KEY = ""
# Without REDIS_URL (README: `make test` on in-process stand-ins), the stand-ins are what the
# tests mean to run on, not production missing its Redis (viewbait.E004, which would stop every
# test that loads viewbait.asgi); tests/test_safe_defaults.py checks E004 with it heard.
if not REDIS_URL:
    SILENCED_SYSTEM_CHECKS = ["viewbait.E004"]

# Rate limits are off unless a test turns them on (tests/test_ratelimits.py). Each run gets its own
# cache key prefix, so counters and cached rows left on a shared Redis by an earlier run never
# leak in; the id goes into the environment so server processes a test starts share it.
RATELIMIT_ENABLE = False
TEST_RUN_ID = os.environ.setdefault("VIEWBAIT_TEST_RUN_ID", uuid.uuid4().hex[:10]) + XDIST_WORKER
CACHES = {
    alias: {**conf, "KEY_PREFIX": f"{conf.get('KEY_PREFIX', 'vb')}-t{TEST_RUN_ID}"}
    for alias, conf in CACHES.items()
}

# Each test run gets its own SQLite test database file, so concurrent runs on one machine never
# share (and corrupt) one; server processes a test starts are pointed at it explicitly.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-db-{TEST_RUN_ID}.sqlite3")}  # noqa: F405
