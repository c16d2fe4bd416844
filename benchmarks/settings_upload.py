"""Settings of benchmarks/upload_memory.py's own process: those of the web processes it starts
(benchmarks.settings_http) with a throwaway database name of its own."""

from __future__ import annotations

from benchmarks.settings_http import *  # noqa: F403

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "bench-upload.sqlite3")}  # noqa: F405
else:
    DATABASES["default"]["TEST"] = {"NAME": "test_viewbait_upload_memory"}  # noqa: F405
