"""Decoding uploads is bounded per request (a pixel budget), per process (a semaphore) and per
JPEG (decoded at a reduced DCT scale): over-budget images are refused before their full decode."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from studio import images
from studio.models import Face, FaceImage
from tests.test_faces import png, upload
from tests.test_local_renderer import FACE_PHOTO, grey16

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


def test_a_16_bit_greyscale_photo_keeps_its_tones(owner_client) -> None:
    # Pillow's convert() clips 16-bit values to 255: the face (mean 115) came out at 227.
    photo = Image.open(FACE_PHOTO)
    expected = np.asarray(photo.convert("L")).mean()
    data = grey16(photo)
    assert Image.open(io.BytesIO(data)).mode == "I;16"
    decoded = images.decode_bytes(data).image
    assert decoded.mode == "RGB"
    assert np.asarray(decoded.convert("L")).mean() == pytest.approx(expected, abs=3)

    response = owner_client.post(
        "/api/faces", {"name": "Grey", "images": [upload("eileen.png", data)]}
    )
    assert response.status_code == 201, response.content
    with FaceImage.objects.get().image.open("rb") as handle:
        stored = np.asarray(Image.open(handle).convert("L")).mean()
    assert stored == pytest.approx(expected, abs=3)


def test_32_bit_greyscale_is_scaled_to_its_range() -> None:
    from generation.providers.base import eight_bit

    values = np.array([[0, 65535], [32768, 65535]], dtype=np.int32)
    assert np.asarray(eight_bit(Image.fromarray(values, "I"))).tolist() == [[0, 255], [128, 255]]
    small = np.array([[0, 200]], dtype=np.int32)  # 8-bit values in a 32-bit image: kept
    assert np.asarray(eight_bit(Image.fromarray(small, "I"))).tolist() == [[0, 200]]
    wide = np.array([[-1000, 1000]], dtype=np.int32)  # beyond 16 bits: its range, stretched
    assert np.asarray(eight_bit(Image.fromarray(wide, "I"))).tolist() == [[0, 255]]
    rgb = Image.new("RGB", (2, 2), (1, 2, 3))
    assert eight_bit(rgb) is rgb
