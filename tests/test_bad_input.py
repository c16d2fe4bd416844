"""Odd input is a 4xx `{"error", "code"}`, never a server error: the cases a QA pass found."""

from __future__ import annotations

import json
from typing import Any

import pytest

HUGE = 10**30


@pytest.fixture
def thumbnail_id(owner, owner_client, submit, run_jobs) -> int:
    data = submit(owner_client, {"title": "Odd input"}).json()
    run_jobs()
    return int(owner_client.get(f"/api/jobs/{data['id']}").json()["thumbnails"][0]["id"])


@pytest.mark.parametrize(
    "payload",
    [
        {"type": "generate_thumbnails", "input": {"face_ids": [HUGE]}},
        {"type": "generate_thumbnails", "input": {"face_ids": ["abc"]}},
        {"type": "edit_thumbnail", "input": {"thumbnail_id": 1, "reference_image_ids": [HUGE]}},
        {"type": "edit_thumbnail", "input": {"thumbnail_id": 1, "changes": {"face_ids": "abc"}}},
        [1, 2],
        None,
        "text",
    ],
)
def test_jobs_api_refuses_odd_bodies_with_json_400(owner_client, payload: Any) -> None:
    response = owner_client.post_json("/api/jobs", payload)
    assert response.status_code in (400, 404), response.content
    assert response.json()["code"] in ("invalid", "not_found")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("patch", "/api/thumbnails/{id}", {"project_id": "x"}),
        ("patch", "/api/thumbnails/{id}", {"project_id": HUGE}),
        ("post", "/api/thumbnails/move", {"thumbnail_ids": [HUGE]}),
        ("post", "/api/thumbnails/move", {"thumbnail_ids": ["a"], "project_id": None}),
        ("get", "/api/thumbnails?project=" + str(HUGE), None),
        ("post", "/api/projects", {"name": {"a": 1}}),
    ],
)
def test_library_api_refuses_odd_ids(owner_client, thumbnail_id, method, path, body) -> None:
    url = path.format(id=thumbnail_id)
    if method == "get":
        response = owner_client.get(url)
    else:
        response = getattr(owner_client, method)(
            url, json.dumps(body), content_type="application/json"
        )
    assert response.status_code == 400, response.content
    assert response.json()["code"] in ("invalid", "invalid_filter", "invalid_cursor")


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/studio/generate", {"face_ids": "abc", "title": "x"}),
        ("/studio/generate", {"face_ids": str(HUGE), "title": "x"}),
        ("/studio/tools/edit_thumbnail", {"thumbnail_id": "1", "reference_image_ids": str(HUGE)}),
    ],
)
def test_studio_forms_answer_odd_values_with_a_fragment(owner_client, path, data) -> None:
    response = owner_client.post(path, data, HTTP_HX_REQUEST="true")
    assert response.status_code in (400, 404)
    assert 'class="error"' in response.content.decode()


@pytest.mark.parametrize("path", ["/studio/?project=" + str(HUGE), "/studio/gallery?project=abc"])
def test_studio_pages_survive_odd_filters(owner_client, path) -> None:
    assert owner_client.get(path).status_code in (200, 400)
