"""viewbait.settings as production reads them, with one change: new passwords are hashed with the
tests' fast MD5 hasher (the production hashers still check existing hashes). For server processes
whose tests sign up or log in (tests/test_client_address.py sends 22 wrong passwords per server,
each hashed even for an unknown user; the browser tests' Stack signs creators up and in) but
check something other than hashing: PBKDF2 at Django's iterations costs about half a second of CPU
a password."""

from __future__ import annotations

from django.conf import global_settings

from viewbait.settings import *  # noqa: F403

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",
    *global_settings.PASSWORD_HASHERS,
]
