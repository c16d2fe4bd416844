"""Client addresses through the real web process (issue 12, item 2).

The web process is started exactly as the Procfile starts it (gunicorn with a uvicorn worker;
one: how several processes share a limit is tests/test_limits_across_processes.py's) with rate
limits on, a private Redis and `TRUSTED_PROXIES=127.0.0.2`: one process for both tests below (a
start is about a CPU-second), which reach it from two loopback addresses. Every request carries
a different `X-Forwarded-For` and signs in with a wrong password; the product's per-IP log-in
limit (settings.RATE_LIMITS["login"], 20 a minute) counts it.

- From 127.0.0.1, a peer not in `TRUSTED_PROXIES`, the header is anyone's claim: every attempt
  counts against 127.0.0.1 and the 21st in one of the limiter's fixed one-minute windows is
  refused. A server that believed proxy headers itself (Daphne's `--proxy-headers`, uvicorn's
  default trust of 127.0.0.1) would see 22 different clients.
- From 127.0.0.2, our proxy, the header is its word: 22 different clients, none refused.

allauth's own per-IP limits ask its adapter (viewbait.account_adapter), checked below.
"""

from __future__ import annotations

import http.client
import secrets
import urllib.parse
from collections.abc import Iterator

import pytest

from tests.servers import WebServer, database_url, private_redis, running_web_server

pytestmark = [
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

LIMIT = 20  # settings.RATE_LIMITS["login"]: 20 a minute
ATTEMPTS = LIMIT + 2  # past the limit
# django-ratelimit counts in fixed one-minute windows, so a run of attempts that straddles a
# window's end starts counting again: within twice the limit a refusal must have come.
MOST_ATTEMPTS = 2 * (LIMIT + 1)
UNTRUSTED_PEER = "127.0.0.1"  # what uvicorn trusts by default
PROXY = "127.0.0.2"  # the loopback network is all this machine's: a second peer address


@pytest.fixture(scope="module")
def server(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    tmp_path = tmp_path_factory.mktemp("client-address")
    with private_redis(tmp_path) as redis_server:
        env = {
            # The real settings, not the test ones; only the password hasher is the tests' fast
            # one (every attempt hashes a password, and hashing is not what is measured here).
            "DJANGO_SETTINGS_MODULE": "tests.real_settings_fast_hash",
            "DATABASE_URL": database_url(),
            "REDIS_URL": redis_server.url(1),
            "RATELIMIT_ENABLE": "1",
            "TRUSTED_PROXIES": PROXY,
            "DEBUG": "0",
            "LOCAL_DEV": "1",  # plain http on 127.0.0.1, as `make run`
        }
        with running_web_server(env, tmp_path / "web.log") as web:
            yield web


def failed_login(server: WebServer, index: int, peer: str) -> int:
    """Status of one log-in with a wrong password sent from the address `peer`, claiming to come
    from 203.0.113.<index + 1>."""
    csrf = secrets.token_hex(16)  # any well-formed secret works as cookie + form field
    body = urllib.parse.urlencode(
        {
            "login": f"nobody{index}@example.com",
            "password": "wrong password",
            "csrfmiddlewaretoken": csrf,
        }
    )
    connection = http.client.HTTPConnection(
        "127.0.0.1", server.port, timeout=20, source_address=(peer, 0)
    )
    try:
        connection.request(
            "POST",
            "/accounts/login/",
            body=body,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": f"csrftoken={csrf}",
                "X-Forwarded-For": f"203.0.113.{index + 1}",
            },
        )
        response = connection.getresponse()
        response.read()
        return int(response.status)
    finally:
        connection.close()


def test_spoofed_forwarded_for_from_an_untrusted_peer_does_not_change_the_limit_key(
    server: WebServer,
) -> None:
    statuses: list[int] = []
    while len(statuses) < MOST_ATTEMPTS and 429 not in statuses:
        statuses.append(failed_login(server, len(statuses), UNTRUSTED_PEER))
    log = server.output()
    assert set(statuses[:10]) == {200}, (statuses, log)
    assert statuses[-1] == 429, (statuses, log)


def test_forwarded_for_from_a_trusted_proxy_is_the_client(server: WebServer) -> None:
    statuses = [failed_login(server, i, PROXY) for i in range(ATTEMPTS)]
    assert set(statuses) == {200}, (statuses, server.output())


def test_allauth_limits_key_on_the_same_client() -> None:
    from allauth.account.adapter import get_adapter
    from django.test import RequestFactory, override_settings

    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="198.51.100.4")
    with override_settings(TRUSTED_PROXIES=[]):
        assert get_adapter(request).get_client_ip(request) == "10.0.0.5"
    with override_settings(TRUSTED_PROXIES=["10.0.0.0/8"]):
        assert get_adapter(request).get_client_ip(request) == "198.51.100.4"


def test_a_trusted_proxy_entry_that_is_no_address_stops_the_checks(settings, client) -> None:
    """TRUSTED_PROXIES=10.0.0.0/8,192.168.1.300 passed `check` and made every request that reads
    the client's address a 500 (ValueError); it is now a system check error (viewbait.E002)."""
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    from core.ratelimits import client_ip

    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "192.168.1.300"]
    with pytest.raises(ValueError, match=r"192\.168\.1\.300"):  # what a request met
        client_ip(client.get("/healthz?live=1").wsgi_request)
    with pytest.raises(SystemCheckError, match=r"viewbait\.E002.*: 192\.168\.1\.300\."):
        call_command("check")
    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "192.0.2.7", "2001:db8::/32"]
    call_command("check")
