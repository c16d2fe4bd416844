"""Right-to-left titles: wherever a page shows a creator's own text (a thumbnail's title, a
project's name), its direction is isolated (`dir="auto"` or `<bdi>`), so a Hebrew or Arabic
title keeps its end punctuation at its end. In the large view's left-to-right heading
"מה קרה כאן?!" showed its "?!" on the right, where a Hebrew reader starts."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest

from studio.models import Project
from tests.factories.studio import ThumbnailFactory

pytestmark = pytest.mark.django_db

TITLE = "מה קרה כאן?!"
PROJECT = "ערוץ הבישול!"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


class _Unisolated(HTMLParser):
    """Where `text` is shown without an isolating element around it: text inside `<body>` with
    no ancestor carrying `dir` (or a `<bdi>`), and text inputs whose value it is without their
    own `dir`. Each as "tag#id" of the nearest element."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.stack: list[tuple[str, str, bool]] = []  # (tag, id, isolates)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        isolates = tag == "bdi" or bool(a.get("dir"))
        value = a.get("value") or ""
        if tag in ("input", "textarea") and self.text in value and not isolates:
            self.found.append(f"{tag}#{a.get('id', '')}")
        if tag not in VOID:
            self.stack.append((tag, a.get("id") or "", isolates))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        tags = [tag for tag, _, _ in self.stack]
        # A menu's options follow their <select>'s direction; a browser draws them itself.
        if self.text not in data or "body" not in tags or {"script", "option"} & set(tags):
            return
        if not any(isolates for _, _, isolates in self.stack):
            tag, ident, _ = self.stack[-1]
            self.found.append(f"{tag}#{ident}")


def unisolated(html: str, text: str) -> list[str]:
    parser = _Unisolated(text)
    parser.feed(html)
    return parser.found


def test_a_right_to_left_title_keeps_its_direction_on_every_page(
    owner: Any, owner_client: Any, anon_client: Any
) -> None:
    project = Project.objects.create(owner=owner, name=PROJECT, share_mode="all")
    thumbnail = ThumbnailFactory(owner=owner, title=TITLE, project=project, stored=True)
    thumbnail.parameters = {"title": TITLE}
    thumbnail.save()
    pages = {
        "studio": owner_client.get("/studio/"),
        "library": owner_client.get("/studio/library/"),
        "large view": owner_client.get(f"/studio/thumbnails/{thumbnail.pk}"),
        "share": anon_client.get(f"/share/{project.share_token}/"),
        "shared thumbnail": anon_client.get(f"/share/{project.share_token}/t/{thumbnail.pk}"),
    }
    for name, response in pages.items():
        assert response.status_code == 200, name
        html = response.content.decode()
        assert TITLE in html or PROJECT in html, name
        assert unisolated(html, TITLE) == [], name
        assert unisolated(html, PROJECT) == [], name

    # What the creator types takes its direction from the text too.
    studio = pages["studio"].content.decode()
    assert '<input id="title" name="title" dir="auto"' in studio
