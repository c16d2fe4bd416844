"""Decoding uploads is bounded per request (a pixel budget), per process (a semaphore) and per
JPEG (decoded at a reduced DCT scale): over-budget images are refused before their full decode."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from studio import images
from studio.models import Face
from tests.test_faces import png, upload

pytestmark = pytest.mark.django_db


def jpeg(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (90, 140, 200)).save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def test_request_pixel_budget_refuses_the_image_that_overflows_it(owner_client, settings) -> None:
    settings.UPLOAD_REQUEST_MAX_PIXELS = 500_000
    files = [upload("a.png", png((600, 600))), upload("b.png", png((600, 600)))]
    response = owner_client.post("/api/faces", {"name": "Two", "images": files})
    assert response.status_code == 413, response.content
    assert response.json()["code"] == "upload_pixels_exceeded"
    assert Face.objects.count() == 0


def test_budget_is_per_request_not_per_process(starter, owner_client, settings) -> None:
    settings.UPLOAD_REQUEST_MAX_PIXELS = 500_000
    for name in ("one", "two"):
        response = owner_client.post(
            "/api/faces", {"name": name, "images": [upload("a.png", png((600, 600)))]}
        )
        assert response.status_code == 201, response.content


def test_large_jpeg_is_decoded_at_a_reduced_scale(starter, owner_client, settings) -> None:
    """A 4096x4096 JPEG (16.8 MP in its header) costs 2048x2048 (4.2 MP) of the request budget,
    Pillow's `draft` decoding it at half scale; the same size as PNG cannot be reduced early."""
    settings.UPLOAD_REQUEST_MAX_PIXELS = 5_000_000
    accepted = owner_client.post(
        "/api/faces", {"name": "Jpeg", "images": [upload("big.jpg", jpeg((4096, 4096)))]}
    )
    assert accepted.status_code == 201, accepted.content
    assert accepted.json()["images"][0]["width"] == images.MAX_STORED_SIDE
    refused = owner_client.post(
        "/api/faces", {"name": "Png", "images": [upload("big.png", png((4096, 4096)))]}
    )
    assert (refused.status_code, refused.json()["code"]) == (413, "upload_pixels_exceeded")


def test_decodes_wait_for_a_free_slot_then_answer_busy(owner_client, settings) -> None:
    settings.UPLOAD_DECODE_CONCURRENCY = 1
    settings.UPLOAD_DECODE_WAIT_SECONDS = 0
    slots = images._slots()
    assert slots.acquire(timeout=1)  # another request's decode holds the only slot
    try:
        response = owner_client.post(
            "/api/faces", {"name": "Wait", "images": [upload("a.png", png())]}
        )
    finally:
        slots.release()
    assert (response.status_code, response.json()["code"]) == (503, "busy")
    again = owner_client.post("/api/faces", {"name": "Wait", "images": [upload("a.png", png())]})
    assert again.status_code == 201, again.content
