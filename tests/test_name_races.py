"""Two requests at once may not give a creator two projects (styles, palettes, faces) of one name:
the name is checked under the owner's balance row (real PostgreSQL row locks), so the second
request waits for the first to commit and is refused as any taken name is, 409 `name_taken`
(never a 500, never a second row)."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, connections, transaction
from django.test import Client
from PIL import Image

from billing.services import lock_account
from studio import services
from studio.models import Face, Palette, Project, Style
from tests.conftest import a_session_waits_on_a_lock, make_user, set_plan

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

COLORS = ["#112233", "#445566", "#778899"]


@pytest.fixture(autouse=True)
def _needs_postgres() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL (set DATABASE_URL); SQLite serialises writers")


def _blocked_on_a_lock(racer: threading.Thread) -> None:
    """Return once another connection of this database waits on a row lock (the racer, queued
    behind the holder's lock), or the racer has ended (it did not wait: the test then fails on
    its answer)."""
    while racer.is_alive():
        if a_session_waits_on_a_lock():
            return
        racer.join(0.01)


def _race(owner: Any, make: Callable[[], Any], request: Callable[[], Any]) -> Any:
    """`make()` runs in another transaction that holds the owner's balance row (as a request
    creating that row would) until `request()`, in a thread of its own, is queued behind it;
    returns what `request()` returned or raised."""
    locked, release = threading.Event(), threading.Event()

    def first() -> None:
        try:
            with transaction.atomic():
                lock_account(owner)
                make()
                locked.set()
                release.wait(10)
        finally:
            connections.close_all()

    answers: list[Any] = []

    def second() -> None:
        try:
            answers.append(request())
        except Exception as exc:  # the service-level cases: the refusal itself
            answers.append(exc)
        finally:
            connections.close_all()

    holder = threading.Thread(target=first)
    holder.start()
    assert locked.wait(10)
    racer = threading.Thread(target=second)
    racer.start()
    _blocked_on_a_lock(racer)
    release.set()
    holder.join(10)
    racer.join(10)
    assert len(answers) == 1, answers
    return answers[0]


def test_a_project_name_taken_by_a_request_not_yet_committed_is_refused() -> None:
    owner = make_user("twins@example.com")
    answer = _race(
        owner,
        lambda: Project.objects.create(owner=owner, name="Dusk"),
        lambda: services.do_create_project(owner=owner, name="dusk"),
    )
    assert isinstance(answer, services.StudioError), answer
    assert (answer.status, answer.code) == (409, "name_taken")
    assert Project.objects.filter(owner=owner).count() == 1


def _jpeg() -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 180), (200, 40, 40)).save(buffer, "JPEG")
    return SimpleUploadedFile("me.jpg", buffer.getvalue(), "image/jpeg")


@pytest.mark.parametrize("kind", ["project", "project rename", "face", "style", "palette"])
def test_an_api_request_racing_for_a_name_gets_409_name_taken(kind: str) -> None:
    """Through the API (creates of projects and faces; renames of projects, styles and
    palettes, which the API edits but does not create), with the name taken by a transaction
    still open when the request arrives."""
    owner = make_user("racer@example.com")
    set_plan(owner, "pro")  # room for more custom styles, palettes and faces
    client = Client()
    client.force_login(owner)
    model: Any = {"face": Face, "style": Style, "palette": Palette}.get(kind, Project)
    extra: dict[str, Any] = {"style": {"prompt": "x"}, "palette": {"colors": COLORS}}.get(kind, {})
    renamed = None
    if kind in ("project rename", "style", "palette"):
        renamed = model.objects.create(owner=owner, name="Dawn", **extra)
    path = {"project rename": "projects", "style": "styles", "palette": "palettes"}
    requests: dict[str, Callable[[], Any]] = {
        "project": lambda: client.post("/api/projects", {"name": "dusk"}),
        "face": lambda: client.post("/api/faces", {"name": "dusk", "images": [_jpeg()]}),
    }
    request = requests.get(kind) or (
        lambda: client.patch(
            f"/api/{path[kind]}/{renamed.pk}", {"name": "dusk"}, content_type="application/json"
        )
    )
    response = _race(
        owner, lambda: model.objects.create(owner=owner, name="Dusk", **extra), request
    )
    noun = model._meta.verbose_name
    assert response.status_code == 409, response.content
    assert response.json() == {
        "error": f"You already have a {noun} named “Dusk”.",
        "code": "name_taken",
    }
    assert model.objects.filter(owner=owner, name__iexact="dusk").count() == 1


@pytest.mark.parametrize("model", [Style, Palette])
def test_a_style_or_palette_made_while_another_takes_its_name_is_refused(model: Any) -> None:
    """Styles and palettes are made in the library's forms (`do_create_style`,
    `do_create_palette`): the same 409 there, which the forms show as their message."""
    owner = make_user("forms@example.com")
    set_plan(owner, "pro")
    extra: dict[str, Any] = {"prompt": "x"} if model is Style else {"colors": COLORS}

    def create() -> Any:
        if model is Style:
            return services.do_create_style(
                owner=owner, name="DUSK", description="", prompt="p", is_public=False, references=[]
            )
        return services.do_create_palette(owner=owner, name="DUSK", colors=COLORS, is_public=False)

    answer = _race(owner, lambda: model.objects.create(owner=owner, name="Dusk", **extra), create)
    assert isinstance(answer, services.StudioError), answer
    assert (answer.status, answer.code) == (409, "name_taken")
    assert model.objects.filter(owner=owner).count() == 1
