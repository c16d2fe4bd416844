"""viewbait.settings as production reads them, with one change: the fast MD5 password hasher of
the test settings. For server processes whose tests send many log-ins (tests/test_client_address.py:
22 wrong passwords per server, each hashed once even for an unknown user) but check something
other than hashing; the production hasher costs a few hundred milliseconds a log-in."""

from __future__ import annotations

from viewbait.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
