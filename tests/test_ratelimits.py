"""Rate limits (viewbait.ratelimits, settings.RATE_LIMITS): boundaries per route and plan, the
weighted generate budget and cooldown, replays that count against nothing, client IPs behind
proxies, and the answers a client can act on (429 + Retry-After + RateLimit headers).

Counters live on the "ratelimit" cache alias: the real Redis when REDIS_URL is set (CI), else
this process's memory. Each test gets its own counter prefix.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import AnonymousUser
from django.core.cache import caches
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory, override_settings

from billing.models import Plan
from billing.services import adjust_credits, get_balance
from generation.models import Job
from tests.conftest import make_user, set_plan
from viewbait import ratelimits

pytestmark = pytest.mark.django_db

PLANS = ["free", "starter", "advanced", "pro"]
AI_AND_CREDIT_ROUTES = [
    "generate",
    "edit",
    "heatmap",
    "analyse_video",
    "suggest_concepts",
    "channel_consistency",
    "enhance_title",
    "analyse_style",
    "analyse_palette",
]
FAIL_CLOSED_ROUTES = [*AI_AND_CREDIT_ROUTES, "account_export", "account_delete"]
ISSUE_ROUTES = [
    *AI_AND_CREDIT_ROUTES,
    "face_upload",
    "signup",
    "login",
    "account_export",
    "account_delete",
    "comments",
]
COUNTED_ROUTES = sorted(set(django_settings.RATE_LIMITS) - {"generate"})


@pytest.fixture(autouse=True)
def _lift_job_cap(request: pytest.FixtureRequest) -> None:
    """These tests measure rate limits; the concurrent-job cap must not refuse first."""
    for name in ("transactional_db", "db"):
        if name in request.fixturenames:
            request.getfixturevalue(name)
            request.getfixturevalue("no_job_cap")
            return


@pytest.fixture
def limits_on(settings: Any) -> Any:
    """Limits on, with counters no other test shares."""
    settings.RATELIMIT_ENABLE = True
    settings.RATELIMIT_CACHE_PREFIX = f"rl:{uuid.uuid4().hex}:"
    return settings


@pytest.fixture
def limits(limits_on: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Limits on, on a stopped clock: windows are fixed, and one that ended halfway through a
    test would reset its counters."""
    stopped = time.time()
    monkeypatch.setattr(time, "time", lambda: stopped)
    return limits_on


def set_rates(settings: Any, route: str, rates: dict[str, str]) -> None:
    row = settings.RATE_LIMITS[route]
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, route: {**row, "rates": rates}}


def topped_up(user: Any, credits: int = 200) -> Any:
    adjust_credits(user=user, amount=credits, idempotency_key=f"topup:{user.pk}", reason="test")
    return user


def no_cooldown(slug: str) -> None:
    Plan.objects.filter(slug=slug).update(generate_cooldown_seconds=0)


def limit_items(response: Any) -> dict[str, dict[str, str]]:
    """Parse `"name";k=v;k=v, ...` (RateLimit or RateLimit-Policy) into {name: {k: v}}."""
    items: dict[str, dict[str, str]] = {}
    for item in response["RateLimit"].split(", ") + response["RateLimit-Policy"].split(", "):
        name, *params = item.split(";")
        fields = items.setdefault(name.strip('"'), {})
        fields.update(param.split("=", 1) for param in params)
    return items


def generate(client: Any, key: str | None = None, **body: Any) -> Any:
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post_json("/api/generate", {"title": "Rate me", **body}, **headers)


# --- the table ---------------------------------------------------------------------------------


def test_table_names_every_route_with_a_rate_for_every_plan() -> None:
    for route in ISSUE_ROUTES:
        policy = ratelimits.policy(route)
        for plan in [*PLANS, None]:
            assert policy.rate_for(plan).limit >= 1
        assert policy.fail_closed == (route in FAIL_CLOSED_ROUTES)
    assert ratelimits.policy("signup").per == ratelimits.policy("login").per == "ip"
    # The largest valid request (4K x 4 variations = 16 units) fits every plan's empty budget, so a
    # 429 on generate is always worth retrying.
    generate_policy = ratelimits.policy("generate")
    assert all(generate_policy.rate_for(plan).limit >= 16 for plan in [*PLANS, None])


def test_parse_rate() -> None:
    assert ratelimits.parse_rate("20/m") == ratelimits.Rate(20, 60)
    assert ratelimits.parse_rate("5/10m") == ratelimits.Rate(5, 600)
    assert ratelimits.parse_rate("3/h") == ratelimits.Rate(3, 3600)
    with pytest.raises(Exception, match="count/window"):
        ratelimits.parse_rate("twenty a minute")


# --- every route: the Nth request passes, the N+1th gets 429 with the headers -------------------


def _view(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


@pytest.mark.parametrize("route", COUNTED_ROUTES)
def test_boundary_per_route_and_plan(limits: Any, route: str) -> None:
    view = ratelimits.limit(route)(_view)
    policy = ratelimits.policy(route)
    callers: list[tuple[str | None, Any]] = (
        [(None, None)]
        if policy.per == "ip"
        else [(slug, make_user(f"{route}-{slug}@example.com")) for slug in PLANS]
    )
    for index, (slug, user) in enumerate(callers):
        if user is not None:
            set_plan(user, slug)
        rate = policy.rate_for(slug)
        request_factory = RequestFactory(REMOTE_ADDR=f"192.0.2.{index + 1}")

        def post(user: Any = user, factory: RequestFactory = request_factory) -> HttpResponse:
            request = factory.post("/anything", HTTP_ACCEPT="application/json")
            request.user = user if user is not None else AnonymousUser()
            return view(request)

        for n in range(1, rate.limit + 1):
            response = post()
            assert response.status_code == 200, (route, slug, n)
        assert response["RateLimit"] == f'"{route}";r=0;t={response["RateLimit"].split("t=")[1]}'
        assert response["RateLimit-Policy"] == f'"{route}";q={rate.limit};w={rate.window}'
        refused = post()
        assert refused.status_code == 429, (route, slug)
        assert json.loads(refused.content)["code"] == "rate_limited"
        retry_after = int(refused["Retry-After"])
        assert 1 <= retry_after <= rate.window
        items = limit_items(refused)
        assert items[route]["r"] == "0"
        assert items[route]["q"] == str(rate.limit)
        assert int(items[route]["t"]) <= retry_after


def test_limits_are_off_in_tests_unless_enabled(owner_client: Any) -> None:
    responses = [generate(owner_client, key=f"k{n}") for n in range(3)]
    assert [r.status_code for r in responses] == [202, 202, 202]  # no 12 s Free cooldown
    assert "RateLimit" not in responses[0]


# --- generate: weighted budget, cooldown, replays, order of checks ------------------------------


def test_generate_budget_boundary(limits: Any, owner: Any, owner_client: Any) -> None:
    no_cooldown("free")
    topped_up(owner)
    budget = ratelimits.policy("generate").rate_for("free").limit
    for n in range(1, budget + 1):
        response = generate(owner_client)
        assert response.status_code == 202, (n, response.content)
        assert limit_items(response)["generate"]["r"] == str(budget - n)
    balance = get_balance(owner)
    refused = generate(owner_client)
    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited"
    assert int(refused["Retry-After"]) >= 1
    assert refused["RateLimit-Policy"] == (
        f'"generate";q={budget};w=60;viewbait-unit="image-units"'
    )
    assert limit_items(refused)["generate"]["r"] == "0"
    assert get_balance(owner) == balance  # refused: nothing charged
    assert Job.objects.filter(user=owner).count() == budget


def test_weighted_cost_a_4k_request_consumes_4(limits: Any, owner: Any, owner_client: Any) -> None:
    set_plan(owner, "pro")
    no_cooldown("pro")
    topped_up(owner)
    set_rates(limits, "generate", {"pro": "10/m", "*": "16/m"})
    first = generate(owner_client, resolution="4K")
    assert first.status_code == 202, first.content
    assert limit_items(first)["generate"]["r"] == "6"
    assert limit_items(generate(owner_client, resolution="4K"))["generate"]["r"] == "2"
    refused = generate(owner_client, resolution="4K")
    assert refused.status_code == 429
    assert limit_items(refused)["generate"]["r"] == "2"  # the refused 4 units were not taken
    assert "needs 4" in refused.json()["error"]
    fits = generate(owner_client, resolution="2K")
    assert fits.status_code == 202
    assert limit_items(fits)["generate"]["r"] == "0"
    set_rates(limits, "generate", {"pro": "40/m", "*": "16/m"})
    four_variations = generate(owner_client, resolution="1K", variations=4)
    assert limit_items(four_variations)["generate"]["r"] == str(40 - 4)


def test_cooldown_is_enforced_on_the_server(limits: Any, owner: Any, owner_client: Any) -> None:
    cooldown = Plan.objects.get(slug="free").generate_cooldown_seconds
    assert cooldown == 12  # PRODUCT.md / billing migration 0002
    first = generate(owner_client)
    assert first.status_code == 202
    assert limit_items(first)["generate-cooldown"] == {"r": "0", "t": "12", "q": "1", "w": "12"}
    balance = get_balance(owner)
    second = generate(owner_client)
    assert second.status_code == 429
    assert second.json()["code"] == "rate_limited"
    assert 1 <= int(second["Retry-After"]) <= cooldown
    assert "every 12 s" in second.json()["error"]
    assert get_balance(owner) == balance
    assert Job.objects.filter(user=owner).count() == 1


def test_cooldown_ends(limits_on: Any, owner: Any, owner_client: Any) -> None:
    Plan.objects.filter(slug="free").update(generate_cooldown_seconds=1)
    assert generate(owner_client).status_code == 202
    assert generate(owner_client).status_code == 429
    time.sleep(1.1)
    assert generate(owner_client).status_code == 202


def test_idempotent_replay_counts_against_no_limit(
    limits: Any, owner: Any, owner_client: Any
) -> None:
    set_rates(limits, "generate", {"*": "1/m"})  # and Free's 12 s cooldown
    first = generate(owner_client, key="same-click")
    assert first.status_code == 202
    for _ in range(3):
        replay = generate(owner_client, key="same-click")
        assert replay.status_code == 202, replay.content
        assert replay["Idempotent-Replayed"] == "true"
        assert replay.json()["id"] == first.json()["id"]
        assert "RateLimit" not in replay
    assert generate(owner_client, key="another-click").status_code == 429
    assert get_balance(owner) == 9


def test_authentication_comes_before_the_limit(limits: Any, anon_client: Any) -> None:
    for _ in range(3):
        assert generate(anon_client).status_code == 401


def test_htmx_generate_gets_a_readable_fragment(limits: Any, owner: Any, owner_client: Any) -> None:
    form = {"title": "From the form", "resolution": "1K", "aspect_ratio": "16:9", "variations": "1"}
    first = owner_client.post(
        "/studio/generate", {**form, "idempotency_key": "a"}, HTTP_HX_REQUEST="true"
    )
    assert first.status_code == 202
    assert "generate-cooldown" in first["RateLimit"]
    second = owner_client.post(
        "/studio/generate", {**form, "idempotency_key": "b"}, HTTP_HX_REQUEST="true"
    )
    assert second.status_code == 429
    assert second["HX-Retarget"] == "#generate-errors"
    assert int(second["Retry-After"]) >= 1
    html = second.content.decode()
    assert 'class="error"' in html
    assert re.search(r"Try again in \d+ s", html)


# --- other routes that exist: face upload, library forms, sign-up and log-in --------------------


def test_face_upload_api_limit(limits: Any, owner_client: Any) -> None:
    set_rates(limits, "face_upload", {"*": "2/h"})
    for _ in range(3):
        assert owner_client.get("/api/faces").status_code == 200  # listing is not counted
    for _ in range(2):
        response = owner_client.post("/api/faces", {"name": ""})
        assert response.status_code == 400  # counted even when refused later
    refused = owner_client.post("/api/faces", {"name": ""})
    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited"
    assert refused["Retry-After"]


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/studio/library/faces", "face_upload"),
        ("/studio/library/styles", "library_create"),
        ("/studio/library/palettes", "library_create"),
    ],
)
def test_library_forms_are_limited(limits: Any, owner_client: Any, path: str, route: str) -> None:
    set_rates(limits, route, {"*": "1/h"})
    assert owner_client.post(path, {}).status_code == 400
    refused = owner_client.post(path, {}, HTTP_ACCEPT="text/html")
    assert refused.status_code == 429
    assert "Slow down" in refused.content.decode()  # a page for a browser
    assert refused["Retry-After"]


def test_login_and_signup_are_limited_per_client_ip(limits: Any, anon_client: Any) -> None:
    set_rates(limits, "login", {"*": "2/m"})
    set_rates(limits, "signup", {"*": "1/h"})
    attempt = {"login": "nobody@example.com", "password": "wrong"}

    def login(ip: str, **extra: Any) -> Any:
        return anon_client.post("/accounts/login/", attempt, REMOTE_ADDR=ip, **extra)

    assert [login("198.51.100.7").status_code for _ in range(3)] == [200, 200, 429]
    # A forged X-Forwarded-For from a client that is not a trusted proxy changes nothing.
    assert login("198.51.100.7", HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 429
    assert login("198.51.100.8").status_code == 200
    assert anon_client.get("/accounts/login/", REMOTE_ADDR="198.51.100.7").status_code == 200

    signup = {"email": "a@example.com", "password1": "x", "password2": "y"}
    first = anon_client.post("/accounts/signup/", signup, REMOTE_ADDR="198.51.100.7")
    assert first.status_code == 200
    refused = anon_client.post("/accounts/signup/", signup, REMOTE_ADDR="198.51.100.7")
    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited"


def test_trusted_proxy_forwards_the_client_ip(limits: Any, anon_client: Any) -> None:
    limits.TRUSTED_PROXIES = ["10.0.0.0/8"]
    set_rates(limits, "login", {"*": "1/m"})
    attempt = {"login": "nobody@example.com", "password": "wrong"}

    def via_proxy(client_ip: str) -> int:
        return anon_client.post(
            "/accounts/login/",
            attempt,
            REMOTE_ADDR="10.1.2.3",
            HTTP_X_FORWARDED_FOR=f"6.6.6.6, {client_ip}",  # the left entry is the client's claim
        ).status_code

    assert via_proxy("203.0.113.1") == 200
    assert via_proxy("203.0.113.1") == 429
    assert via_proxy("203.0.113.2") == 200  # another client behind the same proxy


def test_client_ip() -> None:
    factory = RequestFactory()

    def ip(remote: str, forwarded: str | None = None, trusted: list[str] | None = None) -> str:
        extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
        request = factory.get("/", REMOTE_ADDR=remote, **extra)
        with override_settings(TRUSTED_PROXIES=trusted or []):
            return ratelimits.client_ip(request)

    assert ip("203.0.113.5", "1.1.1.1") == "203.0.113.5"
    assert ip("10.0.0.2", "1.1.1.1, 203.0.113.5", ["10.0.0.0/8"]) == "203.0.113.5"
    # Two trusted hops (load balancer, then an internal proxy): skip both.
    assert ip("10.0.0.2", "203.0.113.5, 10.0.0.9", ["10.0.0.0/8"]) == "203.0.113.5"
    assert ip("10.0.0.2", "garbage, 203.0.113.5", ["10.0.0.0/8"]) == "203.0.113.5"
    assert ip("10.0.0.2", "", ["10.0.0.0/8"]) == "10.0.0.2"
    request = factory.get("/", REMOTE_ADDR="2001:db8:1:2:3:4:5:6")
    request.user = AnonymousUser()
    assert ratelimits.caller_key(request, "user") == "ip:2001:db8:1:2::"


def test_clearing_the_general_cache_keeps_limits(limits: Any, owner_client: Any) -> None:
    if "redis" in django_settings.CACHES["default"]["BACKEND"]:
        pytest.skip("FLUSHDB on a shared Redis; tests/test_ratelimits_redis.py checks it privately")
    set_rates(limits, "face_upload", {"*": "1/h"})
    owner_client.post("/api/faces", {"name": ""})
    caches["default"].clear()
    assert owner_client.post("/api/faces", {"name": ""}).status_code == 429
