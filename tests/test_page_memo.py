"""studio.page_memo: the plain studio page is rendered once per state of what it shows and
served from this process's memory after that, with each response's own CSRF token and
idempotency key; every change to what it shows is on the next visit, and the pages it must not
remember (messages, filters, jobs in flight, no credits, a cooldown) are drawn every time.

Transactional tests: inside a test transaction the shared cache, whose version tokens key the
memo, is bypassed (core.shared_cache.in_use)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from billing.services import adjust_credits, grant_credits
from core import shared_cache
from core.shared_cache import invalidate
from generation.models import Job
from generation.services import unfinished_namespace
from studio import page_memo
from studio.models import Project, Style
from tests.conftest import make_user, set_plan
from tests.factories.studio import ThumbnailFactory

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.usefixtures("clean_cache"),
]


@pytest.fixture(autouse=True)
def empty_memo() -> Iterator[None]:
    page_memo.clear()
    yield
    page_memo.clear()


@pytest.fixture
def creator() -> Any:
    return make_user("memo@example.com")


@pytest.fixture
def client(creator: Any) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(creator)
    return client


def page(client: Client, path: str = "/studio/") -> str:
    response = client.get(path)
    assert response.status_code == 200
    return response.content.decode()


def idempotency_key(html: str) -> str:
    return re.search(r'name="idempotency_key" value="(\w+)"', html)[1]  # type: ignore[index]


def csrf_header(html: str) -> str:
    return re.search(r'"X-CSRFToken": "(\w+)"', html)[1]  # type: ignore[index]


def test_a_second_visit_comes_from_the_memo_with_its_own_key_and_a_working_csrf_token(
    client: Client,
) -> None:
    first = page(client)
    assert page_memo.stats == {"hits": 0, "stores": 1}
    second = page(client)
    assert page_memo.stats == {"hits": 1, "stores": 1}
    assert idempotency_key(second) != idempotency_key(first)
    assert page_memo.KEY_PLACEHOLDER not in second and page_memo.CSRF_PLACEHOLDER not in second
    # The remembered page's CSRF token is this response's: a form sent with it is accepted.
    sign_out = re.search(r'name="csrfmiddlewaretoken" value="(\w+)"', second)[1]  # type: ignore[index]
    assert sign_out != page_memo.CSRF_PLACEHOLDER
    created = client.post(
        "/studio/projects", {"name": "Road Trip"}, headers={"X-CSRFToken": csrf_header(second)}
    )
    assert created.status_code == 302, created.content[:200]  # to the library (403 if refused)
    assert Project.objects.filter(name="Road Trip").exists()


def test_each_change_to_what_the_page_shows_is_on_the_next_visit(
    client: Client, creator: Any
) -> None:
    page(client)
    Project.objects.create(owner=creator, name="Cooking Vlog")
    assert ">Cooking Vlog</option>" in page(client)

    Style.objects.create(owner=creator, name="Neon Noir", prompt="neon, rain")
    assert "Neon Noir (mine)" in page(client)

    ThumbnailFactory(owner=creator, title="Fresh From The Oven")
    assert "Fresh From The Oven" in page(client)

    grant_credits(user=creator, amount=5, idempotency_key="memo-grant", reason="test")
    assert 'data-credits="15"' in page(client)

    set_plan(creator, "pro")
    assert ">Pro plan</span>" in page(client)
    assert page_memo.stats["hits"] == 0  # every visit above followed a change


def test_a_page_with_a_message_shows_it_once(client: Client, creator: Any) -> None:
    page(client)
    page(client)  # remembered
    response = client.get("/studio/?project=999999", follow=True)  # a project that is gone
    html = response.content.decode()
    assert "That project no longer exists" in html
    assert "That project no longer exists" not in page(client)


def test_pages_it_must_not_remember_are_drawn_on_every_visit(client: Client, creator: Any) -> None:
    ThumbnailFactory(owner=creator, title="Searchable")
    for _ in range(2):
        assert "Searchable" in page(client, "/studio/?q=Search")
    page(client, "/studio/")
    page(client, "/studio/")
    assert page_memo.stats == {"hits": 1, "stores": 1}

    # No credits: the renewal date and "out of credits" are drawn from the database each time.
    adjust_credits(user=creator, amount=-10, idempotency_key="memo-zero", reason="test")
    page(client)
    page(client)
    assert page_memo.stats == {"hits": 1, "stores": 1}


def test_jobs_in_flight_are_drawn_with_their_progress_of_now(client: Client, creator: Any) -> None:
    page(client)
    job = Job.objects.create(
        user=creator, type="generate_thumbnails", status=Job.Status.RUNNING, progress=10
    )
    invalidate(unfinished_namespace(creator.pk))  # as a new job's transaction does
    assert "--progress: 10%" in page(client)
    Job.objects.filter(pk=job.pk).update(progress=60)  # as the worker reports progress
    assert "--progress: 60%" in page(client)


def test_a_payment_due_banner_comes_and_goes_with_the_subscription(
    client: Client, creator: Any
) -> None:
    set_plan(creator, "starter", status="past_due")
    page(client)
    assert "Your last payment for the <strong>Starter</strong> plan failed" in page(client)
    assert page_memo.stats["hits"] == 1
    set_plan(creator, "starter")
    assert "Your last payment" not in page(client)


def test_a_running_cooldown_is_never_served_from_the_memo(
    client: Client, creator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from studio import views

    page(client)
    monkeypatch.setattr(views.ratelimits, "cooldown_left", lambda request, route: 7)
    monkeypatch.setattr(views.Plan, "generate_cooldown_seconds", 30, raising=False)
    html = page(client)
    assert 'data-cooldown="7"' in html
    assert page_memo.stats["hits"] == 0
    monkeypatch.undo()  # the cooldown is over: the page drawn during it was not kept
    assert "data-cooldown=" not in page(client)


def test_an_entry_lasts_at_most_memo_seconds(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    page(client)
    now = page_memo.time.monotonic()
    monkeypatch.setattr(page_memo.time, "monotonic", lambda: now + page_memo.MEMO_SECONDS + 1)
    page(client)
    assert page_memo.stats == {"hits": 0, "stores": 2}


def test_a_render_that_read_a_namespace_outside_the_key_is_not_remembered(
    creator: Any,
) -> None:
    with shared_cache.request_scope():
        shared_cache.cached("elsewhere:1", lambda: "value", timeout=60)
        page_memo.store(("key",), "<html>", creator.pk)
    assert page_memo.stats["stores"] == 0
    with shared_cache.request_scope():
        page_memo.store(("key",), "<html>", creator.pk)
    assert page_memo.stats["stores"] == 1
