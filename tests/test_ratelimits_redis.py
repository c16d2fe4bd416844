"""The limiter and the shared cache against a real Redis that goes away and comes back.

A private redis-server (tests/servers.py) on its own port, configured exactly as production
configures REDIS_URL (viewbait.settings.redis_caches): stopping it leaves a closed port.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import pytest
from django.core.cache import caches

from billing.models import Plan
from billing.services import adjust_credits, change_plan, get_balance
from generation.models import Job
from tests.conftest import JSONClient, make_user
from tests.servers import RedisServer
from viewbait.settings import redis_caches

pytestmark = pytest.mark.redis


@pytest.fixture
def on_private_redis(settings: Any, redis_server: RedisServer) -> RedisServer:
    """Both cache aliases on the private server (general cache db 0, counters db 1), limits on."""
    settings.CACHES = redis_caches(
        redis_server.url(0), redis_server.url(1), key_prefix=f"vbt-{uuid.uuid4().hex[:8]}"
    )
    settings.RATELIMIT_ENABLE = True
    return redis_server


def generate(client: JSONClient, title: str) -> Any:
    return client.post_json("/api/generate", {"title": title})


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_redis_down_ai_routes_fail_closed_cheap_pages_work_then_limits_resume(
    on_private_redis: RedisServer, caplog: pytest.LogCaptureFixture, settings: Any
) -> None:
    # Open 1 s from the first fault (a closed port fails at once; a probe while the server is
    # still stopped fails at once too and opens it again).
    settings.REDIS_BREAKER_COOLDOWN_SECONDS = 1.0
    user = make_user("outage@example.com")
    plan = Plan.objects.get(slug="pro")
    plan.generate_cooldown_seconds = 0
    plan.save()
    change_plan(user=user, plan=plan, status="active")
    adjust_credits(user=user, amount=50, idempotency_key="outage-topup", reason="test")
    client = JSONClient()
    client.force_login(user)

    before = generate(client, "Redis is up")
    assert before.status_code == 202, before.content
    assert '"generate";r=119' in before["RateLimit"]
    assert client.get("/studio/").status_code == 200  # fills the shared cache
    balance, jobs = get_balance(user), Job.objects.filter(user=user).count()

    on_private_redis.stop()
    caplog.set_level(logging.WARNING)
    started = time.monotonic()
    down = generate(client, "Redis is down")
    assert time.monotonic() - started < 3  # short socket timeouts: no hanging request
    assert down.status_code == 503
    assert down.json()["code"] == "limiter_unavailable"
    assert down["Retry-After"]
    htmx = client.post(
        "/studio/generate",
        {"title": "Form while down", "idempotency_key": "k"},
        HTTP_HX_REQUEST="true",
    )
    assert htmx.status_code == 503
    assert get_balance(user) == balance  # nothing charged
    assert Job.objects.filter(user=user).count() == jobs  # nothing queued
    assert "refusing generate" in caplog.text

    for page in (
        "/studio/",
        "/studio/gallery",
        "/studio/library/",
        "/api/me",
        "/api/styles",
        "/api/thumbnails",
    ):
        assert client.get(page).status_code == 200, page
    me = client.get("/api/me").json()
    assert (me["plan"], me["credits_remaining"]) == ("pro", balance)

    on_private_redis.start()  # same port, nothing restarted on our side
    # The server's breaker (core.redis_faults) lets the next command probe once its
    # cooldown is over; until then callers fail fast.
    on_private_redis.wait_out_the_breaker()
    after = generate(client, "Redis is back")
    assert after.status_code == 202, after.content
    assert '"generate";r=' in after["RateLimit"]
    assert get_balance(user) == balance - 1


@pytest.mark.django_db
def test_fail_open_route_is_let_through_and_logged(
    on_private_redis: RedisServer, owner_client: JSONClient, caplog: pytest.LogCaptureFixture
) -> None:
    on_private_redis.stop()
    caplog.set_level(logging.ERROR, logger="core.ratelimits")
    response = owner_client.post("/api/faces", {"name": ""})
    assert response.status_code == 400  # the view ran: no 429, no 503
    assert "letting face_upload through" in caplog.text


@pytest.mark.django_db
def test_clearing_the_general_cache_never_resets_a_limit(
    on_private_redis: RedisServer, settings: Any, owner_client: JSONClient
) -> None:
    limits = settings.RATE_LIMITS
    settings.RATE_LIMITS = {
        **limits,
        "face_upload": {**limits["face_upload"], "rates": {"*": "1/h"}},
    }
    owner_client.post("/api/faces", {"name": ""})
    caches["default"].clear()  # django-redis: FLUSHDB of the general cache's database
    assert owner_client.post("/api/faces", {"name": ""}).status_code == 429
