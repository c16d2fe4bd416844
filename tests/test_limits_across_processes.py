"""Proof that a limit holds across server processes.

Two web processes (started as the Procfile does) on different ports share this test's database
(PostgreSQL in CI) and one Redis (REDIS_URL in CI, else a private redis-server). Thirty generate requests alternate between
them against a limit of 20 units an hour: exactly 20 are accepted and 10 refused with 429, and
both processes refuse some, though each saw only 15 requests: with counters of their own (the
earlier design, each process's memory) neither could refuse any.
"""

from __future__ import annotations

import json
import os
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from billing.models import CreditAccount, Plan
from billing.services import adjust_credits, change_plan
from core import ratelimits
from generation.models import Job
from tests.conftest import make_user
from tests.servers import WebServer, database_url, private_redis

pytestmark = [
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

REQUESTS = 30
LIMIT, WINDOW = 20, 3600  # tests/server_settings.py: LOADTEST_GENERATE_RATE


@contextmanager
def shared_redis(tmp_path: Path) -> Iterator[str]:
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    with private_redis(tmp_path) as server:
        yield server.url(0)


@contextmanager
def two_servers(tmp_path: Path, env: dict[str, str]) -> Iterator[list[WebServer]]:
    servers: list[WebServer] = []
    try:
        for name in ("a", "b"):
            servers.append(WebServer(env, tmp_path / f"web-{name}.log"))
        for server in servers:
            server.wait_until_up()
        yield servers
    finally:
        for server in servers:
            server.stop()


def post_generate(server: WebServer, session: str, title: str) -> tuple[int, dict[str, Any], str]:
    csrf = secrets.token_hex(16)  # any well-formed secret works as cookie + header pair
    request = urllib.request.Request(
        f"{server.base_url}/api/generate",
        data=json.dumps({"title": title}).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Cookie": f"sessionid={session}; csrftoken={csrf}",
            "X-CSRFToken": csrf,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return (
                response.status,
                json.loads(response.read()),
                response.headers.get("Retry-After", ""),
            )
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}"), error.headers.get("Retry-After", "")


def alternate(servers: list[WebServer], session: str, label: str) -> list[tuple[int, str, str]]:
    """(status, code, server) for each of REQUESTS requests sent to the servers in turn."""
    results = []
    for n in range(REQUESTS):
        server = servers[n % 2]
        status, body, retry_after = post_generate(server, session, f"{label} {n}")
        if status == 429:
            assert int(retry_after) >= 1
        assert status in (202, 429), (status, body, server.output())
        results.append((status, body.get("code", ""), server.base_url))
    return results


def wait_for_a_fresh_window(caller: str) -> None:
    """Windows are fixed: make sure this one does not reset in the middle of the 30 requests."""
    now = time.time()
    ends = ratelimits.window_end(caller, WINDOW, now)
    if ends - now < 20:  # one start in 180: an hour-long window rarely makes the test wait
        time.sleep(ends + 1.1 - now)  # the window still counts during its last second


def balance_in_database(user: Any) -> int:
    # Not get_balance: without REDIS_URL this process's cache is its own memory, which the
    # servers' invalidations never reach.
    return CreditAccount.objects.get(user=user).balance


def test_two_processes_share_one_limit(tmp_path: Path) -> None:
    plan = Plan.objects.create(
        slug="loadtest",
        name="Load test",
        price_cents=0,
        monthly_credits=0,
        resolutions=["1K"],
        aspect_ratios=["16:9"],
        max_variations=1,
        generate_cooldown_seconds=0,
        max_concurrent_jobs=1000,  # the rate limit, not the job cap, is under test
        sort_order=99,
    )
    user = make_user("load@example.com")
    change_plan(user=user, plan=plan, status="active")
    adjust_credits(user=user, amount=100, idempotency_key="load-topup", reason="test")
    client = Client()
    client.force_login(user)
    session = client.cookies["sessionid"].value
    balance = balance_in_database(user)

    with shared_redis(tmp_path) as redis_url:
        env = {
            "DJANGO_SETTINGS_MODULE": "tests.server_settings",
            "DATABASE_URL": database_url(),
            "REDIS_URL": redis_url,
            "VIEWBAIT_VAR_DIR": str(tmp_path),
        }
        with two_servers(tmp_path, env) as servers:
            wait_for_a_fresh_window(f"user:{user.pk}")
            shared = alternate(servers, session, "Shared")

    statuses = [status for status, _, _ in shared]
    assert statuses.count(202) == LIMIT
    assert statuses.count(429) == REQUESTS - LIMIT
    assert statuses[:LIMIT] == [202] * LIMIT  # the 21st request, on either process, is refused
    assert {code for status, code, _ in shared if status == 429} == {"rate_limited"}
    # Each process saw 15 requests, under the limit of 20, yet each refused some: they count
    # together (counting alone, neither would reach 20).
    servers_seen = {url for _, _, url in shared}
    assert len(servers_seen) == 2
    assert all(
        any(status == 429 and url == server for status, _, url in shared) for server in servers_seen
    )
    assert Job.objects.filter(user=user).count() == LIMIT
    assert balance_in_database(user) == balance - LIMIT
