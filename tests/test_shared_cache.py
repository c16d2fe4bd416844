"""Shared cache-aside (core.shared_cache): the plan table, each user's plan and credits summary,
and the built-in and public styles and palettes are served from the cache, and every write that
changes them is seen at once.

These tests commit (transaction=True): inside a transaction the cache is bypassed by design.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import caches
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from billing.models import Plan
from billing.services import change_plan, plan_table
from core import shared_cache
from studio.services import do_create_palette
from tests.conftest import JSONClient, make_user

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def queries_on(table: str, captured: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if f'"{table}"' in q["sql"]]


@pytest.fixture
def creator() -> Any:
    return make_user("cached@example.com")


@pytest.fixture
def client(creator: Any) -> JSONClient:
    client = JSONClient()
    client.force_login(creator)
    return client


def test_plan_table_is_cached_and_a_plan_edit_is_seen_at_once() -> None:
    plan_table()
    with CaptureQueriesContext(connection) as captured:
        plans = plan_table()
    assert [p.slug for p in plans] == ["free", "starter", "advanced", "pro"]
    assert captured.captured_queries == []
    pro = Plan.objects.get(slug="pro")
    pro.name = "Pro Max"
    pro.save()
    assert [p.name for p in plan_table()][-1] == "Pro Max"


def test_account_summary_is_cached_and_follows_credits_and_plan(
    creator: Any, client: JSONClient
) -> None:
    client.get("/api/me")
    with CaptureQueriesContext(connection) as captured:
        me = client.get("/api/me").json()
    assert (me["plan"], me["credits_remaining"]) == ("free", 10)
    assert queries_on("billing_subscription", captured) == []
    assert queries_on("billing_creditaccount", captured) == []
    assert queries_on("billing_plan", captured) == []

    response = client.post_json("/api/generate", {"title": "Spend one"})
    assert response.status_code == 202
    assert response.json()["credits_remaining"] == 9
    assert client.get("/api/me").json()["credits_remaining"] == 9

    change_plan(user=creator, plan=Plan.objects.get(slug="starter"), status="active")
    assert client.get("/api/me").json()["plan"] == "starter"
    change_plan(user=creator, plan=Plan.objects.get(slug="starter"), status="past_due")
    assert client.get("/api/me").json()["plan"] == "free"  # PRODUCT.md flaw 2 still fixed


def test_shared_styles_and_palettes_are_cached_and_follow_publishing(
    creator: Any, client: JSONClient
) -> None:
    client.get("/api/palettes")
    with CaptureQueriesContext(connection) as captured:
        names = {p["name"] for p in client.get("/api/palettes").json()["results"]}
    assert "Sunset Pop" in names
    # Only the creator's own private palettes are read per request.
    [own_query] = queries_on("studio_palette", captured)
    assert "is_public" in own_query

    other = make_user("publisher@example.com")
    change_plan(user=other, plan=Plan.objects.get(slug="starter"), status="active")
    do_create_palette(owner=other, name="Private one", colors=["#000000"] * 3, is_public=False)
    shared_cache.reset_stats()
    assert "Private one" not in {p["name"] for p in client.get("/api/palettes").json()["results"]}
    # A new private row invalidates no shared list.
    assert shared_cache.stats()["library:palettes"]["hits"] == 1

    do_create_palette(owner=other, name="Public one", colors=["#ffffff"] * 3, is_public=True)
    assert "Public one" in {p["name"] for p in client.get("/api/palettes").json()["results"]}
    style_names = {s["name"] for s in client.get("/api/styles").json()["results"]}
    assert "Cinematic" in style_names


def test_studio_page_reads_plan_credits_and_library_from_the_cache(client: JSONClient) -> None:
    with CaptureQueriesContext(connection) as cold:
        assert client.get("/studio/").status_code == 200
    with CaptureQueriesContext(connection) as warm:
        assert client.get("/studio/").status_code == 200
    for table in ("billing_plan", "billing_subscription", "billing_creditaccount"):
        assert queries_on(table, cold), table
        assert queries_on(table, warm) == [], table
    assert len(warm.captured_queries) < len(cold.captured_queries)


def test_inside_a_transaction_the_database_answers() -> None:
    plan_table()
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        plan_table()
    assert len(queries_on("billing_plan", captured)) == 1


def test_a_cache_fault_falls_back_to_the_database(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("cache is down")

    monkeypatch.setattr(caches["default"], "get", broken)
    shared_cache.reset_stats()
    assert plan_table()[0].slug == "free"
    assert shared_cache.stats()["billing:plans"]["errors"] == 1
