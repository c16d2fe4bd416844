"""Gallery paging, filters, library actions and their access rules."""

from __future__ import annotations

import datetime as dt
import io
import json
from html import escape
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from studio.gallery import ORDERS, GalleryFilter, InvalidCursor, page_of
from studio.models import Project, Thumbnail
from tests.factories.generation import JobFactory
from tests.factories.studio import ThumbnailFactory

pytestmark = pytest.mark.django_db

BASE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def make_thumbs(
    owner: Any, rows: list[tuple[int, str, int, bool]], project: Any = None
) -> list[Thumbnail]:
    """rows: (seconds offset, title, share_clicks, favourite); equal offsets give equal timestamps."""
    return Thumbnail.objects.bulk_create(
        [
            ThumbnailFactory.build(
                owner=owner,
                title=title,
                share_clicks=clicks,
                is_favorite=fav,
                project=project,
                created_at=BASE + dt.timedelta(seconds=offset),
            )
            for offset, title, clicks, fav in rows
        ]
    )


def insert_thumbs(
    owner: Any,
    count: int,
    *,
    offset: str = "i",
    title: str = "'x'",
    clicks: str = "0",
    favorite: str = "false",
    project: Any = None,
) -> None:
    """`count` thumbnails of `owner` written by one INSERT ... SELECT over generate_series: the
    columns given here are SQL expressions of i = 0 .. count - 1 (`offset`: seconds after BASE),
    every other column is ThumbnailFactory.build's. PostgreSQL only. The planner test below needs
    thousands of rows, and building them as model instances cost seconds of Python."""
    template = ThumbnailFactory.build(owner=owner, project=project)
    computed = {
        "created_at": f"%s + make_interval(secs => {offset})",
        "title": title,
        "search_title": f"lower({title})",  # the titles given here are ASCII
        "sort_title": f"'1' || lower({title})",  # and start with a letter or digit (sort_key)
        "share_clicks": clicks,
        "is_favorite": favorite,
    }
    columns, values, params = [], [], []
    for field in Thumbnail._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(connection.ops.quote_name(field.column))
        if field.name == "created_at":
            params.append(BASE)
        if field.name in computed:
            values.append(computed[field.name])
        else:
            values.append("%s")
            params.append(field.get_db_prep_save(getattr(template, field.attname), connection))
    # The SQL expressions are this module's own literals; the values go as parameters.
    sql = (
        f"INSERT INTO {Thumbnail._meta.db_table} ({', '.join(columns)}) SELECT {', '.join(values)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} FROM generate_series(0, %s - 1) AS i", [*params, count])


def all_pages(owner: Any, filters: GalleryFilter, limit: int) -> list[int]:
    queryset = filters.apply(Thumbnail.objects.filter(owner=owner))
    seen: list[int] = []
    cursor = None
    while True:
        page = page_of(queryset, cursor, limit, filters)
        seen.extend(t.pk for t in page.items)
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor


row_strategy = st.tuples(
    st.integers(0, 4),  # few distinct timestamps: many ties
    st.sampled_from(["a", "B", "b", "coffee", "Coffee shop", ""]),
    st.integers(0, 3),
    st.booleans(),
)


@hsettings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(row_strategy, min_size=0, max_size=30),
    order=st.sampled_from(sorted(ORDERS)),
    limit=st.integers(1, 7),
    favorites=st.booleans(),
    q=st.sampled_from(["", "coffee", "shop COFFEE"]),
)
def test_pages_concatenate_to_the_full_ordered_list(
    owner, rows, order, limit, favorites, q
) -> None:
    Thumbnail.objects.all().delete()
    make_thumbs(owner, rows)
    filters = GalleryFilter(order=order, favorites=favorites, q=q)
    expected = list(
        filters.apply(Thumbnail.objects.filter(owner=owner)).values_list("pk", flat=True)
    )
    assert all_pages(owner, filters, limit) == expected


def test_title_order_ignores_case_and_accents(owner, owner_client) -> None:
    """SQLite (and a C collation) compared raw titles by code point: "iPhone vs Pixel" came
    after "Why Nobody Talks About This"."""
    for title in ("Why Nobody Talks About This", "iPhone vs Pixel", "Écoles du Monde", "apple"):
        ThumbnailFactory(owner=owner, title=title)
    answer = owner_client.get("/api/thumbnails?order=title&limit=2").json()
    titles = [t["title"] for t in answer["results"]]
    rest = owner_client.get(f"/api/thumbnails?order=title&cursor={answer['next_cursor']}").json()
    titles += [t["title"] for t in rest["results"]]
    assert titles == ["apple", "Écoles du Monde", "iPhone vs Pixel", "Why Nobody Talks About This"]


def test_title_order_starts_at_the_first_letter(owner, owner_client) -> None:
    """ "Title A-Z" put a title starting with an emoji or punctuation after every lettered one
    ("🔥🔥 I ate only rice" after "Zoo vlog", by the emoji's code point) (walkthrough
    2026-12-04); it is sorted by its first letter or digit, and paged there by its cursor."""
    for title in (
        "Zoo vlog",
        "🔥🔥 I ate only rice for a week",
        "“Quiet” mornings",
        "...and then it rained",
        "apple picking",
        "100 days of code",
        "Hotel tour",
    ):
        ThumbnailFactory(owner=owner, title=title)
    answer = owner_client.get("/api/thumbnails?order=title&limit=3").json()
    titles = [t["title"] for t in answer["results"]]
    rest = owner_client.get(f"/api/thumbnails?order=title&cursor={answer['next_cursor']}").json()
    titles += [t["title"] for t in rest["results"]]
    assert titles == [
        "100 days of code",
        "...and then it rained",
        "apple picking",
        "Hotel tour",
        "🔥🔥 I ate only rice for a week",
        "“Quiet” mornings",
        "Zoo vlog",
    ]
    # The search still matches the whole title.
    found = owner_client.get("/api/thumbnails?q=%F0%9F%94%A5").json()["results"]
    assert [t["title"] for t in found] == ["🔥🔥 I ate only rice for a week"]


def test_title_order_lists_text_free_thumbnails_last(owner, owner_client, monkeypatch) -> None:
    """Text-free thumbnails (no title) had the empty sort key and came before every title in
    "Title A-Z"; they come after them, paged by a cursor that stops among them, and the
    migration moves existing ones there (and back)."""
    import importlib

    from django.apps import apps

    for title in ("", "Zoo vlog", "", "🔥🔥🔥", "apple picking", ""):
        ThumbnailFactory(owner=owner, title=title)

    def titles(limit: int) -> list[str]:
        answer = owner_client.get(f"/api/thumbnails?order=title&limit={limit}").json()
        seen = [t["title"] for t in answer["results"]]
        while answer["next_cursor"]:
            cursor = answer["next_cursor"]
            answer = owner_client.get(f"/api/thumbnails?order=title&limit={limit}&cursor={cursor}")
            answer = answer.json()
            seen += [t["title"] for t in answer["results"]]
        return seen

    expected = ["apple picking", "Zoo vlog", "🔥🔥🔥", "", "", ""]
    assert titles(4) == titles(1) == expected
    migration = importlib.import_module("studio.migrations.0016_text_free_sorts_last")
    assert migration.Migration.atomic is False  # batches commit alone, as 0011's (big table)
    monkeypatch.setattr(migration, "BATCH", 2)  # several batches
    migration.text_free_first(apps, None)  # the keys as they were
    assert titles(6)[0] == ""
    migration.text_free_last(apps, None)
    assert titles(6) == expected
    migration.text_free_last(apps, None)  # run again: nothing left to change
    assert titles(6) == expected


def test_the_migration_gives_existing_thumbnails_their_sort_key(owner, monkeypatch) -> None:
    import importlib

    from django.apps import apps

    migration = importlib.import_module("studio.migrations.0011_thumbnail_sort_title")
    made = make_thumbs(owner, [(i, f"🔥 Café n°{i}", 0, False) for i in range(5)])
    Thumbnail.objects.filter(pk__in=[t.pk for t in made]).update(sort_title="")  # as before
    monkeypatch.setattr(migration, "BATCH", 2)  # several batches
    migration.backfill(apps, None)
    keys = set(Thumbnail.objects.filter(owner=owner).values_list("sort_title", flat=True))
    assert keys == {f"cafe n°{i}" for i in range(5)}


def test_the_sort_title_migration_does_not_lock_the_thumbnail_table_through_its_work() -> None:
    """studio_thumbnail is the largest table: in one transaction the ADD COLUMN's lock (which
    blocks every read) was held through the backfill of every row and both index builds. The
    migration is not atomic (each backfill batch commits alone) and, on PostgreSQL, builds the
    new index CONCURRENTLY before dropping the old one."""
    import importlib

    from django.apps import apps
    from django.db.migrations.operations import AddIndex, RemoveIndex

    migration = importlib.import_module("studio.migrations.0011_thumbnail_sort_title")
    assert migration.Migration.atomic is False
    assert not [
        op for op in migration.Migration.operations if isinstance(op, AddIndex | RemoveIndex)
    ]
    if connection.vendor != "postgresql":
        return
    with connection.schema_editor(collect_sql=True, atomic=False) as editor:
        migration.move_index(apps, editor)
    statements = [sql for sql in editor.collected_sql if " INDEX " in sql.upper()]
    builds = [sql for sql in statements if sql.upper().startswith(("CREATE", "DROP"))]
    assert builds and all("CONCURRENTLY" in sql.upper() for sql in builds)
    created = next(i for i, sql in enumerate(statements) if sql.upper().startswith("CREATE"))
    dropped_old = next(i for i, sql in enumerate(statements) if '"thumb_owner_title"' in sql)
    assert created < dropped_old  # the title order always has an index


@hsettings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(row_strategy, min_size=1, max_size=25),
    inserts=st.lists(row_strategy, min_size=1, max_size=10),
    order=st.sampled_from(sorted(ORDERS)),
    limit=st.integers(1, 5),
)
def test_inserts_while_paging_never_skip_or_repeat(owner, rows, inserts, order, limit) -> None:
    Thumbnail.objects.all().delete()
    original = {t.pk for t in make_thumbs(owner, rows)}
    filters = GalleryFilter(order=order)
    queryset = filters.apply(Thumbnail.objects.filter(owner=owner))
    seen: list[int] = []
    cursor = None
    pending = list(inserts)
    while True:
        page = page_of(queryset, cursor, limit, filters)
        seen.extend(t.pk for t in page.items)
        if pending:
            make_thumbs(owner, [pending.pop()])
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert len(seen) == len(set(seen))
    assert original <= set(seen)


def test_project_filter_including_no_project(owner) -> None:
    project = Project.objects.create(owner=owner, name="Series")
    inside = make_thumbs(owner, [(1, "in", 0, False)], project=project)
    outside = make_thumbs(owner, [(2, "out", 0, False)])
    assert all_pages(owner, GalleryFilter(project=project.pk), 5) == [inside[0].pk]
    assert all_pages(owner, GalleryFilter(project="none"), 5) == [outside[0].pk]


def test_tampered_or_foreign_cursor_is_400(owner, owner_client) -> None:
    make_thumbs(owner, [(i, f"t{i}", 0, False) for i in range(5)])
    first = owner_client.get("/api/thumbnails?limit=2").json()
    cursor = first["next_cursor"]
    assert owner_client.get(f"/api/thumbnails?limit=2&cursor={cursor}").status_code == 200
    tampered = cursor[:-3] + ("AAA" if not cursor.endswith("AAA") else "BBB")
    response = owner_client.get(f"/api/thumbnails?limit=2&cursor={tampered}")
    assert (response.status_code, response.json()["code"]) == (400, "invalid_cursor")
    other_order = owner_client.get(f"/api/thumbnails?limit=2&order=title&cursor={cursor}")
    assert other_order.json()["code"] == "invalid_cursor"
    with pytest.raises(InvalidCursor):
        page_of(Thumbnail.objects.all(), "garbage", 2)


def test_list_api_shape_and_parameter_allowlist(owner, owner_client, staff) -> None:
    [thumb] = make_thumbs(owner, [(1, "Hello", 0, False)])
    Thumbnail.objects.filter(pk=thumb.pk).update(
        parameters={
            "title": "Hello",
            "aspect_ratio": "16:9",
            "prompt": "SECRET",
            "image_b64": "AAAA",
        }
    )
    data = owner_client.get("/api/thumbnails").json()
    assert data["next_cursor"] is None
    [result] = data["results"]
    assert result["parameters"] == {"title": "Hello", "aspect_ratio": "16:9"}
    assert "SECRET" not in str(data) and "AAAA" not in str(data)
    assert (
        owner_client.get("/api/thumbnails?include_parameters=true")
        .json()["results"][0]["parameters"]
        .get("prompt")
        is None
    )
    thumb.owner = staff
    Thumbnail.objects.filter(pk=thumb.pk).update(owner=staff)
    from django.test import Client

    client = Client()
    client.force_login(staff)
    full = client.get("/api/thumbnails?include_parameters=true").json()["results"][0]
    assert full["parameters"]["prompt"] == "SECRET"


def test_projects_crud_and_delete_keeps_thumbnails(owner_client, owner) -> None:
    created = owner_client.post_json("/api/projects", {"name": "Season 2"})
    assert created.status_code == 201
    project_id = created.json()["id"]
    assert created.json()["name"] == "Season 2"
    [thumb] = make_thumbs(owner, [(1, "x", 0, False)])
    moved = owner_client.post_json(
        "/api/thumbnails/move", {"thumbnail_ids": [thumb.pk], "project_id": project_id}
    )
    assert moved.json() == {"moved": 1}
    assert [
        r["id"]
        for r in owner_client.get(f"/api/projects/{project_id}/thumbnails").json()["results"]
    ] == [thumb.pk]
    renamed = owner_client.patch(
        f"/api/projects/{project_id}", {"name": "S2"}, content_type="application/json"
    )
    assert renamed.json()["name"] == "S2"
    shared = owner_client.patch(  # one field alone: the name stays
        f"/api/projects/{project_id}", {"share_mode": "all"}, content_type="application/json"
    )
    assert shared.status_code == 200, shared.content
    assert (shared.json()["name"], shared.json()["share_mode"]) == ("S2", "all")
    assert owner_client.post_json("/api/projects", {"name": "  "}).status_code == 400
    assert owner_client.delete(f"/api/projects/{project_id}").status_code == 204
    thumb.refresh_from_db()
    assert thumb.project_id is None


def test_move_is_all_or_none_and_a_strangers_id_is_a_404(owner, owner_client, other) -> None:
    """A stranger's thumbnail id answered 200 `{"moved": 0}` (and beside the caller's own, moved
    those): every other endpoint answers 404 for it. Now any id not the caller's (another
    creator's, or gone) is a 404 and nothing moves; an id sent twice counts once."""
    project = Project.objects.create(owner=owner, name="Season 3")
    mine, also_mine = make_thumbs(owner, [(1, "Mine", 0, False), (2, "Also mine", 0, False)])
    [theirs] = make_thumbs(other, [(3, "Theirs", 0, False)])
    for ids in ([theirs.pk], [mine.pk, theirs.pk], [mine.pk, 2**62]):
        response = owner_client.post_json(
            "/api/thumbnails/move", {"thumbnail_ids": ids, "project_id": project.pk}
        )
        assert (response.status_code, response.json()["code"]) == (404, "not_found"), ids
    assert set(Thumbnail.objects.values_list("project_id", flat=True)) == {None}
    response = owner_client.post_json(
        "/api/thumbnails/move",
        {"thumbnail_ids": [mine.pk, also_mine.pk, mine.pk], "project_id": project.pk},
    )
    assert response.json() == {"moved": 2}
    assert list(project.thumbnails.order_by("pk").values_list("pk", flat=True)) == [
        mine.pk,
        also_mine.pk,
    ]


def test_project_default_settings_are_checked_stored_and_kept(owner, owner_client, other):
    """PRODUCT.md: a project has default generator settings. PATCH took them and changed
    nothing; now they are checked as a generate request's choices and stored whole."""
    from studio.models import Face, Style

    project = Project.objects.create(owner=owner, name="Shorts")
    face = Face.objects.create(owner=owner, name="Me")
    style = Style.objects.filter(owner__isnull=True).first()
    assert style is not None
    url = f"/api/projects/{project.pk}"
    settings_ = {"aspect_ratio": "9:16", "resolution": "2k", "variations": 2, "face_ids": [face.pk]}

    def patch(body: dict) -> Any:
        return owner_client.patch(url, json.dumps(body), content_type="application/json")

    saved = patch({"default_settings": {**settings_, "style_id": style.pk}})
    assert saved.status_code == 200, saved.content
    stored = saved.json()["default_settings"]
    assert (stored["aspect_ratio"], stored["resolution"], stored["variations"]) == ("9:16", "2K", 2)
    assert (stored["face_ids"], stored["style_id"], stored["pose"]) == ([face.pk], style.pk, "")
    assert saved.json()["name"] == "Shorts"
    bad = patch({"default_settings": {"aspect_ratio": "7:5"}})
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid")
    assert "aspect_ratio" in bad.json()["fields"]["default_settings"]
    strangers = Face.objects.create(owner=other, name="Not mine")
    assert patch({"default_settings": {"face_ids": [strangers.pk]}}).status_code == 404
    project.refresh_from_db()
    assert project.default_settings == stored  # neither refused change touched it
    assert patch({"default_settings": {}}).json()["default_settings"] == {}  # cleared


def test_the_studio_refuses_bad_defaults_with_a_readable_line(owner, owner_client, other):
    from studio.models import Face

    project = Project.objects.create(owner=owner, name="Mine")
    mine = Face.objects.create(owner=owner, name="Me")
    theirs = Face.objects.create(owner=other, name="Not me")
    for face_ids, expected in (
        (
            [str(mine.pk), "x"],
            "Not saved. The second face you picked was not found; reload the page and pick again.",
        ),
        ([str(theirs.pk)], "Not saved. Something you picked no longer exists."),
    ):
        refused = owner_client.post(
            "/studio/projects/defaults", {"project_id": project.pk, "face_ids": face_ids}
        )
        assert refused.status_code == 400, refused.content
        assert expected in refused.content.decode()
    project.refresh_from_db()
    assert project.default_settings == {}


def test_the_studio_saves_its_form_as_the_projects_defaults(owner, owner_client, other_client):
    project = Project.objects.create(owner=owner, name="Season 3")
    form = {"project_id": project.pk, "title": "ignored", "aspect_ratio": "16:9", "variations": "1"}
    response = owner_client.post("/studio/projects/defaults", form, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "Saved as the defaults of “Season 3”." in response.content.decode()
    event = json.loads(response["HX-Trigger"])["projectDefaultsSaved"]
    project.refresh_from_db()
    assert event == {"id": project.pk, "defaults": project.default_settings}
    assert "title" not in project.default_settings and project.default_settings["variations"] == 1
    studio = owner_client.get("/studio/").content.decode()
    assert f'<option value="{project.pk}" data-defaults="' in studio
    refused = owner_client.post(
        "/studio/projects/defaults", {"project_id": project.pk, "pose": "moonwalk"}
    )
    assert (refused.status_code, refused["HX-Retarget"]) == (400, "#project-defaults-status")
    strangers = other_client.post("/studio/projects/defaults", form)
    assert (strangers.status_code, strangers["HX-Retarget"]) == (400, "#project-defaults-status")


def test_favourite_public_and_delete_removes_files(
    owner, owner_client, django_capture_on_commit_callbacks
) -> None:
    job: Any = JobFactory(user=owner, title="Files", status="succeeded", thumbnails=True)
    thumb = Thumbnail.objects.get(job_id=job.pk)
    patched = owner_client.patch(
        f"/api/thumbnails/{thumb.pk}",
        {"is_favorite": True, "is_public": True},
        content_type="application/json",
    )
    assert (patched.json()["is_favorite"], patched.json()["is_public"]) == (True, True)
    paths = [thumb.image.path, thumb.image_small.path, thumb.download.path]
    import os

    assert all(os.path.exists(p) for p in paths)
    with django_capture_on_commit_callbacks(execute=True):
        assert owner_client.delete(f"/api/thumbnails/{thumb.pk}").status_code == 204
    assert not Thumbnail.objects.filter(pk=thumb.pk).exists()
    assert not any(os.path.exists(p) for p in paths)


def test_library_endpoints_404_for_strangers(owner, other_client) -> None:
    project = Project.objects.create(owner=owner, name="Mine")
    [thumb] = make_thumbs(owner, [(1, "x", 0, False)], project=project)
    assert other_client.get(f"/api/projects/{project.pk}").status_code == 404
    assert other_client.get(f"/api/projects/{project.pk}/thumbnails").status_code == 404
    assert other_client.get(f"/api/thumbnails?project={project.pk}").status_code == 404
    favorites = other_client.get("/api/thumbnails?favorites=maybe")
    assert (favorites.status_code, favorites.json()["code"]) == (400, "invalid")
    assert other_client.get("/api/thumbnails?favorites=off").status_code == 200
    assert (
        other_client.patch(
            f"/api/projects/{project.pk}", {"name": "y"}, content_type="application/json"
        ).status_code
        == 404
    )
    assert other_client.delete(f"/api/projects/{project.pk}").status_code == 404
    assert (
        other_client.patch(
            f"/api/thumbnails/{thumb.pk}", {"is_favorite": True}, content_type="application/json"
        ).status_code
        == 404
    )
    assert other_client.delete(f"/api/thumbnails/{thumb.pk}").status_code == 404
    assert (
        other_client.post_json(
            "/api/thumbnails/move", {"thumbnail_ids": [thumb.pk], "project_id": None}
        ).status_code
        == 404
    )
    assert other_client.get("/api/thumbnails").json()["results"] == []
    thumb.refresh_from_db()
    assert thumb.project_id == project.pk and not thumb.is_favorite


def test_a_move_without_project_id_is_refused_and_moves_nothing(owner, owner_client) -> None:
    """POST /api/thumbnails/move without `project_id` took the thumbnails out of their project
    (the field defaulted to null): now 400 `invalid` naming it, and nothing moves; null still
    means "no project"."""
    project = Project.objects.create(owner=owner, name="Kept")
    [thumb] = make_thumbs(owner, [(1, "x", 0, False)], project=project)
    missing = owner_client.post_json("/api/thumbnails/move", {"thumbnail_ids": [thumb.pk]})
    assert missing.status_code == 400, missing.content
    assert missing.json()["code"] == "invalid"
    assert list(missing.json()["fields"]) == ["project_id"]
    thumb.refresh_from_db()
    assert thumb.project_id == project.pk
    out = owner_client.post_json(
        "/api/thumbnails/move", {"thumbnail_ids": [thumb.pk], "project_id": None}
    )
    assert out.json() == {"moved": 1}
    thumb.refresh_from_db()
    assert thumb.project_id is None


def test_share_link_shows_only_what_it_should(owner, anon_client) -> None:
    project = Project.objects.create(owner=owner, name="Shared")
    fav, plain = make_thumbs(
        owner, [(1, "Fav one", 0, True), (2, "Plain one", 0, False)], project=project
    )
    make_thumbs(owner, [(3, "Not in project", 0, True)])
    url = f"/share/{project.share_token}/"
    assert anon_client.get(url).status_code == 404  # sharing off
    project.share_mode = "all"
    project.save()
    html = anon_client.get(url).content.decode()
    assert "Fav one" in html and "Plain one" in html and "Not in project" not in html
    # The studio gallery's one card size (app.css .thumb .frame: 16:9, other ratios letterboxed):
    # a frame shaped by its own thumbnail made a 9:16 card stretch its whole row.
    assert html.count('<div class="frame">') == 2 and 'class="frame" style' not in html
    project.share_mode = "favorites"
    project.save()
    html = anon_client.get(url).content.decode()
    assert "Fav one" in html and "Plain one" not in html
    # With nothing to show, the note is not inside a feed (a feed holds articles only; axe:
    # aria-required-children, critical).
    Thumbnail.objects.filter(pk=fav.pk).update(is_favorite=False)
    empty = anon_client.get(url).content.decode()
    assert "Nothing shared here yet." in empty and 'role="feed"' not in empty
    Thumbnail.objects.filter(pk=fav.pk).update(is_favorite=True)
    assert anon_client.get(f"/share/{project.share_token}/t/{plain.pk}").status_code == 404
    assert anon_client.get(f"/share/{project.share_token}/t/{fav.pk}").status_code == 200
    fav.refresh_from_db()
    assert fav.share_clicks == 1
    assert anon_client.get("/share/not-a-token/").status_code == 404


def test_the_studio_shows_share_clicks_on_the_card_it_sorts_them_by(owner, owner_client) -> None:
    make_thumbs(owner, [(1, "Clicked", 3, False), (2, "Quiet", 0, False)])
    html = owner_client.get("/studio/?order=clicks").content.decode()
    assert ">Most share clicks</option>" in html
    assert html.count("share click") == 1 + html.count("Most share clicks")
    assert "3 share clicks</span>" in html


def test_project_thumbnails_is_one_query(owner, owner_client) -> None:
    project = Project.objects.create(owner=owner, name="P")
    make_thumbs(owner, [(i, f"t{i}", 0, False) for i in range(30)], project=project)
    owner_client.get(f"/api/projects/{project.pk}/thumbnails")  # warm session
    with CaptureQueriesContext(connection) as queries:
        response = owner_client.get(f"/api/projects/{project.pk}/thumbnails")
    assert len(response.json()["results"]) == 20
    app_queries = [
        q["sql"]
        for q in queries.captured_queries
        if "studio_thumbnail" in q["sql"] or "studio_project" in q["sql"]
    ]
    assert len(app_queries) == 1, app_queries


def studio_query_count(client: Any) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/studio/").status_code == 200
    return len(queries.captured_queries)


def test_studio_query_count_does_not_grow_with_library(owner, owner_client) -> None:
    make_thumbs(owner, [(i, f"t{i}", 0, False) for i in range(10)])
    Project.objects.create(owner=owner, name="A")
    small = studio_query_count(owner_client)
    # 200 rows (ten pages) prove the count does not follow the library; the same at 10,000
    # rows, with timings, is benchmarks/gallery_pages.py.
    make_thumbs(owner, [(i, f"t{i}", i % 5, i % 3 == 0) for i in range(10, 200)])
    for n in range(20):
        Project.objects.create(owner=owner, name=f"P{n}")
    large = studio_query_count(owner_client)
    assert small == large, (small, large)
    assert large <= 15


def test_bootstrap_etag_304(owner, owner_client) -> None:
    make_thumbs(owner, [(1, "x", 0, False)])
    first = owner_client.get("/api/studio/bootstrap")
    assert first.status_code == 200
    data = first.json()
    assert set(data) >= {
        "plan",
        "credits_remaining",
        "styles",
        "palettes",
        "faces",
        "projects",
        "thumbnails",
        "jobs",
    }
    assert first["Cache-Control"].startswith("private")
    etag = first["ETag"]
    assert owner_client.get("/api/studio/bootstrap", HTTP_IF_NONE_MATCH=etag).status_code == 304
    make_thumbs(owner, [(2, "y", 0, False)])
    changed = owner_client.get("/api/studio/bootstrap", HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag


def test_bootstrap_304_to_a_gzip_client_sending_the_weakened_etag(owner, owner_client) -> None:
    """A compressed answer's ETag is weakened by the gzip middleware (`W/"..."`); a gzip client
    sends that back, and If-None-Match compares weakly (RFC 9110 13.1.2), so it answers 304 too
    (it answered 200 with the whole body: only identity clients got a 304)."""
    make_thumbs(owner, [(1, "x", 0, False)])
    first = owner_client.get("/api/studio/bootstrap", HTTP_ACCEPT_ENCODING="gzip")
    assert first.status_code == 200 and first["Content-Encoding"] == "gzip"
    etag = first["ETag"]
    assert etag.startswith('W/"')
    again = owner_client.get(
        "/api/studio/bootstrap", HTTP_ACCEPT_ENCODING="gzip", HTTP_IF_NONE_MATCH=etag
    )
    assert (again.status_code, again.content) == (304, b"")
    listed = f'"other", {etag}'
    assert owner_client.get("/api/studio/bootstrap", HTTP_IF_NONE_MATCH=listed).status_code == 304
    assert owner_client.get("/api/studio/bootstrap", HTTP_IF_NONE_MATCH="*").status_code == 304
    make_thumbs(owner, [(2, "y", 0, False)])
    changed = owner_client.get(
        "/api/studio/bootstrap", HTTP_ACCEPT_ENCODING="gzip", HTTP_IF_NONE_MATCH=etag
    )
    assert changed.status_code == 200


def test_seed_gallery_command(owner, django_capture_on_commit_callbacks, settings) -> None:
    settings.LOCAL_DEV = True  # a local run (tests/test_safe_defaults.py: refused otherwise)
    with CaptureQueriesContext(connection) as captured:
        call_command("seed_gallery", email="seeded@example.com", count=25, images=2, quiet=True)
    # PostgreSQL's planner gets fresh statistics after the bulk load (else it sorts every row
    # of a large library for each gallery page until autovacuum runs).
    analyzed = any(q["sql"].startswith("ANALYZE") for q in captured.captured_queries)
    assert analyzed == (connection.vendor == "postgresql")
    rows = Thumbnail.objects.filter(owner__email="seeded@example.com")
    assert rows.count() == 25
    assert rows.values("image").distinct().count() == 2
    first = rows.first()
    assert first is not None and first.image.storage.exists(first.image.name)
    # bulk_create skips save(): the command sets each title's search key itself.
    searched = GalleryFilter(q="COFFEE SHOPS").apply(rows)
    assert searched.count() == rows.filter(title__startswith="I Tried 100 Coffee").count() > 0
    # The rows share their files: deleting one (the studio, purge_expired_thumbnails) deleted
    # the pictures of every other row showing the same image.
    from studio.services import do_delete_thumbnail

    with django_capture_on_commit_callbacks(execute=True):
        do_delete_thumbnail(thumbnail=first)
    sharing = rows.filter(image=first.image.name).first()
    assert sharing is not None
    for field in ("image", "image_small", "image_medium", "download"):
        stored = getattr(sharing, field)
        assert stored.storage.exists(stored.name), field


def test_seed_gallery_adds_to_an_existing_account_and_refuses_a_bad_count(owner, settings) -> None:
    settings.LOCAL_DEV = True  # a local run (tests/test_safe_defaults.py: refused otherwise)
    out = io.StringIO()
    call_command(
        "seed_gallery", email=owner.email.upper(), count=3, images=1, quiet=True, stdout=out
    )
    assert Thumbnail.objects.filter(owner=owner).count() == 3
    assert "New account" not in out.getvalue()
    with pytest.raises(CommandError, match="at least 1"):
        call_command("seed_gallery", email=owner.email, count=-5, quiet=True)


@pytest.mark.postgres
def test_every_order_uses_its_composite_index(owner, other) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("EXPLAIN plans are checked on PostgreSQL (set DATABASE_URL)")
    project = Project.objects.create(owner=owner, name="P")
    # The same rows as make_thumbs(owner, [(i // 2, f"title {i % 97}", i % 13, i % 7 == 0) for i
    # in range(3000)]), 300 in the project and 3000 of another creator, written by PostgreSQL.
    insert_thumbs(
        owner,
        3000,
        offset="i / 2",
        title="'title ' || mod(i, 97)",
        clicks="mod(i, 13)",
        favorite="mod(i, 7) = 0",
    )
    insert_thumbs(owner, 300, title="'in project'", project=project)
    insert_thumbs(other, 3000, title="'theirs'")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE studio_thumbnail")
        cursor.execute("SET enable_seqscan = off")
    expectations = {
        GalleryFilter(order="newest"): "thumb_owner_newest",
        GalleryFilter(order="oldest"): "thumb_owner_newest",
        GalleryFilter(order="title"): "thumb_owner_title",
        GalleryFilter(order="clicks"): "thumb_owner_clicks",
        GalleryFilter(order="newest", favorites=True): "thumb_owner_favorites",
        GalleryFilter(order="newest", project=project.pk): "thumb_project_newest",
    }
    try:
        for filters, index in expectations.items():
            queryset = filters.apply(Thumbnail.objects.filter(owner=owner))
            first = page_of(queryset, None, 20, filters)
            assert first.next_cursor
            from studio.gallery import decode_cursor

            value, pk = decode_cursor(first.next_cursor, filters)
            deep = queryset.filter(ORDERS[filters.order].after(value, pk))[:21]
            for plan in (queryset[:21].explain(), deep.explain()):
                assert index in plan, (filters, plan)
                assert "Sort" not in plan, (filters, plan)
            assert "Index Cond" in deep.explain() and ORDERS[filters.order].field in deep.explain()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET enable_seqscan")


def test_library_project_ui_rename_share_delete(owner, owner_client, other_client) -> None:
    owner_client.post("/studio/projects", {"name": "Vlogs"})
    project = Project.objects.get(owner=owner)
    html = owner_client.get("/studio/library/").content.decode()
    assert 'id="projects"' in html and 'value="Vlogs"' in html
    response = owner_client.post(
        f"/studio/projects/{project.pk}", {"name": "Daily vlogs", "share_mode": "favorites"}
    )
    assert response.status_code == 302
    project.refresh_from_db()
    assert (project.name, project.share_mode) == ("Daily vlogs", "favorites")
    assert f"/share/{project.share_token}/" in owner_client.get("/studio/library/").content.decode()
    # Off, then on again: the link sent around before stays dead; the library shows the new one.
    old_link = f"/share/{project.share_token}/"
    for mode in ("off", "all"):
        owner_client.post(
            f"/studio/projects/{project.pk}", {"name": "Daily vlogs", "share_mode": mode}
        )
    project.refresh_from_db()
    assert project.share_mode == "all" and f"/share/{project.share_token}/" != old_link
    assert owner_client.get(old_link).status_code == 404
    assert f"/share/{project.share_token}/" in owner_client.get("/studio/library/").content.decode()
    assert other_client.post(f"/studio/projects/{project.pk}", {"name": "x"}).status_code == 404
    assert other_client.post(f"/studio/projects/{project.pk}/delete").status_code == 404
    [thumb] = make_thumbs(owner, [(1, "x", 0, False)])
    moved = owner_client.post(
        f"/studio/thumbnails/{thumb.pk}/move", {"project_id": project.pk}, HTTP_HX_REQUEST="true"
    )
    assert moved.status_code == 200 and f'value="{project.pk}" selected' in moved.content.decode()
    assert (
        other_client.post(f"/studio/thumbnails/{thumb.pk}/move", {"project_id": ""}).status_code
        == 404
    )
    assert owner_client.post(f"/studio/projects/{project.pk}/delete").status_code == 302
    thumb.refresh_from_db()
    assert thumb.project_id is None


def test_a_project_name_the_creator_already_uses_is_refused(
    owner, owner_client, other_client
) -> None:
    """Adding "Tech reviews" twice made two projects of that name, which the studio's project
    menus could not tell apart (walkthrough 2026-12-04): a name another of the creator's
    projects has, case and spaces aside, is refused with a plain message wherever projects are
    named, naming that project as it is spelled (it echoed what was typed); keeping a project's own name on save, and another creator's same name, stay fine."""
    assert owner_client.post("/api/projects", {"name": "Tech reviews"}).status_code == 201
    taken = "You already have a project named “Tech reviews”."
    studio = owner_client.post(
        "/studio/projects", {"name": " tech reviews "}, HTTP_HX_REQUEST="true"
    )
    assert studio.status_code == 409 and studio.json() == {"error": taken, "code": "name_taken"}
    api = owner_client.post(
        "/api/projects", {"name": "tech reviews"}, content_type="application/json"
    )
    assert api.status_code == 409 and api.json() == {"error": taken, "code": "name_taken"}
    assert Project.objects.filter(owner=owner).count() == 1
    assert other_client.post("/api/projects", {"name": "Tech reviews"}).status_code == 201
    vlogs = owner_client.post("/api/projects", {"name": "Vlogs"}).json()
    renamed = owner_client.patch(
        f"/api/projects/{vlogs['id']}", {"name": "TECH REVIEWS"}, content_type="application/json"
    )
    assert renamed.status_code == 409
    assert renamed.json() == {
        "error": "You already have a project named “Tech reviews”.",
        "code": "name_taken",
    }
    owner_client.post(
        f"/studio/projects/{vlogs['id']}", {"name": "Tech Reviews", "share_mode": "all"}
    )
    assert Project.objects.get(pk=vlogs["id"]).name == "Vlogs"
    # The library says which project was not saved, in its Projects panel (not a toast over it).
    library = owner_client.get("/studio/library/").content.decode()
    panel = library.split('id="projects-heading"')[1].split("</ul>")[0]
    assert (
        '<li class="error">The project “Vlogs” was not saved. '
        "You already have a project named “Tech reviews”.</li>"
    ) in panel
    owner_client.post("/studio/projects", {"name": "vlogs"})
    library = owner_client.get("/studio/library/").content.decode()
    panel = library.split('id="projects-heading"')[1].split("</ul>")[0]
    assert "The project was not created. You already have a project named “Vlogs”." in panel
    kept = owner_client.post(
        f"/studio/projects/{vlogs['id']}", {"name": "Vlogs", "share_mode": "all"}
    )
    assert kept.status_code == 302
    assert Project.objects.get(pk=vlogs["id"]).share_mode == "all"


def test_the_large_views_studio_link_goes_back_to_the_gallery_as_the_creator_left_it(
    owner, owner_client
) -> None:
    """Opened from one project's thumbnails in title order, the large view's "← Studio" went
    to the whole gallery, newest first (walkthrough 2026-12-04): it keeps the filters of the
    studio address the creator came from, and is the plain studio from anywhere else."""
    series = Project.objects.create(owner=owner, name="Series")
    [thumb] = make_thumbs(owner, [(1, "Coffee", 0, False)])
    page = f"/studio/thumbnails/{thumb.pk}"

    def back_link(referer: str) -> str:
        html = owner_client.get(page, HTTP_REFERER=referer).content.decode()
        return html.split('<p class="crumbs"><a href="', 1)[1].split('"', 1)[0]

    came_from = f"http://testserver/studio/?order=title&project={series.pk}&q=caf%C3%A9"
    assert back_link(came_from) == f"/studio/?order=title&amp;project={series.pk}&amp;q=caf%C3%A9"
    assert back_link("http://testserver/studio/?order=newest") == "/studio/"
    for elsewhere in (
        "http://testserver/studio/library/",
        "http://evil.example/studio/?order=title",
        "http://testserver/studio/?order=sideways",
        "http://[oops/studio/",
        "",
    ):
        assert back_link(elsewhere) == "/studio/", elsewhere


def test_a_card_a_change_takes_out_of_the_gallerys_filters_says_so(owner, owner_client) -> None:
    """Unstarred under Favourites, or moved out of the project shown, a card stayed as it was
    and was gone on a reload, as if the change had not applied (walkthrough 2026-12-04): it
    stays, so the change can be undone, dimmed and saying it has left this view."""
    series = Project.objects.create(owner=owner, name="Series")
    other = Project.objects.create(owner=owner, name="Other")
    [thumb] = make_thumbs(owner, [(1, "Coffee", 0, True)], project=series)
    note = "No longer under these filters: it leaves this view when the gallery reloads."

    def card(action: str, data: dict[str, Any], query: str) -> str:
        return owner_client.post(
            f"/studio/thumbnails/{thumb.pk}/{action}",
            data,
            HTTP_HX_REQUEST="true",
            HTTP_HX_CURRENT_URL=f"http://testserver/studio/{query}",
        ).content.decode()

    unstarred = card("favorite", {}, "?order=newest&favorites=true")
    assert 'class="thumb left-view"' in unstarred and note in unstarred
    starred = card("favorite", {}, "?order=newest&favorites=true")  # undone: back in the view
    assert "left-view" not in starred
    moved = card("move", {"project_id": other.pk}, f"?project={series.pk}")
    assert 'class="thumb left-view"' in moved and note in moved
    assert "left-view" not in card("move", {"project_id": series.pk}, f"?project={series.pk}")
    assert "left-view" not in card("favorite", {}, "")  # the whole gallery: nothing leaves it
    assert "left-view" not in card("move", {"project_id": ""}, "?q=coffee")


def test_deleting_from_the_large_view_goes_back_to_the_gallery_as_the_creator_left_it(
    owner, owner_client
) -> None:
    """Deleting a thumbnail (no other versions) from its large view, opened from one project's
    gallery, landed on the whole gallery (walkthrough 2026-12-04): it goes back to the studio
    address the large view's "← Studio" names; an address that is not the studio's, the
    plain studio."""
    series = Project.objects.create(owner=owner, name="Series")
    first, *others = make_thumbs(owner, [(n, f"Thumb {n}", 0, False) for n in range(4)])
    came_from = f"http://testserver/studio/?order=title&project={series.pk}"
    page = owner_client.get(f"/studio/thumbnails/{first.pk}", HTTP_REFERER=came_from)
    back = f"/studio/?order=title&project={series.pk}"
    assert f'<input type="hidden" name="studio" value="{escape(back)}">' in page.content.decode()
    deleted = owner_client.post(f"/studio/thumbnails/{first.pk}/delete", {"studio": back})
    assert deleted.status_code == 302 and deleted["Location"] == back
    elsewheres = ("//evil.example/studio/?order=title", "/studio/library/", "")
    for thumb, elsewhere in zip(others, elsewheres, strict=True):
        gone = owner_client.post(f"/studio/thumbnails/{thumb.pk}/delete", {"studio": elsewhere})
        assert gone["Location"] == "/studio/", elsewhere


def test_gallery_htmx_favourite_and_filters(owner, owner_client, other_client) -> None:
    make_thumbs(owner, [(1, "Coffee review", 0, False), (2, "Desert trip", 0, False)])
    coffee = Thumbnail.objects.get(title="Coffee review")
    card = owner_client.post(f"/studio/thumbnails/{coffee.pk}/favorite").content.decode()
    assert 'aria-pressed="true"' in card
    assert other_client.post(f"/studio/thumbnails/{coffee.pk}/favorite").status_code == 404
    page = owner_client.get("/studio/gallery?favorites=true").content.decode()
    assert "Coffee review" in page and "Desert trip" not in page
    searched = owner_client.get("/studio/gallery?q=desert").content.decode()
    assert "Desert trip" in searched and "Coffee review" not in searched


def test_a_favourite_sent_twice_or_from_a_stale_card_keeps_what_was_asked(
    owner, owner_client
) -> None:
    """Favourite flipped whatever the state was: a resent request, or a second tab's card drawn
    before the first tab starred it, undid the star."""
    make_thumbs(owner, [(1, "Coffee review", 0, False)])
    coffee = Thumbnail.objects.get(title="Coffee review")
    url = f"/studio/thumbnails/{coffee.pk}/favorite"
    card = owner_client.get("/studio/").content.decode()
    assert """hx-vals='{"favorite": "true"}'""" in card  # what the unstarred card's button asks
    for _ in range(2):
        starred = owner_client.post(url, {"favorite": "true"}).content.decode()
        assert 'aria-pressed="true"' in starred
        assert """hx-vals='{"favorite": "false"}'""" in starred
    coffee.refresh_from_db()
    assert coffee.is_favorite
    owner_client.post(url, {"favorite": "false"})
    owner_client.post(url, {"favorite": "false"})
    coffee.refresh_from_db()
    assert not coffee.is_favorite


def test_a_cards_action_on_a_thumbnail_gone_removes_the_card_and_says_so(
    owner, owner_client, other
) -> None:
    """A card whose thumbnail was deleted in another tab: its Favourite, Delete and project menu
    got a bare 404 that htmx swaps nowhere, and the page showed nothing. The htmx answer now
    names the card as its target (empty: it goes) and carries a message; it is still a 404, the
    same for a stranger's thumbnail as for a deleted one of the creator's own."""
    make_thumbs(owner, [(1, "Mine, deleted", 0, False)])
    make_thumbs(other, [(2, "A stranger's", 0, False)])
    mine = Thumbnail.objects.get(title="Mine, deleted")
    stranger = Thumbnail.objects.get(title="A stranger's")
    owner_client.post(f"/studio/thumbnails/{mine.pk}/delete", HTTP_HX_REQUEST="true")
    assert not Thumbnail.objects.filter(pk=mine.pk).exists()
    answers = {}
    for action, data in (("favorite", {"favorite": "true"}), ("delete", {}), ("move", {})):
        for thumbnail in (mine, stranger):
            response = owner_client.post(
                f"/studio/thumbnails/{thumbnail.pk}/{action}", data, HTTP_HX_REQUEST="true"
            )
            answer = (
                response.status_code,
                response.content,
                {name: response.get(name) for name in ("HX-Retarget", "HX-Reswap", "HX-Trigger")},
            )
            answers.setdefault(action, set()).add(json.dumps(answer, default=repr))
            assert response.status_code == 404, action
            assert response["HX-Retarget"] == "closest .thumb"
            assert response.content == b""
            assert json.loads(response["HX-Trigger"]) == {
                "showMessage": {"level": "info", "text": "This thumbnail was deleted."}
            }
    assert all(len(seen) == 1 for seen in answers.values()), answers
    stranger.refresh_from_db()  # untouched
    assert not stranger.is_favorite
    # Without htmx (a form, the API's clients): Django's 404 page, as before.
    plain = owner_client.post(f"/studio/thumbnails/{stranger.pk}/favorite")
    assert plain.status_code == 404 and "HX-Trigger" not in plain


def test_a_favourite_other_than_true_or_false_is_refused(owner, owner_client) -> None:
    """`favorite=maybe` answered 200 and was read as false (unstarring); only the documented
    "true" and "false" are taken, and no value at all flips the star."""
    make_thumbs(owner, [(1, "Coffee review", 0, True)])
    coffee = Thumbnail.objects.get(title="Coffee review")
    url = f"/studio/thumbnails/{coffee.pk}/favorite"
    for bad in ("maybe", "1", "yes", "False", "on"):
        response = owner_client.post(url, {"favorite": bad}, HTTP_HX_REQUEST="true")
        assert response.status_code == 400, bad
        assert (response.json()["code"], list(response.json()["fields"])) == (
            "invalid",
            ["favorite"],
        )
        assert response.json()["error"] == 'favorite: Must be "true" or "false".'
        coffee.refresh_from_db()
        assert coffee.is_favorite, bad
    assert 'aria-pressed="false"' in owner_client.post(url, {"favorite": ""}).content.decode()
    assert 'aria-pressed="true"' in owner_client.post(url).content.decode()


def test_a_cards_move_and_public_refusals_are_json_errors(owner, owner_client) -> None:
    """The card's move to a project and the large view's public switch answered a bad value in
    plain text; like Favourite beside them, they answer `{"error", "code": "invalid"}`."""
    make_thumbs(owner, [(1, "Coffee review", 0, False)])
    coffee = Thumbnail.objects.get(title="Coffee review")
    for path, data in (
        (f"/studio/thumbnails/{coffee.pk}/move", {"project_id": "abc"}),
        (f"/studio/thumbnails/{coffee.pk}/public", {"public": "maybe"}),
    ):
        response = owner_client.post(path, data, HTTP_HX_REQUEST="true")
        assert response.status_code == 400, path
        assert response.json()["code"] == "invalid", path
    coffee.refresh_from_db()
    assert coffee.project_id is None and not coffee.is_public


def test_the_studio_address_keeps_the_gallery_filters(owner, owner_client) -> None:
    """A reload lost the creator's filters: the filter form's answer now replaces the studio's
    address with them (HX-Replace-Url), and the studio page opened at it shows them picked and
    the gallery filtered. Later pages and other pages' requests leave the address alone."""
    make_thumbs(owner, [(1, "Coffee review", 0, False), (2, "Desert trip", 0, False)])
    studio = {"HTTP_HX_REQUEST": "true", "HTTP_HX_CURRENT_URL": "http://testserver/studio/"}
    answer = owner_client.get("/studio/gallery?q=desert&order=title&favorites=", **studio)
    assert answer["HX-Replace-Url"] == "/studio/?order=title&q=desert"
    page = owner_client.get(answer["HX-Replace-Url"]).content.decode()
    assert 'value="desert"' in page and '<option value="title" selected>' in page
    assert "Desert trip" in page and "Coffee review" not in page
    cleared = owner_client.get("/studio/gallery?q=&order=newest", **studio)
    assert cleared["HX-Replace-Url"] == "/studio/"
    later = owner_client.get("/studio/gallery?q=desert&cursor=x", **studio)
    assert "HX-Replace-Url" not in later
    elsewhere = {**studio, "HTTP_HX_CURRENT_URL": "http://testserver/studio/thumbnails/1"}
    assert "HX-Replace-Url" not in owner_client.get("/studio/gallery?q=desert", **elsewhere)


def test_the_migration_gives_existing_thumbnails_their_search_key(owner, monkeypatch) -> None:
    import importlib

    from django.apps import apps

    migration = importlib.import_module("studio.migrations.0008_thumbnail_search_title")
    made = make_thumbs(owner, [(i, f"Café n°{i}", 0, False) for i in range(5)])
    Thumbnail.objects.filter(pk__in=[t.pk for t in made]).update(search_title="")  # as before
    monkeypatch.setattr(migration, "BATCH", 2)  # several batches
    migration.backfill(apps, None)
    keys = set(Thumbnail.objects.filter(owner=owner).values_list("search_title", flat=True))
    assert keys == {f"cafe n°{i}" for i in range(5)}


def test_search_ignores_case_and_accents_in_every_script(owner, owner_client) -> None:
    titles = [
        "Café Tour: Lisbon",
        "ÉTÉ À PARIS",
        "Straße der Cafés",
        "東京カフェ巡り",
        "Desert trip",
    ]
    make_thumbs(owner, [(i, title, 0, False) for i, title in enumerate(titles)])
    # One made as the studio makes them (a generate job's thumbnail): save() sets its key.
    JobFactory(user=owner, title="Crème brûlée", status="succeeded", thumbnails=True)

    def found(q: str) -> set[str]:
        page = owner_client.get("/studio/gallery", {"q": q}).content.decode()
        return {title for title in [*titles, "Crème brûlée"] if escape(title) in page}

    assert found("cafe") == {"Café Tour: Lisbon", "Straße der Cafés"}
    assert found("CAFÉS") == {"Straße der Cafés"}
    assert found("été à") == {"ÉTÉ À PARIS"}
    assert found("strasse") == {"Straße der Cafés"}
    assert found("カフェ") == {"東京カフェ巡り"}
    assert found("creme brulee") == {"Crème brûlée"}
    assert found("100%") == set()  # LIKE's wildcards are matched literally


def test_search_finds_titles_with_every_word_in_any_order(owner, owner_client) -> None:
    """ "iphone pixel" found nothing although "iPhone vs Pixel: The Honest Review" was there:
    the query matched as one phrase. Each word must be in the title, in any order, case and
    accents aside; the page stays one query however many words, and the keyset pages of a multi-word search still join up
    (test_pages_concatenate_to_the_full_ordered_list)."""
    titles = [
        "iPhone vs Pixel: The Honest Review",
        "Pixel 9 camera test",
        "iPhone 17 unboxing",
        "Café crème review",
    ]
    make_thumbs(owner, [(i, title, 0, False) for i, title in enumerate(titles)])

    def found(q: str) -> set[str]:
        results = owner_client.get("/api/thumbnails", {"q": q}).json()["results"]
        return {t["title"] for t in results}

    assert found("iphone pixel") == {titles[0]}
    assert found("PIXEL   iPhone") == {titles[0]}  # any order, any spacing
    assert found("honest review") == {titles[0]}  # the phrase still matches
    assert found("review") == {titles[0], titles[3]}
    assert found("creme REVIEW") == {titles[3]}
    assert found("iphone android") == set()  # every word, not any
    assert found("pixel pixel") == {titles[0], titles[1]}
    # More words add conditions to the page's one query, not queries.
    counts = []
    for q in ("iphone", "iphone pixel honest review"):
        with CaptureQueriesContext(connection) as captured:
            assert owner_client.get("/studio/gallery", {"q": q}).status_code == 200
        counts.append(len(captured.captured_queries))
        thumbnail_queries = [x for x in captured.captured_queries if "search_title" in x["sql"]]
        assert len(thumbnail_queries) == 1, thumbnail_queries
    assert counts[0] == counts[1], counts
    assert owner_client.get("/studio/gallery?cursor=tampered").status_code == 400


def test_sharing_turned_off_in_the_admin_kills_the_old_link(
    staff: Any, owner: Any, owner_client: Any, anon_client: Any
) -> None:
    project = Project.objects.create(owner=owner, name="Shared", share_mode="all")
    old_link = f"/share/{project.share_token}/"
    assert anon_client.get(old_link).status_code == 200
    admin = Client()
    admin.force_login(staff)
    form = {"owner": owner.pk, "name": "Shared", "default_settings": "{}", "share_mode": "off"}
    response = admin.post(f"/admin/studio/project/{project.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert anon_client.get(old_link).status_code == 404
    # Shared again by the creator: a new link; the one sent around stays dead.
    owner_client.patch(
        f"/api/projects/{project.pk}", json.dumps({"share_mode": "all"}), "application/json"
    )
    project.refresh_from_db()
    assert anon_client.get(f"/share/{project.share_token}/").status_code == 200
    assert anon_client.get(old_link).status_code == 404


def test_a_share_link_has_a_link_preview_and_is_not_indexed(owner, anon_client) -> None:
    """Pasted into Slack, Discord or X, a share link showed no picture and no title (the pages
    had no Open Graph tags), and nothing asked search engines to leave an unlisted link out
    (walkthrough 2026-12-04)."""
    import re

    project = Project.objects.create(owner=owner, name="Coffee & co", share_mode="all")
    (thumb,) = make_thumbs(owner, [(1, "Day 1", 0, False)], project=project)
    base = f"http://testserver/share/{project.share_token}"

    def meta(path: str) -> dict[str, str]:
        html = anon_client.get(path).content.decode()
        head = html.split("</head>")[0]
        return dict(re.findall(r'<meta (?:property|name)="([^"]+)" content="([^"]*)"', head))

    page = meta(f"/share/{project.share_token}/")
    assert page["robots"] == "noindex, nofollow"
    assert page["og:title"] == "Coffee &amp; co"
    assert page["og:image"] == f"{base}/i/{thumb.pk}/medium"
    assert page["twitter:card"] == "summary_large_image"
    one = meta(f"/share/{project.share_token}/t/{thumb.pk}")
    assert one["robots"] == "noindex, nofollow"
    assert one["og:title"] == "Day 1"
    assert one["og:url"] == f"{base}/t/{thumb.pk}"
    assert one["og:image"] == f"{base}/i/{thumb.pk}/medium"


def test_the_library_says_when_a_share_link_shows_an_empty_page(owner, owner_client) -> None:
    """A project shared as "Favourites only" with no favourite sent visitors "Nothing shared
    here yet." while the library showed the link as if it worked; it now says so beside it,
    with the way to fix it, until a thumbnail of the project is starred."""
    project = Project.objects.create(owner=owner, name="Vlogs", share_mode="favorites")
    [thumb] = make_thumbs(owner, [(1, "Day one", 0, False)], project=project)
    make_thumbs(owner, [(2, "Elsewhere", 0, True)])  # a favourite, but of no project
    empty = "None of this project's thumbnails is a favourite yet"
    html = owner_client.get("/studio/library/").content.decode()
    assert empty in html and f'href="/studio/?project={project.pk}"' in html
    owner_client.post(f"/studio/thumbnails/{thumb.pk}/favorite")
    assert empty not in owner_client.get("/studio/library/").content.decode()
    # Shared while it has no thumbnails at all: that is what it says, favourites or all.
    Thumbnail.objects.filter(project=project).update(project=None)
    for mode in ("favorites", "all"):
        project.share_mode = mode
        project.save()
        html = owner_client.get("/studio/library/").content.decode()
        assert "This project has no thumbnails yet, so the link shows an empty page." in html
        assert empty not in html


def test_the_studio_at_a_deleted_projects_address_shows_every_thumbnail(
    owner, owner_client, other
) -> None:
    """The library's "open in the studio" link or the Back button kept a deleted project's id
    in the studio's address, and the gallery said "No thumbnails match." under "All projects":
    the studio now drops the project from its address (the other filters stay) and says why.
    Another creator's project reads the same as a deleted one."""
    make_thumbs(owner, [(1, "Coffee review", 0, True)])
    owner_client.post("/studio/projects", {"name": "Gone soon"})
    gone = Project.objects.get(owner=owner)
    owner_client.post(f"/studio/projects/{gone.pk}/delete")
    theirs = Project.objects.create(owner=other, name="Theirs")
    for project_id in (gone.pk, theirs.pk):
        response = owner_client.get(f"/studio/?project={project_id}&favorites=true")
        assert response.status_code == 302
        assert response["Location"] == "/studio/?order=newest&favorites=true"
        html = owner_client.get(response["Location"]).content.decode()
        assert "That project no longer exists; the gallery shows all projects." in html
        assert "Coffee review" in html and "No thumbnails match." not in html
    mine = Project.objects.create(owner=owner, name="Mine")
    assert owner_client.get(f"/studio/?project={mine.pk}").status_code == 200


def test_a_thumbnail_is_deleted_from_its_large_view(owner, owner_client, other_client) -> None:
    """The large view had no Delete: a creator looking at a failed variation went back to the
    gallery to find its card (third walkthrough). It has one, asking first; it leads on to the
    newest other version of the line, or to the studio once none is left. The gallery's
    Delete (htmx) still answers an empty card."""
    original = ThumbnailFactory(owner=owner, title="Original")
    first_edit = ThumbnailFactory(owner=owner, title="Edit 1", parent=original, root=original)
    second_edit = ThumbnailFactory(owner=owner, title="Edit 2", parent=first_edit, root=original)
    page = owner_client.get(f"/studio/thumbnails/{second_edit.pk}").content.decode()
    assert (
        f'<form method="post" action="/studio/thumbnails/{second_edit.pk}/delete" '
        'class="delete-thumbnail" data-confirm="Delete this thumbnail? Its files are removed '
        'too. Its other versions stay.">'
    ) in page
    assert other_client.post(f"/studio/thumbnails/{second_edit.pk}/delete").status_code == 404
    gone = owner_client.post(f"/studio/thumbnails/{second_edit.pk}/delete")
    assert gone.status_code == 302 and gone["Location"] == f"/studio/thumbnails/{first_edit.pk}"
    landed = owner_client.get(gone["Location"]).content.decode()
    assert "Thumbnail deleted; its files are removed too." in landed
    gone = owner_client.post(f"/studio/thumbnails/{original.pk}/delete")
    assert gone["Location"] == f"/studio/thumbnails/{first_edit.pk}"
    gone = owner_client.post(f"/studio/thumbnails/{first_edit.pk}/delete")
    assert gone["Location"] == "/studio/"
    assert not Thumbnail.objects.filter(owner=owner).exists()
    card = ThumbnailFactory(owner=owner)
    answer = owner_client.post(f"/studio/thumbnails/{card.pk}/delete", HTTP_HX_REQUEST="true")
    assert (answer.status_code, answer.content) == (200, b"")


def test_a_thumbnails_page_marks_the_studio_as_where_the_creator_is(
    owner: Any, owner_client: Any
) -> None:
    """The top menu's Studio item was not highlighted on a thumbnail's large view (walkthrough
    2026-12-04): it is marked current there (that page is inside the studio) as on the studio."""
    thumb: Any = ThumbnailFactory(owner=owner, title="Large view")
    page = owner_client.get(f"/studio/thumbnails/{thumb.pk}").content.decode()
    assert '<a href="/studio/" aria-current="true">Studio</a>' in page
    assert page.count('aria-current="true"') == 1  # only the Studio item
    studio = owner_client.get("/studio/").content.decode()
    assert '<a href="/studio/" aria-current="page">Studio</a>' in studio


def test_error_pages_highlight_no_menu_item(owner, other, owner_client) -> None:
    """A 404 raised by the large view's own view (a stranger's or deleted thumbnail) marked the
    Studio item current: an error page is in no section of the site."""
    strangers: Any = ThumbnailFactory(owner=other)
    for url in (f"/studio/thumbnails/{strangers.pk}", "/studio/no-such-page", "/studio/generate"):
        response = owner_client.get(url)
        assert response.status_code in (404, 405), url
        page = response.content.decode()
        assert '<nav aria-label="Main">' in page and ">Studio</a>" in page, url
        assert "aria-current" not in page, url
