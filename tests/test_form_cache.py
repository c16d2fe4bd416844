"""studio.form_cache: the generate form's pickers are rendered once per distinct content and
served from memory after that, and every change to what they show is on the next visit."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from billing import services as billing_services
from billing.models import Plan
from studio import form_cache
from studio.models import Face, FaceImage, Palette, Style
from tests.conftest import set_plan
from tests.factories.studio import ProjectFactory, stored_png

pytestmark = pytest.mark.usefixtures("clean_cache")


@pytest.fixture(autouse=True)
def empty_memo() -> Iterator[None]:
    form_cache.clear()
    yield
    form_cache.clear()


def form(client: Any) -> str:
    """The generate form's HTML on GET /studio/, without its per-visit idempotency key."""
    response = client.get("/studio/")
    assert response.status_code == 200
    html = response.content.decode()
    start = html.index('<form id="generate-form"')
    html = html[start : html.index("</form>", start)]
    return re.sub(r'name="idempotency_key" value="\w+"', "", html)


def test_a_second_visit_serves_the_same_pickers_without_rendering_them(owner_client) -> None:
    first = form(owner_client)
    renders, hits = form_cache.stats["renders"], form_cache.stats["hits"]
    assert form(owner_client) == first
    assert form_cache.stats["renders"] == renders
    assert form_cache.stats["hits"] == hits + 1


def test_each_change_to_what_the_pickers_show_is_on_the_next_visit(
    owner: Any, owner_client: Any, django_capture_on_commit_callbacks: Any
) -> None:
    form(owner_client)
    Style.objects.create(owner=owner, name="Neon Noir", prompt="neon, rain, night")
    assert "Neon Noir (mine)" in form(owner_client)

    style = Style.objects.get(owner=owner)
    style.name = "Neon Dawn"
    style.save()
    html = form(owner_client)
    assert "Neon Dawn (mine)" in html and "Neon Noir" not in html

    Palette.objects.create(owner=owner, name="Sunburn", colors=["#ff5500", "#220044"])
    assert "background: #ff5500" in form(owner_client)

    face = Face.objects.create(owner=owner, name="Eileen")
    assert f'value="{face.pk}"><span class="name">Eileen' in form(owner_client)
    FaceImage.objects.create(face=face, image=stored_png(), width=160, height=90)
    photo = f'value="{face.pk}"><img src="/media/thumbnails/full/test-'
    assert photo in form(owner_client)
    image = FaceImage.objects.get(face=face)
    image.face_height = 96  # measured: too small even for 1K
    image.save(update_fields=["face_height"])
    assert '<label class="chip face-chip" data-sharp-up-to="">' in form(owner_client)

    ProjectFactory(owner=owner, name="Road Trip")
    assert '">Road Trip</option>' in form(owner_client)

    assert re.search(r'<option value="2K"[^>]*disabled', form(owner_client))  # Free: 1K only
    with django_capture_on_commit_callbacks(execute=True):  # the plan table's invalidation
        Plan.objects.filter(slug="free").update(resolutions=["1K", "2K"])
        billing_services.invalidate_plan_table()
    assert not re.search(r'<option value="2K"[^>]*disabled', form(owner_client))  # same plan name
    set_plan(owner, "starter")
    html = form(owner_client)
    assert re.search(r'<option value="4K"[^>]*disabled[^>]*>4K · Advanced', html)
    assert form_cache.stats["renders"] == 10


def test_creators_never_see_each_others_pickers(owner, owner_client, other, other_client) -> None:
    Style.objects.create(owner=owner, name="Owner Secret Style", prompt="x")
    assert "Owner Secret Style" in form(owner_client)
    assert "Owner Secret Style" not in form(other_client)


def test_a_public_style_is_mine_only_for_its_owner(owner, owner_client, other_client) -> None:
    Style.objects.create(owner=owner, name="Shared Glow", prompt="x", is_public=True)
    assert "Shared Glow (mine)" in form(owner_client)
    html = form(other_client)  # the same styles, palettes and plan: only "(mine)" differs
    assert "Shared Glow" in html and "Shared Glow (mine)" not in html
