"""GeminiProvider through the real google-genai client against tests/fake_gemini.py.

No database: the provider only reads the GEMINI_* settings (pytest-django's `settings`). Every
test also checks that the SDK made exactly one HTTP call per provider call: the SDK's own retries
are off, the job engine retries.
"""

from __future__ import annotations

import base64
import io
import logging
import socket
import ssl
import time
from typing import Any

import pytest
from google import genai
from PIL import Image
from pytest_django.fixtures import Settings

from generation import catalog
from generation.providers import gemini as gemini_module
from generation.providers import get_image_provider, get_provider
from generation.providers.base import (
    CapabilityUnavailable,
    EditRequest,
    ImageRequest,
    InputImage,
    InvalidJSONReturned,
    InvalidProviderRequest,
    JSONRequest,
    ModelUnavailable,
    NoImageReturned,
    ProviderAuthFailed,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    QuotaExceeded,
    QuotaExhausted,
    SafetyBlocked,
)
from generation.providers.gemini import GeminiProvider
from generation.providers.local import LocalRenderer
from tests import fake_gemini as fake_gemini_module
from tests.fake_gemini import IMAGE_COLOR, FakeGemini, png_bytes

# The fixtures, bound here so pytest collects them for this module (importing them by name
# instead trips ruff's F811 at every test that takes one as an argument).
fake_gemini = fake_gemini_module.fake_gemini
gemini_settings = fake_gemini_module.gemini_settings

PRO = "gemini-3-pro-image"
FLASH = "gemini-nano-banana-2.1"
TEXT = "gemini-3.8-flash"
RETIRED = "gemini-3-pro-image-preview"

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "score": {"type": "integer", "minimum": 1},
        "tags": {"type": "array", "items": {"type": "string"}},
        "mood": {"type": "string", "enum": ["bold", "calm"]},
    },
    "required": ["title", "score", "tags", "mood"],
}


def image_request(
    *,
    model: str = PRO,
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


def sent_image(part: dict[str, Any]) -> tuple[bytes, str]:
    blob = part["inlineData"]
    return b64decode_any(blob["data"]), blob.get("mimeType") or blob.get("mime_type")


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def raises_after_one_call(fake: FakeGemini, error: type[ProviderError], call: Any) -> ProviderError:
    """Runs `call`, expects `error`, and checks the SDK sent exactly one HTTP request."""
    with pytest.raises(error) as caught:
        call()
    assert len(fake.requests) == 1, "the SDK must not retry on its own"
    return caught.value


# --- generate_image --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "aspect_ratio", "image_size", "expected"),
    [
        # Google's image-generation guide, "Pro Image" and "Flash Image" tables (Nano Banana
        # 2.1 makes Nano Banana 2's sizes).
        (PRO, "16:9", "1K", (1376, 768)),
        (PRO, "9:16", "2K", (1536, 2752)),
        (PRO, "21:9", "4K", (6336, 2688)),
        (FLASH, "16:9", "2K", (2752, 1536)),
        (FLASH, "4:5", "1K", (928, 1152)),
        (FLASH, "1:1", "4K", (4096, 4096)),
    ],
)
def test_image_at_the_models_real_pixel_size(
    gemini_settings: FakeGemini,
    settings: Any,
    model: str,
    aspect_ratio: str,
    image_size: str,
    expected: tuple[int, int],
) -> None:
    # The fake encodes up to 17 megapixels for this call: more than the fixture's 1 s timeout
    # on a slow or busy machine, and timeouts are not what this test is about.
    settings.GEMINI_TIMEOUT_SECONDS = 30.0
    result = get_provider().generate_image(
        image_request(model=model, aspect_ratio=aspect_ratio, image_size=image_size)
    )

    image = decode(result.data)
    assert result.mime_type == "image/png"
    assert image.size == expected == catalog.get_model(model).pixel_size(aspect_ratio, image_size)
    assert image.convert("RGB").getpixel((0, 0)) == IMAGE_COLOR
    [sent] = gemini_settings.requests
    assert sent.path == f"/v1beta/models/{model}:generateContent"
    assert sent.generation_config["imageConfig"] == {
        "aspectRatio": aspect_ratio,
        "imageSize": image_size,
    }


def test_image_request_carries_the_prompt_then_the_images_in_order(
    gemini_settings: FakeGemini,
) -> None:
    reference = InputImage(png_bytes((8, 8), (1, 2, 3)), "image/png", "reference")
    face = InputImage(b"\xff\xd8\xff-face-jpeg", "image/jpeg", "face")
    provider = get_provider()
    assert isinstance(provider, GeminiProvider)
    assert provider.name == "gemini"

    provider.generate_image(image_request(images=[reference, face]))

    [sent] = gemini_settings.requests
    assert sent.headers["x-goog-api-key"] == "test-key"
    assert "IMAGE" in sent.generation_config["responseModalities"]
    text_part, *image_parts = sent.parts
    assert text_part == {"text": "A shocked chef next to a giant burger, bold title TEXT"}
    assert [sent_image(p) for p in image_parts] == [
        (reference.data, "image/png"),
        (face.data, "image/jpeg"),
    ]


def test_interim_thought_image_is_skipped(gemini_settings: FakeGemini) -> None:
    gemini_settings.script("image_after_thought")

    result = get_provider().generate_image(image_request())

    assert decode(result.data).size == (1376, 768)
    assert decode(result.data).convert("RGB").getpixel((0, 0)) == IMAGE_COLOR


# --- edit_image ------------------------------------------------------------------------------


def test_edit_sends_the_instruction_then_the_source_then_the_references(
    gemini_settings: FakeGemini,
) -> None:
    source = InputImage(png_bytes((16, 9), (9, 9, 9)), "image/png", "source")
    ref_a = InputImage(png_bytes((4, 4), (1, 1, 1)), "image/png", "reference")
    ref_b = InputImage(b"\xff\xd8\xff-ref-jpeg", "image/jpeg", "reference")

    result = get_provider().edit_image(
        EditRequest(
            source=source,
            instruction="Make the title yellow",
            aspect_ratio="16:9",
            image_size="2K",
            model=FLASH,
            references=[ref_a, ref_b],
        )
    )

    assert decode(result.data).size == (2752, 1536)
    [sent] = gemini_settings.requests
    assert sent.model == FLASH
    first, *images = sent.parts
    assert first == {"text": "Make the title yellow"}
    assert [sent_image(p) for p in images] == [
        (source.data, "image/png"),
        (ref_a.data, "image/png"),
        (ref_b.data, "image/jpeg"),
    ]
    assert sent.generation_config["imageConfig"] == {"aspectRatio": "16:9", "imageSize": "2K"}


# --- generate_json ---------------------------------------------------------------------------


def test_json_request_carries_the_schema_and_the_answer_is_parsed(
    gemini_settings: FakeGemini,
) -> None:
    gemini_settings.json_answer = {
        "title": "BIG BURGER",
        "score": 9,
        "tags": ["food"],
        "mood": "bold",
    }
    face = InputImage(b"\xff\xd8\xff-face", "image/jpeg", "analysis")

    result = get_provider().generate_json(
        JSONRequest(prompt="Rate this thumbnail", schema=SCHEMA, model=TEXT, images=[face])
    )

    assert result.data == {"title": "BIG BURGER", "score": 9, "tags": ["food"], "mood": "bold"}
    # usageMetadata: promptTokenCount 12; candidates 34 + thoughts 5 (billed as output).
    assert (result.input_tokens, result.output_tokens) == (12, 39)
    [sent] = gemini_settings.requests
    assert sent.path == f"/v1beta/models/{TEXT}:generateContent"
    assert sent.generation_config["responseMimeType"] == "application/json"
    assert sent.generation_config["responseJsonSchema"] == SCHEMA
    assert "responseModalities" not in sent.generation_config
    text, image = sent.parts
    assert text == {"text": "Rate this thumbnail"}
    assert sent_image(image) == (face.data, "image/jpeg")


def test_json_default_answer_follows_the_schema(gemini_settings: FakeGemini) -> None:
    result = get_provider().generate_json(JSONRequest(prompt="p", schema=SCHEMA, model=TEXT))

    assert result.data == {"title": "example", "score": 1, "tags": ["example"], "mood": "bold"}


def test_text_that_is_not_json_is_invalid_json_returned(gemini_settings: FakeGemini) -> None:
    gemini_settings.script("json_invalid")

    error = raises_after_one_call(
        gemini_settings,
        InvalidJSONReturned,
        lambda: get_provider().generate_json(JSONRequest(prompt="p", schema=SCHEMA, model=TEXT)),
    )

    assert error.retryable
    assert "Sure! Here is the JSON" in error.detail
    assert error.message == InvalidJSONReturned.message


# --- HTTP errors -----------------------------------------------------------------------------


def test_retired_model_is_404_and_model_unavailable(gemini_settings: FakeGemini) -> None:
    error = raises_after_one_call(
        gemini_settings,
        ModelUnavailable,
        lambda: get_provider().generate_image(image_request(model=RETIRED)),
    )

    assert gemini_settings.requests[0].model == RETIRED
    assert "NOT_FOUND" in error.detail
    assert error.trips_breaker
    assert not error.retryable


def test_bad_key_is_provider_auth_failed(gemini_settings: FakeGemini, settings: Settings) -> None:
    settings.GEMINI_API_KEY = "not-the-key"

    error = raises_after_one_call(
        gemini_settings, ProviderAuthFailed, lambda: get_provider().generate_image(image_request())
    )

    assert gemini_settings.requests[0].headers["x-goog-api-key"] == "not-the-key"
    assert "API key not valid" in error.detail
    assert error.message == ProviderAuthFailed.message
    assert not error.retryable


@pytest.mark.parametrize("status", ["401", "403"])
def test_401_and_403_are_provider_auth_failed(gemini_settings: FakeGemini, status: str) -> None:
    gemini_settings.script(status)

    raises_after_one_call(
        gemini_settings, ProviderAuthFailed, lambda: get_provider().generate_image(image_request())
    )


@pytest.mark.parametrize(("delay", "seconds"), [("30s", 30.0), ("1.5s", 1.5)])
def test_per_minute_429_is_quota_exceeded_with_retry_after(
    gemini_settings: FakeGemini, delay: str, seconds: float
) -> None:
    gemini_settings.retry_delay = delay
    gemini_settings.script("429_minute")

    error = raises_after_one_call(
        gemini_settings, QuotaExceeded, lambda: get_provider().generate_image(image_request())
    )

    assert error.retry_after == seconds
    assert error.retryable
    assert not error.trips_breaker


def test_per_day_429_is_quota_exhausted_and_not_retryable(gemini_settings: FakeGemini) -> None:
    gemini_settings.script("429_day")

    error = raises_after_one_call(
        gemini_settings, QuotaExhausted, lambda: get_provider().generate_image(image_request())
    )

    assert not error.retryable
    assert "GenerateRequestsPerDayPerProjectPerModel" in error.detail


@pytest.mark.parametrize("status", ["500", "502", "503"])
def test_5xx_is_provider_unavailable_retryable_and_trips_breaker(
    gemini_settings: FakeGemini, status: str, caplog: pytest.LogCaptureFixture
) -> None:
    gemini_settings.script(status)

    with caplog.at_level(logging.WARNING, logger=gemini_module.__name__):
        error = raises_after_one_call(
            gemini_settings,
            ProviderUnavailable,
            lambda: get_provider().generate_image(image_request()),
        )

    assert error.retryable
    assert error.trips_breaker
    assert error.message == ProviderUnavailable.message
    assert f"HTTP {status}" in error.detail
    assert f"HTTP {status}" in caplog.text  # the raw text is logged, never shown


def test_503_says_overloaded_in_detail_only(gemini_settings: FakeGemini) -> None:
    gemini_settings.script("503")

    error = raises_after_one_call(
        gemini_settings, ProviderUnavailable, lambda: get_provider().generate_image(image_request())
    )

    assert "overloaded" in error.detail
    assert "overloaded" not in error.message


@pytest.mark.parametrize("status", ["408", "504"])
def test_408_and_504_are_provider_timeout(gemini_settings: FakeGemini, status: str) -> None:
    gemini_settings.script(status)

    error = raises_after_one_call(
        gemini_settings, ProviderTimeout, lambda: get_provider().generate_image(image_request())
    )

    assert error.retryable


def test_other_400_is_invalid_request(gemini_settings: FakeGemini) -> None:
    gemini_settings.script("400")

    error = raises_after_one_call(
        gemini_settings,
        InvalidProviderRequest,
        lambda: get_provider().generate_image(image_request()),
    )

    assert not error.retryable
    assert not error.trips_breaker


def test_hang_past_the_timeout_is_provider_timeout_after_one_attempt(
    gemini_settings: FakeGemini, settings: Settings
) -> None:
    settings.GEMINI_TIMEOUT_SECONDS = 0.5
    gemini_settings.script("hang", "hang")

    started = time.monotonic()
    error = raises_after_one_call(
        gemini_settings, ProviderTimeout, lambda: get_provider().generate_image(image_request())
    )
    elapsed = time.monotonic() - started

    assert 0.4 < elapsed < 5  # one 0.5 s timeout, not a hang (the attempts are counted above)
    assert error.retryable
    assert error.trips_breaker


def test_connection_refused_is_provider_unavailable(settings: Settings) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed once the block ends: nothing listens there
    settings.IMAGE_PROVIDER = "gemini"
    settings.GEMINI_API_KEY = "test-key"
    settings.GEMINI_BASE_URL = f"http://127.0.0.1:{port}/"
    settings.GEMINI_TIMEOUT_SECONDS = 1.0

    with pytest.raises(ProviderUnavailable) as caught:
        get_provider().generate_image(image_request())

    assert caught.value.retryable


# --- answers without an image ----------------------------------------------------------------


@pytest.mark.parametrize("behaviour", ["safety_prompt", "image_safety"])
def test_safety_blocks_are_safety_blocked(gemini_settings: FakeGemini, behaviour: str) -> None:
    gemini_settings.script(behaviour)

    error = raises_after_one_call(
        gemini_settings, SafetyBlocked, lambda: get_provider().generate_image(image_request())
    )

    assert error.message == SafetyBlocked.message
    assert not error.retryable


@pytest.mark.parametrize(
    ("behaviour", "in_detail"),
    [
        ("no_image_reason", "NO_IMAGE"),
        ("image_other", "IMAGE_OTHER"),
        ("no_image", "I can't make that image."),
    ],
)
def test_answers_without_an_image_are_no_image_returned(
    gemini_settings: FakeGemini, behaviour: str, in_detail: str
) -> None:
    gemini_settings.script(behaviour)

    error = raises_after_one_call(
        gemini_settings, NoImageReturned, lambda: get_provider().generate_image(image_request())
    )

    assert in_detail in error.detail
    assert error.message == NoImageReturned.message


def test_blocked_json_prompt_is_safety_blocked(gemini_settings: FakeGemini) -> None:
    gemini_settings.script("safety_prompt")

    raises_after_one_call(
        gemini_settings,
        SafetyBlocked,
        lambda: get_provider().generate_json(JSONRequest(prompt="p", schema=SCHEMA, model=TEXT)),
    )


# --- timeouts, clients, models.list ----------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "image_size"), [(PRO, "1K"), (PRO, "4K"), (FLASH, "2K"), (TEXT, "")]
)
def test_per_call_timeout_comes_from_the_catalog(
    gemini_settings: FakeGemini, settings: Settings, model: str, image_size: str
) -> None:
    settings.GEMINI_TIMEOUT_SECONDS = 0  # no override
    provider = get_provider()
    if image_size:
        provider.generate_image(image_request(model=model, image_size=image_size))
    else:
        provider.generate_json(JSONRequest(prompt="p", schema=SCHEMA, model=model))

    [sent] = gemini_settings.requests
    expected = catalog.get_model(model).timeout_for(image_size)
    # The SDK sends the per-call timeout as X-Server-Timeout (whole seconds).
    assert sent.headers["x-server-timeout"] == str(int(expected))


def test_a_request_that_watches_a_video_gets_the_video_timeout(
    gemini_settings: FakeGemini, settings: Settings
) -> None:
    """A video's answer takes longer than a prompt's: the text model's "video" budget (180 s),
    not its 60 s, so a long video is not cut off and retried (each attempt billed)."""
    settings.GEMINI_TIMEOUT_SECONDS = 0  # no override
    video = "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
    get_provider().generate_json(
        JSONRequest(prompt="p", schema=SCHEMA, model=TEXT, video_uri=video)
    )

    [sent] = gemini_settings.requests
    assert (
        sent.headers["x-server-timeout"] == "180" != str(int(catalog.get_model(TEXT).timeout_for()))
    )


def test_timeout_override_wins_over_the_catalog(
    gemini_settings: FakeGemini, settings: Settings
) -> None:
    # Not the fixture's 1 s: the fake encodes a 17-megapixel PNG for a 4K answer, which took
    # longer than that on a busy machine (a fresh-clone run failed on it).
    settings.GEMINI_TIMEOUT_SECONDS = 30.0
    get_provider().generate_image(image_request(image_size="4K"))

    # The override, not the catalog's 4K timeout.
    assert catalog.get_model(PRO).timeout_for("4K") != 30.0
    assert gemini_settings.requests[0].headers["x-server-timeout"] == "30"


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
    provider = GeminiProvider.from_settings()
    provider.generate_image(image_request())
    provider.generate_json(JSONRequest(prompt="p", schema=SCHEMA, model=TEXT))

    assert len(built) == 1
    assert len(gemini_settings.requests) == 2


def test_clients_share_one_tls_context(
    gemini_settings: FakeGemini, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The SDK otherwise builds two contexts per client, each parsing the CA bundle (~80 ms).
    GeminiProvider.from_settings()  # the process's one context, built at most once
    built: list[ssl.SSLContext] = []
    real = ssl.create_default_context

    def counting(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        context = real(*args, **kwargs)
        built.append(context)
        return context

    monkeypatch.setattr(ssl, "create_default_context", counting)
    first = GeminiProvider(api_key=gemini_settings.valid_key, base_url=gemini_settings.base_url)
    second = GeminiProvider(api_key=gemini_settings.valid_key, base_url=gemini_settings.base_url)
    first.generate_image(image_request())
    second.generate_json(JSONRequest(prompt="p", schema=SCHEMA, model=TEXT))

    assert built == []
    assert len(gemini_settings.requests) == 2


def test_list_models_returns_the_served_ids(gemini_settings: FakeGemini) -> None:
    gemini_settings.served_models = {PRO, TEXT}

    provider = get_provider()
    assert isinstance(provider, GeminiProvider)
    assert provider.list_models() == [PRO, TEXT]
    [sent] = gemini_settings.requests
    assert sent.path.startswith("/v1beta/models")


def test_list_models_with_a_bad_key_is_provider_auth_failed(
    gemini_settings: FakeGemini, settings: Settings
) -> None:
    settings.GEMINI_API_KEY = "nope"
    provider = get_provider()
    assert isinstance(provider, GeminiProvider)

    with pytest.raises(ProviderAuthFailed):
        provider.list_models()


# --- provider selection and the offline provider ---------------------------------------------


def test_get_provider_is_cached_per_configuration(
    gemini_settings: FakeGemini, settings: Settings
) -> None:
    first = get_provider()
    assert get_provider() is first
    assert get_image_provider is get_provider

    settings.GEMINI_TIMEOUT_SECONDS = 2.0
    assert get_provider() is not first

    settings.IMAGE_PROVIDER = "local"
    assert isinstance(get_provider(), LocalRenderer)


def test_local_renderer_offers_no_edit_or_json() -> None:
    renderer = LocalRenderer()
    source = InputImage(b"x", "image/png", "source")

    assert renderer.name == "local"
    with pytest.raises(CapabilityUnavailable) as edit:
        renderer.edit_image(
            EditRequest(
                source=source, instruction="i", aspect_ratio="16:9", image_size="1K", model="local"
            )
        )
    with pytest.raises(CapabilityUnavailable) as analyse:
        renderer.generate_json(JSONRequest(prompt="p", schema=SCHEMA, model="local"))

    assert "GEMINI_API_KEY" in edit.value.detail
    assert "GEMINI_API_KEY" in analyse.value.detail
    assert edit.value.code == "needs_api_key"
