"""Rate limits (core.ratelimits, settings.RATE_LIMITS): boundaries per route and plan, the
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
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import AnonymousUser
from django.core.cache import caches
from django.test import RequestFactory, override_settings

from billing.models import Plan
from billing.services import adjust_credits, get_balance
from core import ratelimits
from generation.models import Job
from tests.conftest import set_plan
from tests.factories.accounts import UserFactory
from tests.factories.studio import ThumbnailFactory

pytestmark = pytest.mark.django_db

PLANS = ["free", "starter", "advanced", "pro"]
JOB_ROUTES = [
    "generate",
    "edit",
    "heatmap",
    "enhance_title",
    "analyse_style",
    "analyse_palette",
    "analyse_video",
    "suggest_concepts",
    "channel_consistency",
]
FAIL_CLOSED_ROUTES = JOB_ROUTES
ISSUE_ROUTES = [*JOB_ROUTES, "face_upload", "library_create", "checkout", "signup", "login"]
ISSUE_ROUTES_PER_IP = {"signup", "login"}


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
    """Limits on, with the weighted limiter's clock (core.ratelimits.clock) stopped: its windows
    are fixed, and one that ended halfway through a test would reset its counters. Only the
    limiter's clock stops; time.time runs on for every other thread. (Routes counted by `check`
    use django-ratelimit's own clock; tests of those set hour-long windows instead.)"""
    stopped = time.time()
    monkeypatch.setattr(ratelimits, "clock", lambda: stopped)
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
    assert sorted(django_settings.RATE_LIMITS) == sorted(ISSUE_ROUTES)
    for route in ISSUE_ROUTES:
        policy = ratelimits.policy(route)
        for plan in [*PLANS, None]:
            assert policy.rate_for(plan).limit >= 1
        assert policy.fail_closed == (route in FAIL_CLOSED_ROUTES)
        assert policy.per == ("ip" if route in ISSUE_ROUTES_PER_IP else "user")
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


def routes_views_count() -> dict[str, list[str]]:
    """{route: [what counts it]} for every rate-limit route a URL can reach: views wrapped in
    `ratelimits.limit` (their `rate_limit_routes`), and the job types behind POST /api/jobs and
    the studio's forms (their `rate_limit_route`)."""
    from django.urls import URLPattern, URLResolver, get_resolver, resolve

    from generation.registry import job_types

    found: dict[str, list[str]] = {}

    def walk(patterns: list[Any], prefix: str) -> None:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern):
                for route in getattr(entry.callback, "rate_limit_routes", ()):
                    found.setdefault(route, []).append(prefix + str(entry.pattern))

    walk(get_resolver().url_patterns, "/")
    assert resolve("/api/jobs").func is not None  # where job types are submitted
    for job_type in job_types().values():
        found.setdefault(job_type.rate_limit_route, []).append(f"job type {job_type.name}")
    return found


def test_every_rate_limits_row_is_counted_by_a_view() -> None:
    """A row no view counts is a limit nobody enforces (rows were once written for features not
    built); a route a view counts without a row fails at request time."""
    counted = routes_views_count()
    assert sorted(django_settings.RATE_LIMITS) == sorted(counted), counted


def test_the_readme_calls_not_built_only_routes_nothing_counts() -> None:
    """README's rate-limit table says which of its rows are for routes not built yet; a route a
    view counts (analyse video and suggest concepts, once built) is not one of them."""
    from pathlib import Path

    readme = (Path(django_settings.BASE_DIR) / "README.md").read_text()
    note = re.search(r"routes not built yet \(([^)]*)\)", " ".join(readme.split()))
    assert note is not None
    named = {
        words.strip().replace(" ", "_")
        for part in re.split(r",| and ", note.group(1))
        for words in part.split("/")
    }
    assert named, note.group(1)
    assert not named & set(routes_views_count()), named


def test_a_row_for_a_route_nothing_counts_is_caught(settings: Any) -> None:
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "comments": {"fail": "open", "rates": {}}}
    assert "comments" not in routes_views_count()


# --- every route: the Nth request to the real URL passes, the N+1th gets 429 with the headers ---

# Per-plan rates for the boundary test, each plan's different so the caller's plan is what picks
# it; hour-long windows, so no window ends during the test (django-ratelimit reads time.time).
BOUNDARY_RATES = {"free": "2/h", "starter": "3/h", "advanced": "4/h", "pro": "5/h", "*": "2/h"}


def job(type_name: str, **fields: Any) -> Callable[[Any, Any], Any]:
    def send(client: Any, thumbnail: Any) -> Any:
        data = {k: (thumbnail.pk if v is THUMBNAIL else v) for k, v in fields.items()}
        if data.get("thumbnail_ids") is THUMBNAILS:
            data["thumbnail_ids"] = [thumbnail.pk]
        return client.post_json("/api/jobs", {"type": type_name, "input": data})

    return send


THUMBNAIL, THUMBNAILS = object(), object()
ATTEMPT = {"login": "nobody@example.com", "password": "wrong"}
SIGNUP = {"email": "a@example.com", "password1": "x", "password2": "y"}
JSON = {"HTTP_ACCEPT": "application/json"}
# One real request per route (generate has its own tests below: weighted budget and cooldown).
ROUTE_REQUESTS: dict[str, Callable[[Any, Any], Any]] = {
    "face_upload": lambda client, _: client.post("/api/faces", {"name": ""}, **JSON),
    "library_create": lambda client, _: client.post("/studio/library/styles", {}, **JSON),
    "login": lambda client, _: client.post("/accounts/login/", ATTEMPT, **JSON),
    # Without Stripe configured the view says so and redirects; the request is still counted.
    "checkout": lambda client, _: client.post("/billing/portal", **JSON),
    "signup": lambda client, _: client.post("/accounts/signup/", SIGNUP, **JSON),
    "edit": job(
        "edit_thumbnail", thumbnail_id=THUMBNAIL, instruction="", changes={"new_seed": True}
    ),
    "heatmap": job("thumbnail_check", thumbnail_id=THUMBNAIL),
    "enhance_title": job("enhance_title", title="my trip to the mountains"),
    "analyse_style": job("analyse_style", thumbnail_ids=THUMBNAILS),
    "analyse_palette": job("analyse_palette", thumbnail_id=THUMBNAIL),
    "analyse_video": job("analyse_video", video_url="https://youtu.be/dQw4w9WgXcQ"),
    "suggest_concepts": job("suggest_concepts", video_url="dQw4w9WgXcQ"),
    # Counted before the plan gate (403 below Pro) and the missing YouTube key (400).
    "channel_consistency": job("channel_consistency", thumbnail_id=THUMBNAIL),
}


def test_the_boundary_test_covers_every_row() -> None:
    assert sorted([*ROUTE_REQUESTS, "generate"]) == sorted(django_settings.RATE_LIMITS)


@pytest.mark.parametrize("route", sorted(ROUTE_REQUESTS))
def test_boundary_per_route_and_plan(limits: Any, route: str) -> None:
    from tests.conftest import JSONClient

    set_rates(limits, route, BOUNDARY_RATES)
    policy = ratelimits.policy(route)
    slugs: list[str | None] = [None] if policy.per == "ip" else list(PLANS)
    for slug in slugs:
        client = JSONClient()
        thumbnail = None
        if slug is not None:
            user = UserFactory(plan=slug, credits=200)
            client.force_login(user)
            thumbnail = ThumbnailFactory(owner=user, stored=True)
        rate = policy.rate_for(slug)
        for n in range(1, rate.limit + 1):
            response = ROUTE_REQUESTS[route](client, thumbnail)
            assert response.status_code != 429, (route, slug, n, response.content)
            if "RateLimit" in response:  # not on a refusal that follows the count (403 plan)
                assert limit_items(response)[route]["r"] == str(rate.limit - n), (route, n)
        refused = ROUTE_REQUESTS[route](client, thumbnail)
        assert refused.status_code == 429, (route, slug, refused.content)
        policy_items = refused["RateLimit-Policy"]
        assert policy_items.startswith(f'"{route}";q={rate.limit};w={rate.window}')
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


def test_creating_projects_shares_the_library_budget(limits: Any, owner_client: Any) -> None:
    """Projects had no limit: a loop could add rows without end (nothing is charged)."""
    set_rates(limits, "library_create", {"*": "2/h"})
    assert owner_client.post_json("/api/projects", {"name": "One"}).status_code == 201
    assert owner_client.post("/studio/projects", {"name": "Two"}).status_code == 302
    refused = owner_client.post_json("/api/projects", {"name": "Three"})
    assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"
    refused = owner_client.post("/studio/projects", {"name": "Three"}, HTTP_HX_REQUEST="true")
    assert refused.status_code == 429
    assert owner_client.get("/api/projects").status_code == 200  # listing is not counted


def test_every_billing_route_that_calls_stripe_shares_the_checkout_budget(
    limits: Any, owner_client: Any
) -> None:
    """Each of these made Stripe calls with no limit: one creator's loop could use up Stripe's
    rate limit, which is the whole studio's (every creator's payments and webhooks)."""
    set_rates(limits, "checkout", {"*": "4/h"})
    owner_client.post("/plans/checkout/pro", HTTP_ACCEPT="text/html")
    owner_client.post("/plans/packs/small", HTTP_ACCEPT="text/html")
    owner_client.post("/billing/portal", HTTP_ACCEPT="text/html")
    back = owner_client.get("/billing/checkout/return?session_id=cs_x", HTTP_ACCEPT="text/html")
    assert back.status_code == 302
    refused = owner_client.post("/billing/portal", HTTP_ACCEPT="text/html")
    assert refused.status_code == 429
    assert "Slow down" in refused.content.decode()
    assert owner_client.get("/plans/").status_code == 200  # the plans page itself is not counted


def test_login_and_signup_are_limited_per_client_ip(limits: Any, anon_client: Any) -> None:
    set_rates(limits, "login", {"*": "2/h"})
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
    set_rates(limits, "login", {"*": "1/h"})
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
