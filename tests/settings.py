"""Test settings: the real settings (DATABASE_URL, REDIS_URL as CI sets them) with a stub Dramatiq
broker that tests drain themselves, fast password hashing and a throwaway media root."""

from __future__ import annotations

import tempfile

from viewbait.settings import *  # noqa: F403
from viewbait.settings import DRAMATIQ_BROKER

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
