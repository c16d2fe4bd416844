"""Property: whatever a client puts in the studio's htmx forms and page filters (NUL, lone
surrogates, huge numbers, long text, repeated keys, wrong types), the answer is never a 5xx."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories.generation import JobFactory

pytestmark = pytest.mark.django_db

GENERATE_FIELDS = [
    "title",
    "instructions",
    "style_id",
    "palette_id",
    "face_ids",
    "expression",
    "pose",
    "aspect_ratio",
    "resolution",
    "variations",
    "project_id",
    "model",
    "idempotency_key",
]
TOOL_FIELDS = [
    "thumbnail_id",
    "thumbnail_ids",
    "reference_image_ids",
    "instruction",
    "title",
    "emotion",
    "changes",
    "face_ids",
    "idempotency_key",
]
# Each form with the fields it reads (and a stray one): path -> field names.
POST_FORMS = {
    "/studio/generate": GENERATE_FIELDS,
    "/studio/tools/edit_thumbnail": TOOL_FIELDS,
    "/studio/tools/enhance_title": TOOL_FIELDS,
    "/studio/tools/analyse_style": TOOL_FIELDS,
    "/studio/tools/analyse_palette": TOOL_FIELDS,
    "/studio/tools/thumbnail_check": TOOL_FIELDS,
    "/studio/tools/no_such_tool": ["type", "title"],
    "/studio/projects": ["name", "type"],
    "/studio/projects/{project}": ["name", "share_mode"],
    "/studio/library/faces": ["name"],
    "/studio/library/styles": ["name", "description", "prompt", "is_public"],
    "/studio/library/palettes": ["name", "colors", "is_public"],
    "/studio/thumbnails/{thumbnail}/move": ["project_id"],
    "/studio/thumbnails/{thumbnail}/favorite": ["is_favorite"],
}
GET_PATHS = ["/studio/", "/studio/gallery", "/api/thumbnails", "/studio/library/"]
QUERY_FIELDS = ["q", "order", "cursor", "project", "favorites", "part", "limit"]

ODD_TEXT = st.sampled_from(
    ["\x00", "a\x00b", "\ud800", "x\udfffy", "-1", "0", "²", "1e309", "NaN", "[]", "{}", "none", ""]
)
NUL_TEXT = st.text(max_size=10).map(lambda text: text + "\x00")
HUGE_NUMBERS = st.integers(min_value=-(10**40), max_value=10**40).map(str)
VALUES = st.one_of(
    st.text(max_size=40),
    ODD_TEXT,
    NUL_TEXT,
    HUGE_NUMBERS,
    st.integers(min_value=0, max_value=3).map(lambda n: "x" * (10_000 * n)),
    st.sampled_from(["16:9", "9:16", "1K", "4K", "all", "off", "#FF0044, #111111, #FFD400"]),
)
FORMS = st.sampled_from(sorted(POST_FORMS.items())).flatmap(
    lambda form: st.tuples(
        st.just(form[0]),
        st.dictionaries(
            st.sampled_from(form[1]), st.lists(VALUES, min_size=1, max_size=3), min_size=1
        ),
    )
)


def form_body(fields: dict[str, list[str]]) -> bytes:
    """urlencoded as a client could send it: lone surrogates become their (invalid) UTF-8
    bytes, which Django must decode without a server error."""
    pairs = [(key, value) for key, values in fields.items() for value in values]
    return urlencode(pairs, encoding="utf-8", errors="surrogatepass").encode("ascii")


@pytest.fixture
def targets(owner, owner_client) -> dict[str, int]:
    project = owner_client.post_json("/api/projects", {"name": "Fuzz"}).json()["id"]
    job: Any = JobFactory(user=owner, title="Fuzz", status="succeeded", thumbnails=True)
    thumbnail = owner_client.get(f"/api/jobs/{job.pk}").json()["thumbnails"][0]["id"]
    return {"project": project, "thumbnail": thumbnail}


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(form=FORMS, htmx=st.booleans())
def test_htmx_forms_never_answer_5xx(owner_client, targets, form, htmx) -> None:
    path, fields = form
    url = path.format(**targets)
    extra: dict[str, Any] = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = owner_client.post(
        url, form_body(fields), content_type="application/x-www-form-urlencoded", **extra
    )
    assert response.status_code < 500, (url, fields, response.content[:500])


@settings(
    max_examples=30,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    path=st.sampled_from(GET_PATHS),
    query=st.dictionaries(st.sampled_from(QUERY_FIELDS), st.lists(VALUES, min_size=1, max_size=2)),
)
def test_page_filters_never_answer_5xx(owner_client, path, query) -> None:
    response = owner_client.get(path + "?" + form_body(query).decode())
    assert response.status_code < 500, (path, query, response.content[:500])
