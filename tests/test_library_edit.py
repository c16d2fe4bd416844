"""Editing a creator's own styles and palettes: in the library (htmx tiles, plain forms without
JS) and in the JSON API. A stranger's is a 404, built-in ones are read-only, bad input is a 4xx
`{"error", "code"}`, and an edited style's preview is drawn again."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from PIL import Image

from core import shared_cache
from generation.models import Job
from studio import services
from studio.models import Palette, Style
from tests.conftest import set_plan

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def jpeg(color: tuple[int, int, int] = (200, 40, 40)) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 180), color).save(buffer, "JPEG")
    return SimpleUploadedFile("ref.jpg", buffer.getvalue(), "image/jpeg")


@pytest.fixture
def style(owner: Any) -> Style:
    from tests.factories.studio import uploaded_style

    return uploaded_style(owner, name="Orange pop")


@pytest.fixture
def palette(owner: Any) -> Palette:
    return Palette.objects.create(
        owner=owner, name="Sunset", colors=["#FF0044", "#111111", "#FFD400"]
    )


def preview_bytes(style: Style) -> bytes:
    style.refresh_from_db()
    with style.preview.open("rb") as handle:
        return handle.read()


def test_the_api_edits_a_style_and_redraws_its_preview(
    owner_client: Any, style: Style, django_capture_on_commit_callbacks: Any
) -> None:
    before = preview_bytes(style)
    old_preview = style.preview.name
    [old_ref] = style.reference_images.all()
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.patch(
            f"/api/styles/{style.pk}",
            {"name": "Teal pop", "description": "Cool", "prompt": "Teal everything."},
            content_type="application/json",
        )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["name"], body["description"], body["prompt"]) == (
        "Teal pop",
        "Cool",
        "Teal everything.",
    )
    assert [r["id"] for r in body["reference_images"]] == [old_ref.pk]
    style.refresh_from_db()
    assert (style.name, style.prompt) == ("Teal pop", "Teal everything.")
    assert style.preview.name != old_preview
    assert preview_bytes(style) != before  # drawn with the new name

    # Images: one removed, two added (multipart), the old file deleted after the commit.
    stored = old_ref.image.name or ""
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.patch(
            f"/api/styles/{style.pk}",
            _multipart({"remove_reference_ids": [str(old_ref.pk)]}, [jpeg(), jpeg((0, 90, 200))]),
            content_type="multipart/form-data; boundary=BoUnDaRy",
        )
    assert response.status_code == 200, response.json()
    assert len(response.json()["reference_images"]) == 2
    assert style.reference_images.count() == 2
    assert not old_ref.image.storage.exists(stored)


def _multipart(fields: dict[str, list[str]], files: list[SimpleUploadedFile]) -> bytes:
    """A multipart body (the test client encodes only POST bodies itself)."""
    from django.test.client import encode_multipart

    data: dict[str, Any] = dict(fields)
    if files:
        data["reference_images"] = files
    return encode_multipart("BoUnDaRy", data)


def test_the_api_refuses_bad_edits(owner_client: Any, style: Style) -> None:
    url = f"/api/styles/{style.pk}"
    cases = [
        ({"name": ""}, 400),
        ({"prompt": "x" * 2001}, 400),
        ({"remove_reference_ids": [999999]}, 400),
        ({"name": 5}, 400),
    ]
    for body, status in cases:
        response = owner_client.patch(url, body, content_type="application/json")
        assert response.status_code == status, body
        assert set(response.json()) >= {"error", "code"}
    too_many = owner_client.patch(
        url,
        _multipart({}, [jpeg() for _ in range(4)]),  # one kept + 4 = 5
        content_type="multipart/form-data; boundary=BoUnDaRy",
    )
    assert too_many.status_code == 400
    assert too_many.json()["code"] == "invalid"
    assert "at most 4" in too_many.json()["error"]
    unknown = owner_client.patch(  # a form field the style does not have: refused, not ignored
        url,
        _multipart({"name": ["Renamed"], "title": ["x"]}, [jpeg()]),
        content_type="multipart/form-data; boundary=BoUnDaRy",
    )
    assert unknown.status_code == 400
    assert (unknown.json()["code"], list(unknown.json()["fields"])[1:]) == ("invalid", ["title"])
    style.refresh_from_db()
    assert style.name == "Orange pop" and style.reference_images.count() == 1


def test_strangers_and_built_ins(owner_client: Any, other_client: Any, style: Style) -> None:
    assert (
        other_client.patch(
            f"/api/styles/{style.pk}", {"name": "Mine now"}, content_type="application/json"
        ).status_code
        == 404
    )
    assert other_client.get(f"/api/styles/{style.pk}").status_code == 404
    assert other_client.post(f"/studio/library/styles/{style.pk}", {"name": "x"}).status_code == 404
    builtin = Style.objects.filter(owner__isnull=True).first()
    assert builtin is not None
    refused = owner_client.patch(
        f"/api/styles/{builtin.pk}", {"name": "Mine now"}, content_type="application/json"
    )
    assert refused.status_code == 403 and refused.json()["code"] == "read_only"
    assert owner_client.delete(f"/api/styles/{builtin.pk}").status_code == 403
    assert owner_client.get(f"/api/styles/{builtin.pk}").status_code == 200
    built_palette = Palette.objects.filter(owner__isnull=True).first()
    assert built_palette is not None
    refused = owner_client.patch(
        f"/api/palettes/{built_palette.pk}", {"name": "x"}, content_type="application/json"
    )
    assert refused.status_code == 403 and refused.json()["code"] == "read_only"
    assert (
        owner_client.post(f"/studio/library/styles/{builtin.pk}", {"name": "x"}).status_code == 404
    )


def test_the_api_edits_a_palette(owner_client: Any, other_client: Any, palette: Palette) -> None:
    url = f"/api/palettes/{palette.pk}"
    response = owner_client.patch(
        url,
        {"name": "Dusk", "colors": ["#000000", "#ffffff", "#00ff00", "#123456"]},
        content_type="application/json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["colors"] == ["#000000", "#FFFFFF", "#00FF00", "#123456"]
    palette.refresh_from_db()
    assert (palette.name, len(palette.colors)) == ("Dusk", 4)
    for bad in (["#000000"], ["#000000", "#000000", "#FFFFFF"], ["red", "#000000", "#FFFFFF"], "x"):
        refused = owner_client.patch(url, {"colors": bad}, content_type="application/json")
        assert refused.status_code == 400 and refused.json()["code"] == "invalid", bad
    # The same words as the library's forms, as {"error", "code"}.
    seven = ["#112233", "#ABCDEF", "#ABCDEF", "#FF0000", "#00FF00", "#0000FF", "#FFFFFF"]
    for colors, message in (
        (seven, "A palette has 3 to 6 colours; this has 7."),
        (seven[:6], "Give each colour once: #ABCDEF repeats."),
    ):
        refused = owner_client.patch(url, {"colors": colors}, content_type="application/json")
        body = refused.json()
        assert refused.status_code == 400 and body["code"] == "invalid", body
        assert message in body["error"], body
    assert (
        other_client.patch(url, {"name": "x"}, content_type="application/json").status_code == 404
    )
    # The list the studio's pickers read from the cache shows the new name.
    names = [p["name"] for p in owner_client.get("/api/palettes").json()["results"]]
    assert "Dusk" in names and "Sunset" not in names


def test_the_library_tile_edits_a_style_with_htmx(
    owner_client: Any, style: Style, django_capture_on_commit_callbacks: Any
) -> None:
    page = owner_client.get("/studio/library/").content.decode()
    assert f'hx-post="/studio/library/styles/{style.pk}"' in page
    [ref] = style.reference_images.all()
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            f"/studio/library/styles/{style.pk}",
            {
                "name": "Night pop",
                "description": "",
                "prompt": "Dark and neon.",
                "remove_reference_ids": [str(ref.pk)],
                "reference_images": [jpeg((10, 10, 80))],
            },
            **HTMX,
        )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith(f'<li class="tile" id="style-{style.pk}"')
    assert "Style saved." in html and "Night pop" in html
    style.refresh_from_db()
    assert (style.name, style.prompt) == ("Night pop", "Dark and neon.")
    assert [r.pk for r in style.reference_images.all()] != [ref.pk]

    refused = owner_client.post(
        f"/studio/library/styles/{style.pk}", {"name": "", "prompt": "Still here"}, **HTMX
    )
    assert refused.status_code == 200
    assert "The style was not saved." in refused.content.decode()
    style.refresh_from_db()
    assert style.name == "Night pop"

    # Without JS: a redirect to the library's styles, which says so.
    plain = owner_client.post(
        f"/studio/library/styles/{style.pk}", {"name": "Day pop", "prompt": "Bright."}
    )
    assert plain.status_code == 302 and plain["Location"].endswith("/studio/library/#styles")
    assert "Style saved." in owner_client.get("/studio/library/").content.decode()


def library_page(client: Any) -> tuple[int, str]:
    """The library page's query count and HTML (asked twice: the first warms the session and
    the shared cache)."""
    client.get("/studio/library/")
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/studio/library/")
    assert response.status_code == 200
    return len(queries.captured_queries), response.content.decode()


@pytest.mark.parametrize(
    "cached",
    [
        pytest.param(False, id="in-a-transaction"),
        pytest.param(
            True,
            id="from-the-shared-cache",
            marks=pytest.mark.django_db(transaction=True, serialized_rollback=True),
        ),
    ],
)
def test_the_library_query_count_does_not_grow_with_the_creators_styles(
    owner: Any, owner_client: Any, cached: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each of the creator's style tiles lists its reference images to tick for removal. They
    were read one query per style (14 queries with 2 styles, 18 with 6); now one query for all,
    whether the styles come from the shared cache or, inside a transaction, the database."""
    from studio import style_previews
    from tests.factories.studio import uploaded_style

    # Each new style's preview is drawn as "Style": one render per test process (the memo in
    # tests/conftest.py) instead of one per name (0.2 CPU-s each); this counts queries.
    draw = style_previews.render_preview
    monkeypatch.setattr(
        style_previews, "render_preview", lambda **kwargs: draw(**{**kwargs, "name": "Style"})
    )
    assert shared_cache.in_use() is cached
    set_plan(owner, "pro")
    for n in range(2):
        uploaded_style(owner, name=f"Style {n}", public=n == 0)
    few, _ = library_page(owner_client)
    for n in range(2, 6):
        uploaded_style(owner, name=f"Style {n}", public=n == 2)
    many, html = library_page(owner_client)
    assert few == many, (few, many)
    for n in range(6):
        assert f'alt="Reference image 1 of Style {n}"' in html


def test_the_library_tile_edits_a_palette_with_htmx(owner_client: Any, palette: Palette) -> None:
    response = owner_client.post(
        f"/studio/library/palettes/{palette.pk}",
        {"name": "Dusk", "colors": "#000000, #FFFFFF #00ff00"},
        **HTMX,
    )
    assert response.status_code == 200
    assert "Palette saved." in response.content.decode()
    palette.refresh_from_db()
    assert (palette.name, palette.colors) == ("Dusk", ["#000000", "#FFFFFF", "#00FF00"])
    refused = owner_client.post(
        f"/studio/library/palettes/{palette.pk}", {"name": "Dusk", "colors": "#000000"}, **HTMX
    )
    html = refused.content.decode()
    assert "The palette was not saved. A palette has 3 to 6 colours; this has 1." in html
    seven = "#112233, #ABCDEF, #ABCDEF, #FF0000, #00FF00, #0000FF, #FFFFFF"  # 61 characters
    field = re.search(r'<input[^>]* name="colors"[^>]*>', html)
    assert field and "maxlength" not in field.group(0)  # the browser cut a seventh to "#FFFFF"
    refused = owner_client.post(
        f"/studio/library/palettes/{palette.pk}", {"name": "Dusk", "colors": seven}, **HTMX
    )
    assert "A palette has 3 to 6 colours; this has 7." in refused.content.decode()
    assert 'value="#000000"' in html  # what was typed stays in the form
    # The values that are not colours are named first ("Give 3 to 6 colours." sent the creator
    # looking for a missing one), in the tile and the API alike.
    refused = owner_client.post(
        f"/studio/library/palettes/{palette.pk}",
        {"name": "Dusk", "colors": "#12345, banana"},
        **HTMX,
    )
    assert (
        "&quot;#12345&quot;, &quot;banana&quot; are not colours: give each as # and 6 hex "
        "digits, e.g. #FF0044." in refused.content.decode()
    )
    api = owner_client.patch(
        f"/api/palettes/{palette.pk}",
        {"colors": ["#000000", "#FFFFFF", "#00FF00", "red", "#111111", "#222222", "#333333"]},
        content_type="application/json",
    )
    assert api.json()["error"] == (
        'colors: "red" is not a colour: give each as # and 6 hex digits, e.g. #FF0044.'
    )
    seven = ["#000000", "#FFFFFF", "#00FF00", "#111111", "#222222", "#333333", "#444444"]
    api = owner_client.patch(
        f"/api/palettes/{palette.pk}", {"colors": seven}, content_type="application/json"
    )
    assert api.json()["error"] == "colors: A palette has 3 to 6 colours; this has 7."


def test_a_refused_style_edit_keeps_the_tile_saying_the_saved_style(
    owner: Any, owner_client: Any, style: Style
) -> None:
    """A refused edit shows what was typed in the form only: the tile's heading, its preview's
    alt and its Delete still name the style as saved (the refused name there read as a rename
    that had applied)."""
    Style.objects.create(owner=owner, name="Night drive", prompt="x")
    response = owner_client.post(
        f"/studio/library/styles/{style.pk}",
        {"name": "night DRIVE", "description": "typed", "prompt": "New prompt."},
        **HTMX,
    )
    html = response.content.decode()
    assert "You already have a style named “Night drive”." in html
    assert "<strong>Orange pop</strong>" in html
    assert 'alt="Preview of the Orange pop style"' in html
    assert 'aria-label="Delete style Orange pop"' in html
    assert 'value="night DRIVE"' in html and 'value="typed"' in html
    assert ">New prompt.</textarea>" in html
    assert "night DRIVE</strong>" not in html


def test_a_name_another_of_my_styles_or_palettes_has_is_refused(
    owner: Any, owner_client: Any, other: Any, style: Style, palette: Palette
) -> None:
    """Two of a creator's styles (palettes) of one name could not be told apart in the
    studio's menus: a name they type that another of theirs has, case and spaces aside, is
    refused (another creator's of that name is no matter)."""
    Style.objects.create(owner=other, name="Teal pop", prompt="theirs")
    second = Style.objects.create(owner=owner, name="Teal pop", prompt="x")
    response = owner_client.post(
        "/studio/library/styles", {"name": "  orange POP ", "prompt": "Again."}
    )
    assert response.status_code == 400
    assert "You already have a style named “Orange pop”." in response.content.decode()
    refused = owner_client.patch(
        f"/api/styles/{second.pk}", {"name": "ORANGE pop"}, content_type="application/json"
    )
    assert refused.status_code == 409 and refused.json() == {
        "error": "You already have a style named “Orange pop”.",
        "code": "name_taken",
    }
    assert (
        owner_client.patch(
            f"/api/styles/{second.pk}", {"name": "teal POP"}, content_type="application/json"
        ).status_code
        == 200
    )  # its own name, in other case
    response = owner_client.post(
        "/studio/library/palettes", {"name": "sunset", "colors": "#000000 #FFFFFF #FF0000"}
    )
    assert "You already have a palette named “Sunset”." in response.content.decode()
    other_palette = Palette.objects.create(owner=owner, name="Dusk", colors=palette.colors)
    tile = owner_client.post(
        f"/studio/library/palettes/{other_palette.pk}",
        {"name": "SUNSET", "colors": "#000000 #FFFFFF #FF0000"},
        **HTMX,
    )
    assert "You already have a palette named “Sunset”." in tile.content.decode()
    renamed = owner_client.patch(
        f"/api/palettes/{other_palette.pk}", {"name": "sunSET"}, content_type="application/json"
    )
    assert renamed.status_code == 409 and renamed.json() == {
        "error": "You already have a palette named “Sunset”.",
        "code": "name_taken",
    }
    assert Style.objects.filter(owner=owner).count() == 2
    assert Palette.objects.filter(owner=owner).count() == 2


def test_an_analysis_saved_under_a_name_in_use_is_numbered(owner: Any) -> None:
    set_plan(owner, "pro")
    Palette.objects.create(owner=owner, name="orange pop", colors=["#000000", "#111111", "#222222"])
    Style.objects.create(owner=owner, name="Orange Pop", prompt="other")

    def analysis(kind: str, **result: Any) -> Job:
        return Job.objects.create(
            user=owner, type=kind, params={"images": []}, status="succeeded", result=result
        )

    colors = ["#FF0044", "#111111", "#FFD400"]
    job = analysis("analyse_palette", name="Orange pop", colors=colors)
    saved = services.do_create_palette_from_analysis(owner=owner, job=job)
    assert saved.name == "Orange pop 2"
    assert services.do_create_palette_from_analysis(owner=owner, job=job).pk == saved.pk
    third = analysis("analyse_palette", name="Orange pop", colors=["#000000", "#FFFFFF", "#00FF00"])
    assert services.do_create_palette_from_analysis(owner=owner, job=third).name == "Orange pop 3"
    job = analysis("analyse_style", name="Orange pop", prompt="Bold orange.", description="")
    assert services.do_create_style_from_analysis(owner=owner, job=job).name == "Orange pop 2"
    long = analysis("analyse_style", name="x" * 80, prompt="Long one.", description="")
    Style.objects.create(owner=owner, name="x" * 80, prompt="first")
    assert services.do_create_style_from_analysis(owner=owner, job=long).name == "x" * 78 + " 2"


def test_a_name_taken_while_an_analysis_is_saved_is_numbered_and_the_preview_redrawn(
    owner: Any, monkeypatch: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """The files are stored (the preview drawn with the name) before any row is locked: a style
    of that name made meanwhile numbers it under the locks, and the preview is drawn again."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from tests.conftest import REFERENCE_PHOTO

    set_plan(owner, "pro")
    upload = default_storage.save("analysis/a.jpg", ContentFile(REFERENCE_PHOTO.read_bytes()))
    job = Job.objects.create(
        user=owner,
        type="analyse_style",
        params={"images": [{"thumbnail_id": None, "name": upload, "uploaded": True}]},
        status="succeeded",
        result={"name": "Neon night", "prompt": "Neon on black.", "description": ""},
    )
    store_files = services._store_style_files
    drawn: list[str] = []

    def meanwhile(*args: Any, **kwargs: Any) -> tuple[list[str], str]:
        stored = store_files(*args, **kwargs)
        drawn.append(stored[1])
        Style.objects.create(owner=owner, name="Neon night", prompt="another")  # another tab
        return stored

    monkeypatch.setattr(services, "_store_style_files", meanwhile)
    with django_capture_on_commit_callbacks(execute=True):
        style = services.do_create_style_from_analysis(owner=owner, job=job)
    style.refresh_from_db()
    assert style.name == "Neon night 2" and style.reference_images.count() == 1
    assert style.preview and style.preview.name != drawn[0]  # drawn again, with its name
    assert not default_storage.exists(drawn[0])


def test_two_edits_at_once_keep_each_others_fields(
    owner: Any, style: Style, palette: Palette
) -> None:
    """Each edit was made on the row as its request read it, and wrote back every field: a
    rename in one tab put back the prompt (colours) another tab had just saved. Only the fields
    sent are written, on the row read again under its lock."""
    stale_style = Style.objects.get(pk=style.pk)
    services.do_update_style(style=Style.objects.get(pk=style.pk), prompt="The new prompt.")
    services.do_update_style(style=stale_style, name="Renamed")
    style.refresh_from_db()
    assert (style.name, style.prompt) == ("Renamed", "The new prompt.")
    stale_palette = Palette.objects.get(pk=palette.pk)
    colors = ["#000000", "#FFFFFF", "#FF0000"]
    services.do_update_palette(palette=Palette.objects.get(pk=palette.pk), colors=colors)
    services.do_update_palette(palette=stale_palette, name="Dusk")
    palette.refresh_from_db()
    assert (palette.name, palette.colors) == ("Dusk", colors)


def test_an_edit_racing_another_is_checked_again_under_the_lock(
    owner: Any, style: Style, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The name and the count of references were checked before the uploads were decoded and
    stored, outside any lock: another edit landing meanwhile (a second tab adding images, or
    taking the name) passed with it, leaving 5+ references or two styles of one name."""
    from studio.models import StyleReferenceImage

    decode = services.prepare_photos
    first = style.reference_images.first()
    assert first is not None

    def meanwhile(files: Any) -> Any:  # the other tab's edit commits while these are decoded
        for position in range(1, 4):
            StyleReferenceImage.objects.create(
                style=style, image=first.image.name, width=1, height=1, position=position
            )
        Style.objects.create(owner=owner, name="Taken", prompt="x")
        return decode(files)

    monkeypatch.setattr(services, "prepare_photos", meanwhile)
    with pytest.raises(services.StudioError, match="at most 4 reference images"):
        services.do_update_style(style=style, add_references=[jpeg(), jpeg()])
    assert style.reference_images.count() == 4
    monkeypatch.setattr(services, "prepare_photos", lambda files: decode(files))
    StyleReferenceImage.objects.filter(style=style).exclude(pk=first.pk).delete()
    Style.objects.filter(name="Taken").delete()
    monkeypatch.setattr(services, "prepare_photos", meanwhile)
    with pytest.raises(services.StudioError, match="You already have a style named"):
        services.do_update_style(style=style, name="taken", add_references=[jpeg()])


def test_a_style_deleted_while_its_edit_ran_is_a_404(
    owner_client: Any, style: Style, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deleted in another tab while the edit's uploads were decoded: the edit saved a row no
    longer there (a 500); it is now a 404, in the library and the API."""
    decode = services.prepare_photos

    def deleted_meanwhile(files: Any) -> Any:
        Style.objects.filter(owner=style.owner).delete()
        return decode(files)

    monkeypatch.setattr(services, "prepare_photos", deleted_meanwhile)
    tile = owner_client.post(f"/studio/library/styles/{style.pk}", {"name": "New"}, **HTMX)
    assert tile.status_code == 404
    again = Style.objects.create(owner=style.owner, name="Another", prompt="x")
    api = owner_client.patch(
        f"/api/styles/{again.pk}", {"name": "New"}, content_type="application/json"
    )
    assert api.status_code == 404 and api.json()["code"] == "not_found"


def test_a_reference_removed_while_a_job_made_with_it_is_queued_stays_until_it_ends(
    owner: Any, style: Style, django_capture_on_commit_callbacks: Any
) -> None:
    """A generate job copies its style's reference files by name and reads them when it runs:
    removing one in an edit deleted the file at once, and the queued job was made without it.
    It now stays until the job ends; one no job copied goes at once."""
    from django.core.files.storage import default_storage

    from generation.services import _ended

    services.do_update_style(style=style, add_references=[jpeg()])
    used, unused = [ref.image.name for ref in style.reference_images.order_by("position")]
    job = Job.objects.create(
        user=owner,
        type="generate_thumbnails",
        params={"title": "x", "style": {"name": style.name, "references": [used]}},
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.do_update_style(
            style=style,
            remove_reference_ids=list(style.reference_images.values_list("pk", flat=True)),
        )
    assert default_storage.exists(used) and not default_storage.exists(unused)
    Job.objects.filter(pk=job.pk).update(status=Job.Status.SUCCEEDED)
    job.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        _ended(job)
    assert not default_storage.exists(used)


def test_a_name_taken_while_a_style_or_palette_is_made_is_refused(
    owner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The name was checked before the uploads were decoded and outside the lock the insert
    takes: two requests at once (two tabs, a double submit) made two styles of one name."""
    set_plan(owner, "pro")
    quota = services.check_custom_asset_quota

    def meanwhile(user: Any, model: Any, *, lock: bool = False) -> None:
        if lock and not model.objects.filter(owner=user, name="Dusk").exists():
            fields = {"prompt": "x"} if model is Style else {"colors": ["#000000"] * 3}
            model.objects.create(owner=user, name="Dusk", **fields)
        quota(user, model, lock=lock)

    monkeypatch.setattr(services, "check_custom_asset_quota", meanwhile)
    with pytest.raises(services.StudioError, match="You already have a style named"):
        services.do_create_style(
            owner=owner, name="dusk", description="", prompt="p", is_public=False, references=[]
        )
    with pytest.raises(services.StudioError, match="You already have a palette named"):
        services.do_create_palette(
            owner=owner, name="DUSK", colors=["#FFFFFF"] * 3, is_public=False
        )


def test_a_preview_drawn_while_another_edit_renames_the_style_is_drawn_again(
    owner: Any,
    style: Style,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """The preview is drawn outside the owner's balance row lock: another edit committing while
    it is drawn must not be left with the first one's preview. The swap checks the name and the
    first reference under the lock, and draws it again from the new ones."""
    from studio import style_previews

    drawn: list[str] = []

    def render(style: Style) -> bytes:
        drawn.append(style.name)
        if len(drawn) == 1:  # another tab's rename commits while this one is drawn
            services.do_update_style(style=Style.objects.get(pk=style.pk), name="Third")
        return style.name.encode()

    monkeypatch.setattr(style_previews, "render_style_preview", render)
    with django_capture_on_commit_callbacks(execute=True):
        services.do_update_style(style=Style.objects.get(pk=style.pk), name="Second")
    assert drawn == ["Second", "Third", "Third"]
    style.refresh_from_db()
    assert style.name == "Third" and preview_bytes(style) == b"Third"


def test_a_preview_swap_that_fails_leaves_no_file(
    owner: Any,
    style: Style,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """The new preview is stored before the swap that names it: a swap that failed (rolled
    back) left that file in the storage with no row naming it. It is deleted now; the edit
    stands and the next view draws the preview."""
    from django.core.files.storage import default_storage

    from studio import style_previews

    def fails(style: Style) -> None:
        raise RuntimeError("cache down")

    before = set(default_storage.listdir("styles/previews")[1])
    monkeypatch.setattr(style_previews, "invalidate_style_lists", fails)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.do_update_style(style=Style.objects.get(pk=style.pk), name="Renamed")
    assert callbacks  # the redraw ran (and failed), after the edit committed
    assert set(default_storage.listdir("styles/previews")[1]) <= before
    style.refresh_from_db()
    assert style.name == "Renamed" and not style.preview


def test_deleting_a_style_deletes_the_files_an_edit_added_meanwhile(
    owner: Any, style: Style, django_capture_on_commit_callbacks: Any
) -> None:
    """The deletion listed the style's files before it waited on the row an edit held: the
    reference and the new preview that edit added (the request's copy of the row naming the
    old preview) stayed in the storage with no row. They are read under the edit's locks."""
    from django.core.files.storage import default_storage

    from studio.models import StyleReferenceImage

    stale = Style.objects.get(pk=style.pk)  # the deleting request's copy
    with django_capture_on_commit_callbacks(execute=True):
        services.do_update_style(style=Style.objects.get(pk=style.pk), add_references=[jpeg()])
    style.refresh_from_db()
    names = [style.preview.name, *[ref.image.name for ref in style.reference_images.all()]]
    assert len(names) == 3 and all(default_storage.exists(name) for name in names)
    with django_capture_on_commit_callbacks(execute=True):
        services.do_delete_style(style=stale)
    assert not Style.objects.filter(pk=style.pk).exists()
    assert not StyleReferenceImage.objects.filter(style_id=style.pk).exists()
    assert not any(default_storage.exists(name) for name in names)


def test_a_deleted_style_keeps_the_references_a_queued_job_copied_until_it_ends(
    owner: Any, style: Style, django_capture_on_commit_callbacks: Any
) -> None:
    """Deleting a style deleted its reference files at once, and a generate job made with it
    and still queued then ran without them. As for a reference removed in an edit, those stay
    until the job ends; the preview and a reference no job copied go at once."""
    from django.core.files.storage import default_storage

    from generation.services import _ended

    with django_capture_on_commit_callbacks(execute=True):
        services.do_update_style(style=style, add_references=[jpeg()])
    style.refresh_from_db()
    used, unused = [ref.image.name for ref in style.reference_images.order_by("position")]
    preview = style.preview.name
    job = Job.objects.create(
        user=owner,
        type="generate_thumbnails",
        params={"title": "x", "style": {"name": style.name, "references": [used]}},
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.do_delete_style(style=style)
    assert default_storage.exists(used)
    assert not default_storage.exists(unused) and not default_storage.exists(preview)
    Job.objects.filter(pk=job.pk).update(status=Job.Status.SUCCEEDED)
    job.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        _ended(job)
    assert not default_storage.exists(used)
