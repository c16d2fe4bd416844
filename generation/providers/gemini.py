"""Gemini image provider: one `generateContent` call per image through the google-genai SDK.

Request shape (Gemini Developer API, `POST {base_url}/v1beta/models/{model}:generateContent`):
the user turn is the prompt text first, then one inline image part per `ImageRequest.images`
in their order (style references, then faces); `generationConfig` asks for TEXT and IMAGE output
(the documented default; any text the model adds is only logged) and carries
`imageConfig.aspectRatio` always and `imageConfig.imageSize` only for models that accept it
(see `supports_image_size`).

Settings (viewbait/settings.py): `GEMINI_API_KEY`; `GEMINI_BASE_URL` ("" means Google's
endpoint; tests point it at tests/fake_gemini.py); `GEMINI_TIMEOUT_SECONDS`, the per-attempt
HTTP timeout in seconds (the SDK takes milliseconds); `GEMINI_RETRY_ATTEMPTS`, total attempts
including the first; `GEMINI_RETRY_INITIAL_DELAY`, seconds before the first retry.

Retries are the SDK's own (`HttpRetryOptions`, tenacity underneath): exponential backoff starting
at `GEMINI_RETRY_INITIAL_DELAY`, doubling, plus a random jitter of up to the same number of
seconds, on HTTP 408/429/500/502/503/504 (the SDK's default retryable set, after Google's Cloud
Storage retry strategy) and, always, on transport timeouts and connection errors. A request that
keeps timing out therefore takes up to about `GEMINI_RETRY_ATTEMPTS * GEMINI_TIMEOUT_SECONDS` plus
the backoff delays before `ProviderTimeout` is raised.

Failures are raised as `generation.providers.base.ProviderError` subclasses whose class-level
`message` is what the creator sees; Google's raw text only goes to the log and to `detail`.
"""

from __future__ import annotations

import importlib
import logging

from django.conf import settings
from google import genai
from google.genai import errors, types

from generation.providers.base import (
    GeneratedImage,
    ImageRequest,
    InvalidProviderRequest,
    NoImageReturned,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    QuotaExceeded,
    SafetyBlocked,
)

logger = logging.getLogger(__name__)

# google-genai 3.x defaults the Gemini Developer API to "v1"; the preview image models
# (gemini-3-pro-image-preview, ...) are served on "v1beta", which Google's image-generation REST
# examples use (python-genai 3.0.0 release notes: some -preview models exist only on v1beta).
API_VERSION = "v1beta"
RETRY_STATUS_CODES = [408, 429, 500, 502, 503, 504]

# Models that accept `image_config.image_size` ("1K"/"2K"/"4K"): the Gemini 3 image models
# (gemini-3-pro-image-preview, gemini-3.1-flash-image-preview, ...). Google's image-generation
# docs give gemini-2.5-flash-image a single resolution and show `image_size` only for Gemini 3.
IMAGE_SIZE_MODEL_PREFIXES = ("gemini-3",)

# Candidate finish reasons that mean a policy filter stopped the image (google.genai.types).
SAFETY_FINISH_REASONS = frozenset(
    {
        types.FinishReason.SAFETY,
        types.FinishReason.BLOCKLIST,
        types.FinishReason.PROHIBITED_CONTENT,
        types.FinishReason.SPII,
        types.FinishReason.RECITATION,
        types.FinishReason.IMAGE_SAFETY,
        types.FinishReason.IMAGE_PROHIBITED_CONTENT,
        types.FinishReason.IMAGE_RECITATION,
    }
)


def _transport_exceptions(name: str) -> tuple[type[Exception], ...]:
    """The exception class `name` from whichever of httpx / httpx2 is installed.

    The SDK sends through httpx2 or httpx (GOOGLE_GENAI_HTTP_CLIENT picks) and re-raises their
    transport exceptions unwrapped once its retries are spent.
    """
    found: list[type[Exception]] = []
    for module_name in ("httpx", "httpx2"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        found.append(getattr(module, name))
    return tuple(found)


_TIMEOUT_ERRORS = _transport_exceptions("TimeoutException")
_TRANSPORT_ERRORS = _transport_exceptions("TransportError")


def supports_image_size(model: str) -> bool:
    """Whether `model` accepts `image_config.image_size` (see IMAGE_SIZE_MODEL_PREFIXES)."""
    return model.startswith(IMAGE_SIZE_MODEL_PREFIXES)


class GeminiImageProvider:
    """Generates one image per `ImageRequest` with a Gemini image model.

    Holds one `genai.Client` (and so one HTTP connection pool) for the provider's lifetime.
    """

    name = "gemini"

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str = "",
        timeout_seconds: float,
        retry_attempts: int,
        retry_initial_delay: float,
    ) -> None:
        self._client = genai.Client(
            vertexai=False,
            api_key=api_key,
            http_options=types.HttpOptions(
                base_url=base_url or None,
                api_version=API_VERSION,
                timeout=round(timeout_seconds * 1000),  # the SDK takes milliseconds
                retry_options=types.HttpRetryOptions(
                    attempts=retry_attempts,
                    initial_delay=retry_initial_delay,
                    jitter=retry_initial_delay,
                    http_status_codes=RETRY_STATUS_CODES,
                ),
            ),
        )

    @classmethod
    def from_settings(cls) -> GeminiImageProvider:
        """A provider configured from the GEMINI_* Django settings."""
        return cls(
            api_key=settings.GEMINI_API_KEY,
            base_url=settings.GEMINI_BASE_URL,
            timeout_seconds=settings.GEMINI_TIMEOUT_SECONDS,
            retry_attempts=settings.GEMINI_RETRY_ATTEMPTS,
            retry_initial_delay=settings.GEMINI_RETRY_INITIAL_DELAY,
        )

    def generate_image(self, request: ImageRequest) -> GeneratedImage:
        """One image for `request`: the encoded bytes and MIME type Gemini returned.

        Raises:
            QuotaExceeded: HTTP 429 / RESOURCE_EXHAUSTED, after retries.
            ProviderTimeout: a transport timeout after retries; HTTP 408; or 504 /
                DEADLINE_EXCEEDED, Google's status for a request whose deadline passed (the SDK
                sends ours in the X-Server-Timeout header).
            ProviderUnavailable: other 5xx after retries, connection failures, other HTTP errors.
            InvalidProviderRequest: HTTP 400.
            SafetyBlocked: the prompt was blocked, or the candidate ended for a safety reason.
            NoImageReturned: a normal answer without an image part.
        """
        image_config = types.ImageConfig(aspect_ratio=request.aspect_ratio)
        if supports_image_size(request.model):
            image_config.image_size = request.image_size
        contents = types.Content(
            role="user",
            parts=[
                types.Part.from_text(text=request.prompt),
                *(
                    types.Part.from_bytes(data=image.data, mime_type=image.mime_type)
                    for image in request.images
                ),
            ],
        )
        try:
            response = self._client.models.generate_content(
                model=request.model,
                contents=contents,
                config=types.GenerateContentConfig(
                    response_modalities=["TEXT", "IMAGE"],
                    image_config=image_config,
                ),
            )
        except errors.APIError as exc:
            raise _log(request, _error_for_api_error(exc)) from exc
        except _TIMEOUT_ERRORS as exc:
            raise _log(request, ProviderTimeout(f"{type(exc).__name__}: {exc}")) from exc
        except _TRANSPORT_ERRORS as exc:
            raise _log(request, ProviderUnavailable(f"{type(exc).__name__}: {exc}")) from exc
        return _image_from_response(request, response)


def _error_for_api_error(exc: errors.APIError) -> ProviderError:
    detail = f"HTTP {exc.code} {exc.status}: {exc.message}"
    if exc.code == 429 or exc.status == "RESOURCE_EXHAUSTED":
        return QuotaExceeded(detail)
    if exc.code in (408, 504) or exc.status == "DEADLINE_EXCEEDED":
        return ProviderTimeout(detail)
    if exc.code == 400:
        return InvalidProviderRequest(detail)
    return ProviderUnavailable(detail)


def _image_from_response(
    request: ImageRequest, response: types.GenerateContentResponse
) -> GeneratedImage:
    """The first inline image of the answer that is not a thought (an interim draft), after the
    safety checks."""
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason is not None:
        raise _log(
            request,
            SafetyBlocked(
                f"prompt blocked: {feedback.block_reason} {feedback.block_reason_message}"
            ),
        )
    candidates = response.candidates or []
    for candidate in candidates:
        if candidate.finish_reason in SAFETY_FINISH_REASONS:
            raise _log(
                request,
                SafetyBlocked(
                    f"finish_reason={candidate.finish_reason} {candidate.finish_message}"
                ),
            )
    parts = [
        part
        for candidate in candidates
        if candidate.content and candidate.content.parts
        for part in candidate.content.parts
        if not part.thought
    ]
    for part in parts:
        blob = part.inline_data
        if blob and blob.data and blob.mime_type and blob.mime_type.startswith("image/"):
            return GeneratedImage(data=blob.data, mime_type=blob.mime_type)
    reasons = [str(candidate.finish_reason) for candidate in candidates]
    texts = " ".join(part.text for part in parts if part.text)
    raise _log(request, NoImageReturned(f"finish_reasons={reasons} text={texts!r}"))


def _log(request: ImageRequest, error: ProviderError) -> ProviderError:
    """Logs the raw provider detail with logger.warning and hands the error back for raising."""
    logger.warning("Gemini %s failed for model %s: %s", error.code, request.model, error.detail)
    return error
