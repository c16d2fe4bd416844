"""viewbait.settings as production reads them, with two changes: new passwords are hashed with the
tests' fast MD5 hasher (the production hashers still check existing hashes). For server processes
whose tests sign up or log in (tests/test_client_address.py sends 22 wrong passwords per server,
each hashed even for an unknown user; the browser tests' Stack signs creators up and in) but
check something other than hashing: PBKDF2 at Django's iterations costs about half a second of CPU
a password. And their cache keys carry the test run's id (below)."""

from __future__ import annotations

import os

from django.conf import global_settings

from viewbait.settings import *  # noqa: F403

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",
    *global_settings.PASSWORD_HASHERS,
]

# Their cache keys carry the test run's id (tests/settings.py sets VIEWBAIT_TEST_RUN_ID and the
# servers inherit it). A kept test database is flushed with its sequences reset at the start of
# each run, so user and thumbnail ids repeat from run to run; on a shared Redis, rows an earlier
# run's servers cached for those ids (an account summary, a gallery page) would otherwise show.
_RUN_ID = os.environ.get("VIEWBAIT_TEST_RUN_ID")
if _RUN_ID:
    CACHES = {
        alias: {**conf, "KEY_PREFIX": f"{conf.get('KEY_PREFIX', 'vb')}-s{_RUN_ID}"}
        for alias, conf in CACHES.items()  # noqa: F405
    }
