"""Settings of the web processes benchmarks/http_ratios.py starts: the real settings with the
`/bench/hello` baseline, rate limits off, a throwaway media root and database, and a broker
namespace of their own (flushed after the run, so no benchmark job reaches a worker)."""

from __future__ import annotations

import os

# Plain http on 127.0.0.1 with a random local key, as `make run` (the production defaults would
# redirect to https and refuse the repository's key); inherited by the servers it starts.
os.environ.setdefault("LOCAL_DEV", "1")

from viewbait.settings import *  # noqa: F403

ROOT_URLCONF = "benchmarks.http_urls"
RATELIMIT_ENABLE = False
MEDIA_ROOT = os.environ["BENCH_MEDIA_ROOT"]
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "bench-http.sqlite3")}  # noqa: F405
else:
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": f"test_{DATABASES['default']['NAME']}_{os.environ.get('BENCH_DB_SUFFIX', 'http')}"  # noqa: F405
    }
if os.environ.get("BENCH_DB_NAME"):
    DATABASES["default"]["NAME"] = os.environ["BENCH_DB_NAME"]  # noqa: F405
if DRAMATIQ_BROKER["OPTIONS"]:  # noqa: F405
    DRAMATIQ_BROKER = {
        **DRAMATIQ_BROKER,  # noqa: F405
        "OPTIONS": {**DRAMATIQ_BROKER["OPTIONS"], "namespace": "vb-bench-http"},  # noqa: F405
    }
JOBS_RUN_INLINE = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
