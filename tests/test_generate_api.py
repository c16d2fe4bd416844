"""POST /api/generate through the worker to stored thumbnails, with the local renderer."""

from __future__ import annotations

import io
import time
from typing import Any

import pytest
from PIL import Image

from billing.models import CreditLedgerEntry
from billing.services import adjust_credits, get_balance
from generation.models import Job
from generation.providers.base import GeneratedImage, ImageRequest, SafetyBlocked
from studio.models import Palette, Style, Thumbnail
from tests.conftest import set_plan

pytestmark = pytest.mark.django_db

TITLE = "I Tried 100 Coffee Shops: Only 1 Was Worth It"


def body(**overrides: Any) -> dict[str, Any]:
    style = Style.objects.get(slug="cinematic")
    palette = Palette.objects.get(name="Sunset Pop")
    return {"title": TITLE, "style_id": style.pk, "palette_id": palette.pk, **overrides}


def fetch(client: Any, url: str) -> bytes:
    response = client.get(url)
    assert response.status_code == 200, url
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_unauthenticated_is_401(anon_client) -> None:
    response = anon_client.post_json("/api/generate", body())
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == 'Session realm="ViewBait"'  # RFC 9110: a challenge


def test_me(owner_client, owner) -> None:
    data = owner_client.get("/api/me").json()
    assert data["email"] == owner.email
    assert data["plan"] == "free"
    assert data["credits_remaining"] == 10


def test_generate_accepts_then_worker_renders(owner_client, owner, submit, run_jobs) -> None:
    started = time.perf_counter()
    response = submit(owner_client, body())
    elapsed = time.perf_counter() - started
    assert response.status_code == 202, response.content
    job = response.json()
    assert job["status"] == "queued"
    assert job["cost"] == 1
    assert job["credits_remaining"] == 9
    assert elapsed < 5  # nothing rendered in the request: the job is only queued
    assert Thumbnail.objects.count() == 0

    assert run_jobs() == 1
    data = owner_client.get(f"/api/jobs/{job['id']}").json()
    assert data["status"] == "succeeded", data
    assert data["progress"] == 100
    assert "prompt" not in data
    [thumb] = data["thumbnails"]
    assert (thumb["width"], thumb["height"]) == (1376, 768)
    full = Image.open(
        io.BytesIO(fetch(owner_client, thumb["image_url"].replace("/media/", "/media/")))
    )
    assert full.width / full.height == pytest.approx(16 / 9, rel=0.01)

    download = fetch(owner_client, thumb["download_url"])
    assert len(download) < 2 * 1024 * 1024
    image = Image.open(io.BytesIO(download))
    assert (image.format, image.size) == ("JPEG", (1280, 720))
    extrema = image.convert("L").getextrema()
    assert extrema[1] - extrema[0] > 100  # not a blank frame
    stored = Thumbnail.objects.get()
    assert stored.has_watermark  # Free plan
    assert stored.expires_at is not None  # Free keeps thumbnails 30 days


@pytest.mark.parametrize("slug", ["documentary", "bold-gaming"])
def test_a_sub_line_of_invisible_characters_is_dropped(
    owner_client, submit, run_jobs, slug
) -> None:
    # "Hello: <zero-width space>": the sub-line draws nothing, and measuring it failed every
    # image of the job in the styles without an outline.
    style = Style.objects.get(slug=slug)
    job_id = submit(owner_client, body(title="Hello: \u200b", style_id=style.pk)).json()["id"]
    assert run_jobs() == 1
    job = owner_client.get(f"/api/jobs/{job_id}").json()
    assert job["status"] == "succeeded", (job.get("error_code"), job.get("error"))
    assert len(job["thumbnails"]) == 1
    prompt = Job.objects.get(pk=job_id).prompt
    assert '"Hello"' in prompt and "sub-line" not in prompt  # nor asked of Gemini


def test_prompt_carries_palette_colours_and_style_text(owner_client, submit, run_jobs) -> None:
    job_id = submit(owner_client, body(expression="shocked")).json()["id"]
    run_jobs()
    prompt = Job.objects.get(pk=job_id).prompt
    for colour in Palette.objects.get(name="Sunset Pop").colors:
        assert colour in prompt
    assert Style.objects.get(slug="cinematic").prompt in prompt
    assert '"I Tried 100 Coffee Shops"' in prompt and '"Only 1 Was Worth It"' in prompt


def test_watermark_burned_only_for_free(owner, owner_client, submit, run_jobs) -> None:
    submit(owner_client, body())
    set_plan(owner, "starter")
    submit(owner_client, body(title="Same text"))
    run_jobs()
    free, starter = Thumbnail.objects.order_by("created_at", "id")
    assert free.has_watermark and not starter.has_watermark
    assert (free.job.params["watermark"], starter.job.params["watermark"]) == (True, False)


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"variations": 2, "resolution": "2K", "aspect_ratio": "1:1"}, "plan_variations_limit"),
        ({"resolution": "2K", "aspect_ratio": "1:1"}, "plan_resolution_not_allowed"),
        ({"aspect_ratio": "1:1"}, "plan_aspect_ratio_not_allowed"),
    ],
)
def test_plan_limits_in_order(owner_client, overrides, code) -> None:
    response = owner_client.post_json("/api/generate", body(**overrides))
    assert response.status_code == 403
    assert response.json()["code"] == code
    assert Job.objects.count() == 0


def test_invalid_fields_are_400(owner_client) -> None:
    for bad in (
        {"aspect_ratio": "7:3"},
        {"resolution": "8K"},
        {"variations": 9},
        {"title": "x" * 101},
        {"variations": "many"},
    ):
        response = owner_client.post_json("/api/generate", body(**bad))
        assert response.status_code == 400, bad
        assert set(response.json()) >= {"error", "code"}


def test_insufficient_credits_is_402_before_any_work(owner, owner_client) -> None:
    set_plan(owner, "pro")
    adjust_credits(user=owner, amount=-8, idempotency_key="t", reason="test")
    response = owner_client.post_json("/api/generate", body(resolution="4K"))
    assert response.status_code == 402
    assert response.json() == {
        "error": "This needs 4 credits; you have 2.",
        "code": "insufficient_credits",
        "balance": 2,
        "required": 4,
    }
    assert Job.objects.count() == 0


def test_cost_is_per_image_times_variations(owner, owner_client, submit) -> None:
    set_plan(owner, "pro")
    adjust_credits(user=owner, amount=100, idempotency_key="t", reason="test")
    response = submit(owner_client, body(resolution="2K", variations=3, aspect_ratio="21:9"))
    assert response.json()["cost"] == 6
    assert get_balance(owner) == 104


def test_idempotency_key_returns_same_job_and_charges_once(owner, owner_client, submit) -> None:
    first = submit(owner_client, body(), key="abc-123")
    again = submit(owner_client, body(), key="abc-123")
    assert first.status_code == 202 and again.status_code == 202
    assert (first["Idempotent-Replayed"], again["Idempotent-Replayed"]) == ("false", "true")
    assert first.json()["id"] == again.json()["id"]
    assert Job.objects.count() == 1
    assert CreditLedgerEntry.objects.filter(user=owner, kind="debit").count() == 1
    reused = submit(owner_client, body(title="Another title"), key="abc-123")
    assert reused.status_code == 409
    assert reused.json()["code"] == "idempotency_key_reused"


@pytest.mark.parametrize("key", ["", "   ", "\t"])
def test_a_blank_idempotency_key_is_refused_uncharged(owner, owner_client, key) -> None:
    """A blank Idempotency-Key was taken for no key: the client meant its retries to be
    replays, and each was charged. 400 `invalid`, nothing charged, no job."""
    balance = get_balance(owner)
    response = owner_client.post_json("/api/generate", body(), HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid"
    assert "Idempotency-Key" in response.json()["error"]
    assert get_balance(owner) == balance and not Job.objects.exists()
    jobs = owner_client.post_json(
        "/api/jobs", {"type": "generate_thumbnails", "input": body()}, HTTP_IDEMPOTENCY_KEY=key
    )
    assert (jobs.status_code, jobs.json()["code"]) == (400, "invalid")
    assert get_balance(owner) == balance and not Job.objects.exists()


class FlakyProvider:
    """Fails the variations whose seed-derived order is in `fail`; renders the rest."""

    name = "flaky"

    def __init__(self, fail: set[int]) -> None:
        self.fail = fail
        self.calls = 0

    def generate_image(self, request: ImageRequest) -> GeneratedImage:
        index = self.calls
        self.calls += 1
        if index in self.fail:
            raise SafetyBlocked("raw provider text: blockReason=SAFETY internal-id-42")
        buffer = io.BytesIO()
        Image.new("RGB", (1376, 768), (200, 30, 30)).save(buffer, "PNG")
        return GeneratedImage(buffer.getvalue(), "image/png")


@pytest.fixture
def pro_owner(owner) -> Any:
    set_plan(owner, "pro")
    return owner


def test_failed_variation_refunded_once(
    pro_owner, owner_client, submit, run_jobs, monkeypatch
) -> None:
    provider = FlakyProvider(fail={1})
    monkeypatch.setattr("generation.services.get_provider", lambda: provider)
    monkeypatch.setattr("django.conf.settings.GENERATION_PROVIDER_CONCURRENCY", 1)
    job_id = submit(owner_client, body(variations=3)).json()["id"]
    assert get_balance(pro_owner) == 7
    run_jobs()
    job = Job.objects.get(pk=job_id)
    assert job.status == "partially_succeeded"
    assert (job.units_succeeded, job.units_failed) == (2, 1)
    assert get_balance(pro_owner) == 8
    refunds = CreditLedgerEntry.objects.filter(user=pro_owner, kind="refund")
    assert [r.amount for r in refunds] == [1]
    from generation.registry import JobOutcome, UnitFailure
    from generation.services import finish_job

    finish_job(job, JobOutcome([UnitFailure(1, "safety_blocked", "x")]))  # a replayed finish
    assert get_balance(pro_owner) == 8


def test_all_variations_failed_is_failed_with_sanitized_error(
    pro_owner, owner_client, submit, run_jobs, monkeypatch
) -> None:
    monkeypatch.setattr("generation.services.get_provider", lambda: FlakyProvider(fail={0, 1}))
    job_id = submit(owner_client, body(variations=2)).json()["id"]
    run_jobs()
    data = owner_client.get(f"/api/jobs/{job_id}").json()
    assert data["status"] == "failed"
    assert data["error_code"] == "safety_blocked"
    assert "internal-id-42" not in data["error"] and "blockReason" not in data["error"]
    assert get_balance(pro_owner) == 10


def test_job_crash_refunds_everything(
    pro_owner, owner_client, submit, run_jobs, monkeypatch
) -> None:
    def boom() -> Any:
        raise RuntimeError("secret stack detail")

    monkeypatch.setattr("generation.services.get_provider", boom)
    job_id = submit(owner_client, body(variations=2)).json()["id"]
    run_jobs()
    data = owner_client.get(f"/api/jobs/{job_id}").json()
    assert (data["status"], data["error_code"]) == ("failed", "internal_error")
    assert "secret" not in data["error"]
    assert get_balance(pro_owner) == 10


def test_redelivered_message_runs_the_job_once(owner_client, submit, run_jobs) -> None:
    from generation.services import execute_job

    job_id = submit(owner_client, body()).json()["id"]
    run_jobs()
    assert execute_job(job_id) is None
    assert Thumbnail.objects.count() == 1


def test_faces_are_composited_and_sent(
    owner, owner_client, submit, run_jobs, face_photo_bytes, monkeypatch
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = owner_client.post(
        "/api/faces",
        {"name": "Eileen", "images": [SimpleUploadedFile("f.png", face_photo_bytes, "image/png")]},
    )
    face_id = response.json()["id"]
    seen: list[ImageRequest] = []
    from generation.providers.local import LocalRenderer

    class Spy(LocalRenderer):
        def generate_image(self, request: ImageRequest) -> GeneratedImage:
            seen.append(request)
            return super().generate_image(request)

    monkeypatch.setattr("generation.services.get_provider", Spy)
    submit(
        owner_client, body(face_ids=[face_id], expression="shocked", pose="pointing at the text")
    )
    run_jobs()
    [request] = seen
    assert [image.role for image in request.images] == ["face"]
    assert Image.open(io.BytesIO(request.images[0].data)).size == (512, 512)
    assert "shocked" in request.prompt and "pointing at the text" in request.prompt
    assert Thumbnail.objects.get(owner=owner).job.status == "succeeded"


def test_generating_again_with_the_same_settings_draws_the_next_layout(
    owner, owner_client, submit, run_jobs
) -> None:
    """Each generate continues the creator's cycle of layouts: the same settings three times
    give three layouts, and a job's variations take consecutive ones (a layout drawn from the
    job's id repeated the last one time in four)."""
    set_plan(owner, "pro")  # room for several jobs and variations
    minimal = Style.objects.get(slug="minimal")  # a calm style: no random details to differ in
    for _ in range(3):
        response = submit(owner_client, body(style_id=minimal.pk, title="Same settings"))
        assert response.status_code == 202, response.content
    response = submit(owner_client, body(style_id=minimal.pk, title="Same settings", variations=2))
    assert response.status_code == 202, response.content
    run_jobs()
    thumbnails = list(
        Thumbnail.objects.filter(owner=owner).order_by("job__created_at", "variation_index")
    )
    assert [t.parameters["layout"] for t in thumbnails] == [0, 1, 2, 3, 4]
    images = []
    for thumbnail in thumbnails[:3]:
        with thumbnail.image.open("rb") as handle:
            images.append(handle.read())
    assert len(set(images)) == 3
