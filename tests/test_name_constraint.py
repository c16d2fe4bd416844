"""The database keeps a creator's projects, styles, palettes and faces to one of a name, case and
surrounding spaces aside (studio.models.owner_name_unique: a unique index on the owner and the
trimmed, lower-cased name; owner-less built-ins left out), whoever writes: the services check
first (409 `name_taken`), the index refuses what skips them (a direct write, a script), and a
refusal by the index reaches a creator as the same 409. Migration 0012 renames the duplicates
made before ("Name (2)", ...) and then adds the indexes. Runs on PostgreSQL and SQLite."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Model
from PIL import Image

from studio import services
from studio.models import Face, Palette, Project, Style
from tests import kept_db
from tests.conftest import make_user, set_plan

COLORS = ["#112233", "#445566", "#778899"]
EXTRA: dict[type[Model], dict[str, Any]] = {
    Style: {"prompt": "x"},
    Palette: {"colors": COLORS},
    Face: {},
    Project: {},
}
LIBRARY = [Style, Palette, Face, Project]


def make(model: type[Model], owner: Any, name: str) -> Any:
    return model._default_manager.create(owner=owner, name=name, **EXTRA[model])


def refused_by_the_index(model: type[Model], owner: Any, name: str) -> bool:
    """Whether the database refuses a row of `owner` named `name` (written directly, no check);
    in a savepoint, so the test's transaction goes on."""
    try:
        with transaction.atomic():
            make(model, owner, name)
    except IntegrityError as exc:
        refused_by = str(exc)
    else:
        return False
    assert f"{model._meta.model_name}_owner_name_unique" in refused_by, refused_by
    return True


@pytest.mark.django_db
@pytest.mark.parametrize("model", LIBRARY)
def test_a_name_the_owner_has_is_refused_by_the_database(model: type[Model]) -> None:
    owner, other = make_user("one@example.com"), make_user("two@example.com")
    first = make(model, owner, "Travel")
    for name in ("Travel", "travel", "  TRAVEL ", "tRaVeL"):
        assert refused_by_the_index(model, owner, name), name
    # Another creator, another name, a name that only contains it: stored.
    assert not refused_by_the_index(model, other, "Travel")
    assert not refused_by_the_index(model, owner, "Travel 2")
    assert not refused_by_the_index(model, owner, "Trav el")
    # An UPDATE that skips save() (a bulk write) is refused too.
    second = make(model, owner, "Food")
    with pytest.raises(IntegrityError), transaction.atomic():
        model._default_manager.filter(pk=second.pk).update(name=" travel")
    # A row keeps its own name in another case.
    first.name = "TRAVEL"
    first.save()
    assert sorted(model._default_manager.filter(owner=owner).values_list("name", flat=True)) == [
        "Food",
        "TRAVEL",
        "Trav el",
        "Travel 2",
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("model", [Style, Palette])
def test_built_in_styles_and_palettes_are_left_out(model: type[Model]) -> None:
    """Built-ins (no owner) are named by migrations and the admin, not by a creator: two of a
    name are the admin's business, and a creator may name theirs as a built-in."""
    builtin = model._default_manager.filter(owner=None).first()
    assert builtin is not None  # seeded by migration 0002
    assert not refused_by_the_index(model, None, builtin.name.upper())
    assert not refused_by_the_index(model, make_user("me@example.com"), builtin.name)
    model(owner=None, name=builtin.name, **EXTRA[model]).validate_constraints()


@pytest.mark.django_db
@pytest.mark.parametrize("model", LIBRARY)
def test_full_clean_says_which_rule_a_duplicate_breaks(model: type[Model]) -> None:
    """Django validates the constraint in `full_clean` (any model form, the admin's among
    them): a readable message and the API's code."""
    owner = make_user("clean@example.com")
    make(model, owner, "Travel")
    row = model(owner=owner, name=" travel", **EXTRA[model])
    with pytest.raises(ValidationError) as refused:
        row.full_clean()
    [error] = refused.value.error_dict[NON_FIELD_ERRORS]
    noun = model._meta.verbose_name
    assert error.code == "name_taken"
    assert error.messages == [
        f"Its owner already has a {noun} of this name (case and surrounding spaces aside)."
    ]
    make(model, owner, "Food").full_clean()  # its own name: no error


def _jpeg() -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 180), (200, 40, 40)).save(buffer, "JPEG")
    return SimpleUploadedFile("me.jpg", buffer.getvalue(), "image/jpeg")


@pytest.fixture
def check_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    """`check_asset_name` lets every name through, as a writer that skipped the owner's balance
    row would have: the name is then taken when the row is written, and only the index sees it."""
    monkeypatch.setattr(
        services, "check_asset_name", lambda model, owner, name, row=None: name.strip()
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "kind", ["project", "project rename", "studio project", "face", "style", "palette"]
)
def test_a_name_only_the_index_refuses_is_409_name_taken(
    kind: str, check_skipped: None, owner: Any, owner_client: Any
) -> None:
    """The API's creates (projects, faces) and renames (projects, styles, palettes) and the
    studio's new-project form answer the index's refusal as they answer the check's."""
    set_plan(owner, "pro")  # room for more custom styles, palettes and faces
    model: Any = {"face": Face, "style": Style, "palette": Palette}.get(kind, Project)
    make(model, owner, "Dusk")
    renamed = make(model, owner, "Dawn")
    path = {"project rename": "projects", "style": "styles", "palette": "palettes"}
    if kind == "project":
        response = owner_client.post("/api/projects", {"name": " dusk "})
    elif kind == "studio project":
        response = owner_client.post("/studio/projects", {"name": "dusk"}, HTTP_HX_REQUEST="true")
    elif kind == "face":
        response = owner_client.post("/api/faces", {"name": "dusk", "images": [_jpeg()]})
    else:
        response = owner_client.patch(
            f"/api/{path[kind]}/{renamed.pk}", {"name": "dusk"}, content_type="application/json"
        )
    noun = model._meta.verbose_name
    assert response.status_code == 409, response.content
    assert response.json() == {
        "error": f"You already have a {noun} named “dusk”.",
        "code": "name_taken",
    }
    assert sorted(model.objects.filter(owner=owner).values_list("name", flat=True)) == [
        "Dawn",
        "Dusk",
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("model", [Style, Palette])
def test_a_style_or_palette_only_the_index_refuses_is_409_name_taken(
    model: Any, check_skipped: None, owner: Any
) -> None:
    """The library's forms make styles and palettes (`do_create_style`, `do_create_palette`)."""
    set_plan(owner, "pro")
    make(model, owner, "Dusk")

    def create() -> Any:
        if model is Style:
            return services.do_create_style(
                owner=owner, name="DUSK", description="", prompt="p", is_public=False, references=[]
            )
        return services.do_create_palette(owner=owner, name="DUSK", colors=COLORS, is_public=False)

    with pytest.raises(services.StudioError) as refused:
        create()
    assert (refused.value.status, refused.value.code) == (409, "name_taken")
    assert refused.value.message == f"You already have a {model._meta.verbose_name} named “DUSK”."
    assert model.objects.filter(owner=owner).count() == 1


BEFORE = ("studio", "0011_thumbnail_sort_title")
ADDED = ("studio", "0012_owner_name_unique")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_migration_renames_duplicates_before_adding_the_indexes() -> None:
    """Rows written before the indexes, duplicates among them: the oldest of each owner's
    group keeps its name, the others are numbered in id order with the first number free
    (case and spaces aside), cut to the field's length; other owners and built-ins untouched."""
    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE])
    rows: dict[str, list[Any]] = {}
    try:
        old = executor.loader.project_state([BEFORE]).apps
        owner, other = make_user("old@example.com"), make_user("older@example.com")

        def write(model_name: str, owner_id: int | None, *names: str, **extra: Any) -> None:
            model = old.get_model("studio", model_name)
            for name in names:
                row = model.objects.create(owner_id=owner_id, name=name, **extra)
                rows.setdefault(model_name, []).append(row.pk)

        write("style", owner.pk, "Travel", "travel ", "Travel (2)", " TRAVEL", prompt="x")
        write("style", other.pk, "Travel", prompt="x")
        write("style", None, "Minimal", prompt="x")  # a second built-in "Minimal"
        write("palette", owner.pk, "x" * 80, "X" * 80, colors=COLORS)
        write("palette", None, "Candy", "candy", colors=COLORS)
        write("face", owner.pk, "Me", "me", "ME")
        write("project", owner.pk, "Vlogs", "Food", "VLOGS")

        executor.loader.build_graph()
        executor.migrate([ADDED])

        def names(model: type[Model], model_name: str) -> list[str]:
            by_pk = dict(model._default_manager.values_list("pk", "name"))
            return [by_pk[pk] for pk in rows[model_name]]

        assert names(Style, "style") == [
            "Travel",
            "travel (3)",  # "(2)" is another row's name
            "Travel (2)",
            "TRAVEL (4)",
            "Travel",  # another owner's
            "Minimal",  # built-ins are left out
        ]
        assert names(Palette, "palette") == ["x" * 80, "X" * 76 + " (2)", "Candy", "candy"]
        assert names(Face, "face") == ["Me", "me (2)", "ME (3)"]
        assert names(Project, "project") == ["Vlogs", "Food", "VLOGS (2)"]
        assert refused_by_the_index(Face, owner, "me (2)")  # the indexes were added
    finally:
        # Had the migration failed, the duplicates would fail it again (a kept database
        # would then stay without the indexes): gone first.
        for model in LIBRARY:
            model._default_manager.filter(pk__in=rows.get(model._meta.model_name, [])).delete()
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
        kept_db.record_migrated(connection.alias)  # forward again: no migrate next run


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_migration_runs_on_an_empty_library_and_back() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE])
    try:
        executor.loader.build_graph()
        executor.migrate([ADDED])
        assert refused_by_the_index(Project, make_user("x@example.com"), "a") is False
        assert refused_by_the_index(Project, Project.objects.get().owner, " A")
    finally:
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
        kept_db.record_migrated(connection.alias)  # forward again: no migrate next run
