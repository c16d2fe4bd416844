"""The worker's image pipeline (issue 10 item 6): each stored file is encoded once from the
rendered image in memory (no PNG encode-decode-encode), the files decode to the right sizes, and
no more than GENERATION_4K_CONCURRENCY 4K images are rendered or encoded at once per process."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest
from django.core.files.storage import default_storage
from PIL import Image

from billing.services import adjust_credits
from generation.providers.local import LocalRenderer
from generation.resilience import Stopped
from generation.services import image_slot
from generation.sizes import pixel_size
from studio.job_types import generate as generate_module
from studio.models import Thumbnail
from tests.conftest import set_plan

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def quiet_heartbeat(monkeypatch: pytest.MonkeyPatch, settings: Any) -> None:
    """No lease renewal or progress write while a job runs: the job's row lives in the test's
    transaction, invisible to the heartbeat's own connection, which would read it as a lost
    lease once a render outlasts PROGRESS_WRITE_SECONDS on a busy machine."""
    monkeypatch.setattr("generation.services.PROGRESS_WRITE_SECONDS", 3600.0)
    settings.JOB_LEASE_SECONDS = 36_000


@pytest.fixture
def pro(owner: Any) -> Any:
    set_plan(owner, "pro")
    adjust_credits(user=owner, amount=200, idempotency_key="worker-images", reason="test")
    return owner


@pytest.fixture
def codec_calls(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Counts Pillow encodes by format ("PNG", "WEBP", "JPEG") and decodes ("open")."""
    calls: Counter[str] = Counter()
    save, open_ = Image.Image.save, Image.open

    def counting_save(self: Image.Image, fp: Any, format: Any = None, **params: Any) -> None:
        calls[str(format).upper()] += 1
        save(self, fp, format, **params)

    def counting_open(fp: Any, *args: Any, **kwargs: Any) -> Image.Image:
        calls["open"] += 1
        return open_(fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", counting_save)
    monkeypatch.setattr(Image, "open", counting_open)
    return calls


def test_each_stored_file_is_encoded_once_from_the_rendered_image(
    owner_client: Any, pro: Any, submit: Any, run_jobs: Any, codec_calls: Counter[str]
) -> None:
    response = submit(owner_client, {"title": "Encode once: please", "variations": 2})
    assert response.status_code == 202, response.content
    codec_calls.clear()  # count the worker only
    run_jobs()
    assert Thumbnail.objects.filter(owner=pro).count() == 2
    # Per image: one PNG (the full image), two WebP previews, one YouTube JPEG; nothing decoded.
    assert codec_calls == Counter({"PNG": 2, "WEBP": 4, "JPEG": 2}), codec_calls


def test_stored_files_decode_to_their_sizes(
    owner_client: Any, pro: Any, submit: Any, run_jobs: Any
) -> None:
    response = submit(owner_client, {"title": "Sizes", "aspect_ratio": "16:9", "resolution": "2K"})
    assert response.status_code == 202, response.content
    run_jobs()
    thumbnail = Thumbnail.objects.get(owner=pro)
    expected = {
        thumbnail.image.name: ("PNG", pixel_size("16:9", "2K")),
        thumbnail.image_medium.name: ("WEBP", (800, 447)),
        thumbnail.image_small.name: ("WEBP", (400, 223)),
        thumbnail.download.name: ("JPEG", (1280, 720)),
    }
    for name, (kind, size) in expected.items():
        with default_storage.open(name, "rb") as handle, Image.open(handle) as image:
            assert (image.format, image.size, image.mode) == (kind, size, "RGB"), name
    assert (thumbnail.width, thumbnail.height) == pixel_size("16:9", "2K")


class InFlight:
    """Counts images between the start of their render and the end of their encoding."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def enter(self) -> None:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def leave(self) -> None:
        with self.lock:
            self.now -= 1


@pytest.fixture
def in_flight(monkeypatch: pytest.MonkeyPatch) -> InFlight:
    """Renders a small stand-in image slowly (so renders overlap if allowed) and counts renders
    in flight until their files are encoded."""
    counter = InFlight()
    encode = generate_module.encode_unit_files

    def render(self: LocalRenderer, request: Any) -> Any:
        from generation.providers.base import GeneratedImage

        counter.enter()
        time.sleep(0.25)
        return GeneratedImage(image=Image.new("RGB", (384, 216), (200, 40, 40)))

    def encoded(generated: Any, params: Any) -> Any:
        try:
            return encode(generated, params)
        finally:
            counter.leave()

    monkeypatch.setattr(LocalRenderer, "generate_image", render)
    monkeypatch.setattr(generate_module, "encode_unit_files", encoded)
    return counter


@pytest.mark.parametrize(
    ("slots", "resolution", "peak"), [(1, "4K", 1), (2, "4K", 2), (1, "2K", 3)]
)
def test_4k_images_in_flight_never_exceed_the_setting(
    owner_client: Any,
    pro: Any,
    submit: Any,
    run_jobs: Any,
    in_flight: InFlight,
    settings: Any,
    slots: int,
    resolution: str,
    peak: int,
) -> None:
    settings.GENERATION_4K_CONCURRENCY = slots
    settings.GENERATION_PROVIDER_CONCURRENCY = 3
    response = submit(owner_client, {"title": "Big", "resolution": resolution, "variations": 3})
    assert response.status_code == 202, response.content
    run_jobs()
    assert Thumbnail.objects.filter(owner=pro).count() == 3
    assert in_flight.peak == peak  # 2K is not limited: all three overlap


def test_a_stopped_job_stops_waiting_for_a_4k_slot(settings: Any) -> None:
    settings.GENERATION_4K_CONCURRENCY = 1
    stop = threading.Event()
    with image_slot("4K"):
        stop.set()
        with pytest.raises(Stopped), image_slot("4K", stop):
            pass
    with image_slot("4K", stop):  # free again
        pass
