"""GeminiImageProvider through the real google-genai client against tests/fake_gemini.py.

No database: the provider only reads the GEMINI_* settings (pytest-django's `settings`).
"""

from __future__ import annotations

import base64
import io
import logging
import time
from typing import Any

import pytest
from google import genai
from PIL import Image
from pytest_django.fixtures import Settings

from generation.providers import gemini as gemini_module
from generation.providers import get_image_provider
from generation.providers.base import (
    ImageRequest,
    InputImage,
    InvalidProviderRequest,
    NoImageReturned,
    ProviderTimeout,
    ProviderUnavailable,
    QuotaExceeded,
    SafetyBlocked,
)
from generation.providers.gemini import GeminiImageProvider
from generation.sizes import pixel_size
from tests import fake_gemini as fake_gemini_module
from tests.fake_gemini import IMAGE_COLOR, FakeGemini, png_bytes

# The fixtures, bound here so pytest collects them for this module (importing them by name
# instead trips ruff's F811 at every test that takes one as an argument).
fake_gemini = fake_gemini_module.fake_gemini
gemini_settings = fake_gemini_module.gemini_settings

PRO_MODEL = "gemini-3-pro-image-preview"
FLASH_MODEL = "gemini-2.5-flash-image"


def make_request(
    *,
    model: str = PRO_MODEL,
    aspect_ratio: str = "16:9",
    image_size: str = "1K",
    images: list[InputImage] | None = None,
) -> ImageRequest:
    return ImageRequest(
        prompt="A shocked chef next to a giant burger, bold title TEXT",
        aspect_ratio=aspect_ratio,
        image_size=image_size,
        model=model,
        images=images or [],
    )


def b64decode_any(text: str) -> bytes:
    """Base64 in either alphabet: the SDK sends URL-safe, Google's docs show the standard one."""
    return base64.urlsafe_b64decode(text.replace("+", "-").replace("/", "_"))


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_returns_the_image_and_sends_the_documented_request(gemini_settings: FakeGemini) -> None:
    reference = InputImage(png_bytes((8, 8), (1, 2, 3)), "image/png", "reference")
    face = InputImage(b"\xff\xd8\xff-face-jpeg", "image/jpeg", "face")
    provider = get_image_provider()
    assert isinstance(provider, GeminiImageProvider)

    result = provider.generate_image(
        make_request(aspect_ratio="9:16", image_size="2K", images=[reference, face])
    )

    assert result.mime_type == "image/png"
    image = decode(result.data)
    assert image.size == pixel_size("9:16", "2K") == (1536, 2752)
    assert image.convert("RGB").getpixel((0, 0)) == IMAGE_COLOR

    [sent] = gemini_settings.requests
    assert sent.path == f"/v1beta/models/{PRO_MODEL}:generateContent"
    assert sent.headers["x-goog-api-key"] == "test-key"
    config = sent.body["generationConfig"]
    assert config["imageConfig"] == {"aspectRatio": "9:16", "imageSize": "2K"}
    assert "IMAGE" in config["responseModalities"]
    [content] = sent.body["contents"]
    text_part, *image_parts = content["parts"]
    assert text_part == {"text": "A shocked chef next to a giant burger, bold title TEXT"}
    sent_images = [
        (
            b64decode_any(part["inlineData"]["data"]),
            part["inlineData"].get("mimeType") or part["inlineData"].get("mime_type"),
        )
        for part in image_parts
    ]
    assert sent_images == [(reference.data, "image/png"), (face.data, "image/jpeg")]


def test_model_without_image_size_support_gets_no_image_size(gemini_settings: FakeGemini) -> None:
    result = get_image_provider().generate_image(make_request(model=FLASH_MODEL, image_size="2K"))

    [sent] = gemini_settings.requests
    assert sent.model == FLASH_MODEL
    assert sent.body["generationConfig"]["imageConfig"] == {"aspectRatio": "16:9"}
    assert decode(result.data).size == pixel_size("16:9", "1K")


def test_interim_thought_image_is_skipped(gemini_settings: FakeGemini) -> None:
    gemini_settings.script("image_after_thought")

    result = get_image_provider().generate_image(make_request())

    assert decode(result.data).size == pixel_size("16:9", "1K")


def test_429_is_retried_by_the_sdk_then_succeeds(gemini_settings: FakeGemini) -> None:
    gemini_settings.script("429")

    result = get_image_provider().generate_image(make_request())

    assert len(gemini_settings.requests) == 2
    assert decode(result.data).size == pixel_size("16:9", "1K")


def test_429_on_every_attempt_is_quota_exceeded(
    gemini_settings: FakeGemini, settings: Settings
) -> None:
    gemini_settings.script("429", "429", "429")

    with pytest.raises(QuotaExceeded):
        get_image_provider().generate_image(make_request())

    assert len(gemini_settings.requests) == settings.GEMINI_RETRY_ATTEMPTS == 3


def test_repeated_500_is_unavailable_after_exactly_the_configured_attempts(
    gemini_settings: FakeGemini, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    gemini_settings.script("500", "500", "500", "500")

    with (
        caplog.at_level(logging.WARNING, logger=gemini_module.__name__),
        pytest.raises(ProviderUnavailable) as caught,
    ):
        get_image_provider().generate_image(make_request())

    assert len(gemini_settings.requests) == settings.GEMINI_RETRY_ATTEMPTS == 3
    error = caught.value
    assert error.message == ProviderUnavailable.message
    assert "Fake Gemini error 500" in error.detail
    assert "Fake Gemini error 500" in caplog.text


def test_400_is_invalid_request_and_not_retried(gemini_settings: FakeGemini) -> None:
    gemini_settings.script("400")

    with pytest.raises(InvalidProviderRequest):
        get_image_provider().generate_image(make_request())

    assert len(gemini_settings.requests) == 1


def test_504_deadline_exceeded_is_a_timeout(gemini_settings: FakeGemini) -> None:
    gemini_settings.script("504", "504", "504")

    with pytest.raises(ProviderTimeout):
        get_image_provider().generate_image(make_request())

    assert len(gemini_settings.requests) == 3


def test_hang_past_the_timeout_is_provider_timeout(
    gemini_settings: FakeGemini, settings: Settings
) -> None:
    settings.GEMINI_TIMEOUT_SECONDS = 0.5
    gemini_settings.script("hang", "hang", "hang")

    started = time.monotonic()
    with pytest.raises(ProviderTimeout):
        get_image_provider().generate_image(make_request())
    elapsed = time.monotonic() - started

    # The SDK retries transport timeouts too: 3 attempts of 0.5 s plus ~10 ms backoffs.
    assert len(gemini_settings.requests) == 3
    assert 1.4 < elapsed < 4.0


@pytest.mark.parametrize("behaviour", ["safety_prompt", "safety_finish"])
def test_safety_block_is_safety_blocked(gemini_settings: FakeGemini, behaviour: str) -> None:
    gemini_settings.script(behaviour)

    with pytest.raises(SafetyBlocked) as caught:
        get_image_provider().generate_image(make_request())

    assert caught.value.message == SafetyBlocked.message
    assert len(gemini_settings.requests) == 1


def test_answer_without_image_is_no_image_returned(gemini_settings: FakeGemini) -> None:
    gemini_settings.script("no_image")

    with pytest.raises(NoImageReturned) as caught:
        get_image_provider().generate_image(make_request())

    assert "I can't make that image." in caught.value.detail


def test_one_client_per_provider(
    gemini_settings: FakeGemini, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_client = genai.Client
    built: list[genai.Client] = []

    def counting_client(**kwargs: Any) -> genai.Client:
        client = real_client(**kwargs)
        built.append(client)
        return client

    monkeypatch.setattr(gemini_module.genai, "Client", counting_client)
    provider = GeminiImageProvider.from_settings()
    provider.generate_image(make_request())
    provider.generate_image(make_request())

    assert len(built) == 1
    assert len(gemini_settings.requests) == 2
