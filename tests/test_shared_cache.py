"""Shared cache-aside (core.shared_cache): the plan table, each user's plan and credits summary,
and the built-in and public styles and palettes are served from the cache, and every write that
changes them is seen at once.

These tests commit (transaction=True): inside a transaction the cache is bypassed by design.
"""

from __future__ import annotations

import re
import time
import uuid
from html import unescape
from typing import Any
from unittest import mock

import pytest
from django.conf import settings
from django.core.cache import caches
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from billing.models import Plan
from billing.services import change_plan, plan_table
from core import shared_cache
from generation.models import Job
from generation.services import cancel_job
from studio import views_share
from studio.library_cache import shared_styles
from studio.models import Face, FaceImage, Style
from studio.services import (
    do_create_palette,
    do_create_project,
    do_delete_face,
    do_delete_thumbnail,
    do_move_thumbnails,
    do_update_project,
)
from studio.style_previews import ensure_preview
from tests.conftest import JSONClient, make_user
from tests.factories.studio import ThumbnailFactory

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
    # Shared and own palettes both come from the cache.
    assert queries_on("studio_palette", captured) == []

    other = make_user("publisher@example.com")
    change_plan(user=other, plan=Plan.objects.get(slug="starter"), status="active")
    do_create_palette(owner=other, name="Private one", colors=["#000000"] * 3, is_public=False)
    shared_cache.reset_stats()
    assert "Private one" not in {p["name"] for p in client.get("/api/palettes").json()["results"]}
    # A new private row invalidates no shared list.
    assert shared_cache.stats()["library:palettes"]["hits"] == 1

    do_create_palette(owner=other, name="Public one", colors=["#ffffff"] * 3, is_public=True)
    assert "Public one" in {p["name"] for p in client.get("/api/palettes").json()["results"]}
    # The creator's own new private palette is seen at once (their library's cache).
    do_create_palette(owner=creator, name="Mine only", colors=["#123456"] * 3, is_public=False)
    assert "Mine only" in {p["name"] for p in client.get("/api/palettes").json()["results"]}
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
    # The library (styles, palettes, faces, projects), the rendered first gallery page, the
    # session's user (core.auth) and the count of jobs in flight too: no query is left.
    for table in (
        "studio_style",
        "studio_palette",
        "studio_face",
        "studio_project",
        "auth_user",
        "generation_job",
    ):
        assert queries_on(table, cold), table
        assert queries_on(table, warm) == [], table
    assert queries_on("studio_thumbnail", warm) == []
    assert warm.captured_queries == []


@pytest.fixture
def redis_commands(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Starts recording the name of every command the cache's Redis clients send."""
    import redis
    from django.utils.module_loading import import_string
    from django_redis.cache import RedisCache

    if not issubclass(import_string(settings.CACHES["default"]["BACKEND"]), RedisCache):
        pytest.skip("the cache is not Redis here (REDIS_URL unset)")
    commands: list[str] = []
    execute = redis.Redis.execute_command

    def counted(self: Any, *args: Any, **options: Any) -> Any:
        commands.append(str(args[0]))
        return execute(self, *args, **options)

    execute_pipeline = redis.client.Pipeline.execute

    def pipelined(self: Any, *args: Any, **options: Any) -> Any:
        # One round trip: its commands as one entry, e.g. "PIPELINE SET SET".
        commands.append(" ".join(["PIPELINE", *(str(c[0][0]) for c in self.command_stack)]))
        return execute_pipeline(self, *args, **options)

    def start() -> list[str]:
        monkeypatch.setattr(redis.Redis, "execute_command", counted)
        monkeypatch.setattr(redis.client.Pipeline, "execute", pipelined)
        return commands

    return start


def test_the_warm_studio_page_is_two_redis_round_trips(
    creator: Any, client: JSONClient, redis_commands: Any
) -> None:
    """The session, then one MGET for the session's user (core.auth) with the plan, credits,
    library, jobs in flight and gallery page (each namespace read once per request:
    core.shared_cache.request_scope, warm and core.auth.prefetch_with_user), filtered or not."""
    ThumbnailFactory(owner=creator, title="One")
    client.get("/studio/")
    commands = redis_commands()
    assert client.get("/studio/").status_code == 200
    assert commands == ["GET", "MGET"], commands
    assert client.get("/studio/?q=One").status_code == 200
    assert commands == ["GET", "MGET"] * 2, commands
    assert client.get("/studio/", {"order": "oldest"}).status_code == 200
    assert commands == ["GET", "MGET"] * 3, commands


def test_an_accepted_generate_reads_the_plan_in_one_round_trip(
    client: JSONClient, redis_commands: Any
) -> None:
    """The session, one MGET for the plan look-ups, and one pipeline for what the commit
    invalidates: the credits and the count of jobs in flight (the broker and the channel layer
    are stand-ins here; rate limits are off)."""
    client.get("/api/me")
    commands = redis_commands()
    response = client.post_json("/api/generate", {"title": "One trip"}, HTTP_IDEMPOTENCY_KEY="a1")
    assert response.status_code == 202
    assert commands == ["GET", "MGET", "PIPELINE SET SET"], commands


def job_cards(client: JSONClient) -> list[str]:
    """The ids of the studio's cards of jobs in flight, on a fresh visit."""
    return re.findall(
        r'<article class="job [^"]*" id="job-([0-9a-f-]+)"', client.get("/studio/").content.decode()
    )


def test_the_studio_shows_each_job_in_flight_from_its_start_to_its_end(
    creator: Any, client: JSONClient, run_jobs: Any
) -> None:
    """The count of jobs in flight comes from the cache (no query on a warm visit) and follows
    every job that starts, finishes or is cancelled, on the next visit."""
    assert job_cards(client) == []
    assert job_cards(client) == []  # cached: no job in flight

    first = client.post_json("/api/generate", {"title": "Rendered"}, HTTP_IDEMPOTENCY_KEY="f1")
    assert job_cards(client) == [first.json()["id"]]
    assert job_cards(client) == [first.json()["id"]]
    assert run_jobs() == 1  # the worker finishes it
    assert Job.objects.get(pk=first.json()["id"]).status == Job.Status.SUCCEEDED
    assert job_cards(client) == []
    with CaptureQueriesContext(connection) as warm:
        assert job_cards(client) == []
    assert queries_on("generation_job", warm) == []  # the job's end reached the cached count

    second = client.post_json("/api/generate", {"title": "Cancelled"}, HTTP_IDEMPOTENCY_KEY="f2")
    assert job_cards(client) == [second.json()["id"]]
    cancel_job(Job.objects.get(pk=second.json()["id"]))
    assert job_cards(client) == []
    with CaptureQueriesContext(connection) as warm:
        assert job_cards(client) == []
    assert queries_on("generation_job", warm) == []


def test_one_transactions_invalidations_are_one_round_trip(redis_commands: Any) -> None:
    """Every namespace a transaction invalidates gets its new token in one pipeline when it
    commits, however many invalidations ran and in how many savepoints; nothing before."""
    tokens = {ns: f"{ns}:version" for ns in ("t:a", "t:b", "t:c")}
    cache = caches["default"]
    cache.set_many(dict.fromkeys(tokens.values(), "old"), None)
    commands = redis_commands()
    with transaction.atomic():
        shared_cache.invalidate("t:a")
        with transaction.atomic():
            shared_cache.invalidate("t:b")
            shared_cache.invalidate("t:a")
        try:
            with transaction.atomic():
                shared_cache.invalidate("t:c")
                raise RuntimeError
        except RuntimeError:
            pass
        assert commands == []
    assert commands == ["PIPELINE SET SET SET"], commands
    assert "old" not in cache.get_many(list(tokens.values())).values()

    commands.clear()
    with transaction.atomic():
        with transaction.atomic():
            shared_cache.invalidate("t:a")
        shared_cache.invalidate("t:b")
    assert commands == ["PIPELINE SET SET"], commands
    commands.clear()
    shared_cache.invalidate("t:c")  # no transaction: at once
    assert commands == ["SET"], commands


def card_titles(client: JSONClient) -> list[str]:
    html = client.get("/studio/").content.decode()
    return re.findall(r'class="title" dir="auto"><a [^>]*>([^<]*)</a>', html)


def test_the_studio_gallery_and_pickers_follow_every_write(
    creator: Any, client: JSONClient
) -> None:
    """The first gallery page and the pickers come from the cache once warm; each write that
    changes a card or a picker shows on the next visit (studio.gallery_cache, library_cache)."""
    first = ThumbnailFactory(owner=creator, title="First one")
    assert card_titles(client) == ["First one"]
    assert card_titles(client) == ["First one"]  # from the cache: no thumbnail query
    second = ThumbnailFactory(owner=creator, title="Second one")
    assert card_titles(client) == ["Second one", "First one"]

    first.title = "Renamed"
    first.save()
    assert card_titles(client) == ["Second one", "Renamed"]

    project = do_create_project(owner=creator, name="Channel trailer")
    html = client.get("/studio/").content.decode()
    # the form's and the filter's project menus, and a move menu on each of the two cards
    assert html.count(">Channel trailer</option>") == 2 + 2

    do_move_thumbnails(owner=creator, thumbnail_ids=[second.pk], project=project)  # one UPDATE
    html = client.get("/studio/").content.decode()
    assert f'<option value="{project.pk}" selected>Channel trailer</option>' in html

    do_update_project(project=project, name="Trailers")
    assert ">Trailers</option>" in client.get("/studio/").content.decode()

    do_delete_thumbnail(thumbnail=second)
    assert card_titles(client) == ["Renamed"]

    Style.objects.create(owner=creator, name="My look", prompt="Teal and orange.")
    assert ">My look (mine)</option>" in client.get("/studio/").content.decode()

    face = Face.objects.create(owner=creator, name="My face")
    assert ">My face</span>" in client.get("/studio/").content.decode()
    do_delete_face(face=face)
    assert ">My face</span>" not in client.get("/studio/").content.decode()

    # A page rendered for one plan is not shown for another (the palette tool on each card).
    assert "Analyse palette (Starter and up)" in client.get("/studio/").content.decode()
    change_plan(user=creator, plan=Plan.objects.get(slug="starter"), status="active")
    html = client.get("/studio/").content.decode()
    assert "Analyse palette (Starter and up)" not in html
    assert "Analyse this thumbnail's palette" in html

    # Signed URLs in a cached page belong to one expiry step; the next step renders afresh.
    step = settings.MEDIA_URL_MAX_AGE // 4
    expiry = re.search(r"\?e=(\d+)&", client.get("/studio/").content.decode())[1]  # type: ignore[index]
    later = time.time() + step
    with mock.patch("studio.media.time.time", return_value=later):
        html = client.get("/studio/").content.decode()
    assert re.search(r"\?e=(\d+)&", html)[1] == str(int(expiry) + step)  # type: ignore[index]


def test_a_share_click_shows_on_the_cached_gallery_card(creator: Any, client: JSONClient) -> None:
    """A share click is counted by an UPDATE that sends no signal (views_share.count_click):
    the cached first gallery page showed the card without it for up to 15 minutes. The click
    invalidates it, so the owner's next visit shows the count."""
    project = do_create_project(owner=creator, name="Shared")
    do_update_project(project=project, share_mode="all")
    thumbnail = ThumbnailFactory(owner=creator, project=project, stored=True)
    client.get("/studio/")
    assert "share click</span>" not in client.get("/studio/").content.decode()  # from the cache

    visitor = Client(HTTP_USER_AGENT="Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0")
    day = f"2099{uuid.uuid4().int % 10**4:04d}"  # a day no earlier run counted a click in
    with mock.patch.object(views_share, "utc_day", return_value=day):
        response = visitor.get(f"/share/{project.share_token}/t/{thumbnail.pk}")
    assert response.status_code == 200
    assert ">1 share click</span>" in client.get("/studio/").content.decode()


def test_a_cached_gallery_page_is_rendered_again_after_the_signing_key_changes(
    creator: Any, client: JSONClient, settings: Any
) -> None:
    """Cached cards hold signed image URLs: after a SECRET_KEY rotation (the old key kept in
    SECRET_KEY_FALLBACKS, so sessions survive) the page is signed with the new key, and its
    images load instead of answering 404."""
    ThumbnailFactory(owner=creator, title="Keyed", stored=True)

    def first_image(html: str) -> str:
        return unescape(re.search(r'src="(/media/[^"]+)"', html)[1])  # type: ignore[index]

    before = first_image(client.get("/studio/").content.decode())  # now cached
    assert client.get(before).status_code == 200
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = settings.SECRET_KEY + "-rotated"
    after = first_image(client.get("/studio/").content.decode())
    assert after != before
    assert client.get(after).status_code == 200
    assert client.get(before).status_code == 404  # media URLs verify with the current key only


def test_inside_a_transaction_the_database_answers() -> None:
    plan_table()
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        plan_table()
    assert len(queries_on("billing_plan", captured)) == 1


def test_a_cache_fault_falls_back_to_the_database(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("cache is down")

    monkeypatch.setattr(caches["default"], "get", broken)
    monkeypatch.setattr(caches["default"], "get_many", broken)
    shared_cache.reset_stats()
    assert plan_table()[0].slug == "free"
    assert shared_cache.stats()["billing:plans"]["errors"] == 1


def test_a_new_face_photo_and_a_drawn_style_preview_reach_the_cached_lists(
    creator: Any, client: JSONClient
) -> None:
    """Writes the signals on Face and Style do not see: a photo added to a face (FaceImage),
    and a preview stored with update() (studio.style_previews.ensure_preview)."""
    face = Face.objects.create(owner=creator, name="Photo later")
    assert "<img" not in face_chip(client, face)
    FaceImage.objects.create(face=face, image="faces/later.jpg", width=64, height=64)
    assert "<img" in face_chip(client, face)

    style = Style.objects.filter(owner=None).order_by("id").first()
    assert style is not None
    Style.objects.filter(pk=style.pk).update(preview="")  # undrawn (update: no invalidation)
    shared_cache.invalidate("library:styles")
    assert not next(s for s in shared_styles() if s.pk == style.pk).preview
    ensure_preview(Style.objects.get(pk=style.pk))
    assert next(s for s in shared_styles() if s.pk == style.pk).preview


def face_chip(client: JSONClient, face: Face) -> str:
    html = client.get("/studio/").content.decode()
    match = re.search(
        rf'<label class="chip face-chip"><input [^>]*value="{face.pk}">.*?</label>', html
    )
    assert match, html[:200]
    return match[0]


def test_a_miss_found_by_warm_is_loaded_without_reading_the_cache_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A namespace `warm` found missing (e.g. the credits an earlier generate invalidated) is
    neither asked for again by a later `warm` in the request nor read again by `cached`: one
    read, then the load and the store. It is then current for the next request."""
    cache = caches["default"]
    reads: list[list[str]] = []
    real = cache.get_many

    def counting(keys: Any, *args: Any, **kwargs: Any) -> Any:
        reads.append(list(keys))
        return real(keys, *args, **kwargs)

    monkeypatch.setattr(cache, "get_many", counting)
    namespace = f"test:miss:{time.monotonic_ns()}"
    with shared_cache.request_scope():
        shared_cache.warm(namespace)
        shared_cache.warm(namespace)
        assert shared_cache.cached(namespace, lambda: "loaded", timeout=60) == "loaded"
    assert len(reads) == 1, reads
    with shared_cache.request_scope():
        assert shared_cache.cached(namespace, lambda: "again", timeout=60) == "loaded"
