"""The Gemini provider: one adapter over the google-genai SDK for images, edits and JSON.

One `generateContent` call per unit of work (Gemini Developer API, `POST
{base_url}/v1beta/models/{model}:generateContent`):

- `generate_image`: the prompt text, then one inline image part per `ImageRequest.images` in their
  order (style references, then faces); `generationConfig.responseModalities` TEXT and IMAGE and
  `imageConfig` {aspectRatio, imageSize}.
- `edit_image`: the instruction text, then the SOURCE image, then the references, with the same
  image config. The source is always the first image part.
- `generate_json`: the prompt text, then the images, then a YouTube video's URL as `fileData`
  when asked (`JSONRequest.video_uri`, with `mediaResolution` LOW); `responseMimeType`
  "application/json" and the
  request's JSON Schema as `responseJsonSchema` (the SDK's `response_json_schema`). The answer's
  text is parsed into a dict; usage tokens (output includes thinking tokens, which Google bills
  at the output rate) go into the `JSONResult`.
- `list_models`: the model ids the API serves (`GET /v1beta/models`, all pages).

Client: one `genai.Client` per provider instance (one HTTP connection pool), API version pinned
to "v1beta" (every REST example of the image-generation and structured-output guides uses v1beta
with the GA ids), and SDK retries OFF (`HttpRetryOptions(attempts=1)`; google-genai 3.6.1 also
makes one attempt when `retry_options` is unset, the explicit value keeps it so if that default
changes): the job engine retries `retryable` errors itself, honouring `retry_after`. The per-call
timeout is the catalog's `get_model(model).timeout_for(image_size)` unless
`settings.GEMINI_TIMEOUT_SECONDS` > 0; it goes in the per-request `http_options` (the SDK also
sends it as the X-Server-Timeout header). `list_models` allows 30 s unless overridden. Every client
of the process shares one TLS context (`tls_context`): left to itself the SDK builds two per
client (httpx's and the websocket's), each loading the CA bundle again.

Errors (Google's raw text is only logged and kept in `detail`):

- 400 with ErrorInfo reason API_KEY_INVALID, 401, 403 -> `ProviderAuthFailed`;
- 404 -> `ModelUnavailable` (a retired or unknown model id);
- 429 -> `QuotaExhausted` when a QuotaFailure violation names a per-day quota (quotaId containing
  "PerDay" or quotaMetric containing "per_day"), else `QuotaExceeded`;
- 408, 504, DEADLINE_EXCEEDED and transport timeouts -> `ProviderTimeout`;
- 500, 502, 503 (any 5xx), connection errors and unreadable answers -> `ProviderUnavailable`;
- any other 4xx -> `InvalidProviderRequest`.

`retry_after` comes from the `google.rpc.RetryInfo` detail's `retryDelay` ("30s", "1.5s") on any
error that carries one.

Answers without an image: `promptFeedback.blockReason` (any) and the safety finish reasons in
`SAFETY_FINISH_REASONS` -> `SafetyBlocked`; NO_IMAGE, IMAGE_OTHER and a normal answer with no image
part -> `NoImageReturned`. IMAGE_OTHER is "image generation stopped for a reason not otherwise
specified" (google.genai.types.FinishReason), not a policy verdict, so it is not reported as a
safety block; the detail says so, and the creator sees NoImageReturned's "try rephrasing".
Interim "thought" images (`part.thought`) are skipped.
"""

from __future__ import annotations

import functools
import importlib
import json
import logging
import os
import re
import ssl
from collections.abc import Iterable
from typing import Any

import certifi
from django.conf import settings
from google import genai
from google.genai import errors, types

from generation.catalog import get_model
from generation.providers.base import (
    EditRequest,
    GeneratedImage,
    ImageRequest,
    InputImage,
    InvalidJSONReturned,
    InvalidProviderRequest,
    JSONRequest,
    JSONResult,
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

logger = logging.getLogger(__name__)

API_VERSION = "v1beta"
# Used when a model id is missing from the catalog (the system checks reject that at start-up).
DEFAULT_TIMEOUT_SECONDS = 120.0
LIST_TIMEOUT_SECONDS = 30.0

RETRY_INFO_TYPE = "type.googleapis.com/google.rpc.RetryInfo"
QUOTA_FAILURE_TYPE = "type.googleapis.com/google.rpc.QuotaFailure"
ERROR_INFO_TYPE = "type.googleapis.com/google.rpc.ErrorInfo"

# Candidate finish reasons that mean a policy filter stopped the answer (google.genai.types).
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
NO_IMAGE_FINISH_REASONS = {
    types.FinishReason.NO_IMAGE: "the model generated no image (NO_IMAGE)",
    types.FinishReason.IMAGE_OTHER: (
        "image generation stopped for an unspecified reason (IMAGE_OTHER); not a safety verdict,"
        " a rephrased prompt or another attempt usually works"
    ),
}

_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)s\s*$")


def _transport_exceptions(name: str) -> tuple[type[Exception], ...]:
    """The exception class `name` from whichever of httpx / httpx2 is installed (the SDK sends
    through one of them and, with retries off, lets their transport errors through)."""
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


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The process's one TLS context for Gemini clients, trusting what google-genai 3.6.1 trusts
    by default (`_api_client._ensure_httpx_ssl_ctx`): SSL_CERT_FILE / SSL_CERT_DIR, else
    certifi's bundle. An SSLContext is safe to share between connections and threads.

    Building a `genai.Client` without one costs about 80 ms of CPU (two contexts, each parsing
    the bundle); with it about 1.5 ms (measured on the 2-core development machine, 2026-12-03)."""
    return ssl.create_default_context(
        cafile=os.environ.get("SSL_CERT_FILE", certifi.where()),
        capath=os.environ.get("SSL_CERT_DIR"),
    )


class GeminiProvider:
    """Images, edits and JSON from Gemini; implements `generation.providers.base.Provider`.

    Thread-safe: the SDK client is shared, each call builds its own request.
    """

    name = "gemini"

    def __init__(self, *, api_key: str, base_url: str = "", timeout_seconds: float = 0.0) -> None:
        """`timeout_seconds` > 0 overrides every per-call timeout of the catalog."""
        self._timeout_override = timeout_seconds
        self._client = genai.Client(
            vertexai=False,
            api_key=api_key,
            http_options=types.HttpOptions(
                base_url=base_url or None,
                api_version=API_VERSION,
                retry_options=types.HttpRetryOptions(attempts=1),
                # httpx takes it as `verify`; the SDK's websocket (and aiohttp, when installed)
                # read `ssl` from the async arguments and drop what they do not know.
                client_args={"verify": tls_context()},
                async_client_args={"verify": tls_context(), "ssl": tls_context()},
            ),
        )

    @classmethod
    def from_settings(cls) -> GeminiProvider:
        """A provider configured from GEMINI_API_KEY, GEMINI_BASE_URL, GEMINI_TIMEOUT_SECONDS."""
        return cls(
            api_key=settings.GEMINI_API_KEY,
            base_url=settings.GEMINI_BASE_URL,
            timeout_seconds=settings.GEMINI_TIMEOUT_SECONDS,
        )

    def timeout_for(self, model: str, image_size: str = "") -> float:
        """Seconds one call to `model` may take: the override, else the catalog's value."""
        if self._timeout_override > 0:
            return self._timeout_override
        try:
            return get_model(model).timeout_for(image_size)
        except KeyError:
            return DEFAULT_TIMEOUT_SECONDS

    # --- capabilities -----------------------------------------------------------------------

    def generate_image(self, request: ImageRequest) -> GeneratedImage:
        """One image for `request`. Raises a `ProviderError` subclass (see the module doc)."""
        parts = [types.Part.from_text(text=request.prompt), *_image_parts(request.images)]
        response = self._generate(
            request.model,
            parts,
            _image_config(request.aspect_ratio, request.image_size),
            image_size=request.image_size,
        )
        return _image_from_response(request.model, response)

    def edit_image(self, request: EditRequest) -> GeneratedImage:
        """`request.source` edited per `request.instruction`: the instruction, then the source
        image, then the references."""
        parts = [
            types.Part.from_text(text=request.instruction),
            *_image_parts([request.source, *request.references]),
        ]
        response = self._generate(
            request.model,
            parts,
            _image_config(request.aspect_ratio, request.image_size),
            image_size=request.image_size,
        )
        return _image_from_response(request.model, response)

    def generate_json(self, request: JSONRequest) -> JSONResult:
        """A JSON object matching `request.schema`, parsed, with the call's token usage."""
        parts = [types.Part.from_text(text=request.prompt), *_image_parts(request.images)]
        if request.video_uri:
            # A YouTube URL as file data (Gemini API, "Video understanding": public YouTube
            # videos), at low media resolution: the frames' tokens, most of a video's input,
            # shrink while audio stays 32 tokens a second ("Media resolution", "Tokens").
            parts.append(types.Part(file_data=types.FileData(file_uri=request.video_uri)))
        config = types.GenerateContentConfig(
            response_mime_type="application/json",
            response_json_schema=request.schema,
            media_resolution=(
                types.MediaResolution.MEDIA_RESOLUTION_LOW if request.video_uri else None
            ),
        )
        # A video's answer may take longer: the catalog's "video" timeout (TEXT_TIMEOUTS).
        response = self._generate(
            request.model, parts, config, image_size="video" if request.video_uri else ""
        )
        return _json_from_response(request.model, response)

    def list_models(self) -> list[str]:
        """The model ids the API serves to this key ("models/" prefix removed), all pages."""
        try:
            timeout = self._timeout_override if self._timeout_override > 0 else LIST_TIMEOUT_SECONDS
            config = types.ListModelsConfig(
                http_options=types.HttpOptions(timeout=max(1, round(timeout * 1000)))
            )
            names = [model.name or "" for model in self._client.models.list(config=config)]
        except Exception as exc:
            error = _error_for_exception(exc)
            if error is None:
                raise
            raise _log("models.list", error) from exc
        return sorted(name.removeprefix("models/") for name in names if name)

    # --- plumbing ---------------------------------------------------------------------------

    def _generate(
        self,
        model: str,
        parts: list[types.Part],
        config: types.GenerateContentConfig,
        *,
        image_size: str = "",
    ) -> types.GenerateContentResponse:
        """One generateContent call with the per-call timeout; errors mapped and logged."""
        timeout = self.timeout_for(model, image_size)
        config.http_options = types.HttpOptions(timeout=max(1, round(timeout * 1000)))  # ms
        try:
            return self._client.models.generate_content(
                model=model,
                contents=types.Content(role="user", parts=parts),
                config=config,
            )
        except Exception as exc:
            error = _error_for_exception(exc)
            if error is None:
                raise
            raise _log(model, error) from exc


def _image_config(aspect_ratio: str, image_size: str) -> types.GenerateContentConfig:
    """TEXT and IMAGE output (the documented default; text is only logged), ratio and size."""
    return types.GenerateContentConfig(
        response_modalities=["TEXT", "IMAGE"],
        image_config=types.ImageConfig(aspect_ratio=aspect_ratio, image_size=image_size),
    )


def _image_parts(images: Iterable[InputImage]) -> list[types.Part]:
    return [types.Part.from_bytes(data=image.data, mime_type=image.mime_type) for image in images]


# --- errors ---------------------------------------------------------------------------------


def _error_for_exception(exc: Exception) -> ProviderError | None:
    """The `ProviderError` for an SDK or transport exception; None for anything else (a bug)."""
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, errors.APIError):
        return error_for_api_error(exc)
    if isinstance(exc, _TIMEOUT_ERRORS):
        return ProviderTimeout(f"{type(exc).__name__}: {exc}")
    if isinstance(exc, _TRANSPORT_ERRORS):
        return ProviderUnavailable(f"{type(exc).__name__}: {exc}")
    if isinstance(exc, errors.UnknownApiResponseError | json.JSONDecodeError):
        return ProviderUnavailable(f"{type(exc).__name__}: {exc}")
    return None


def error_for_api_error(exc: errors.APIError) -> ProviderError:
    """Maps an HTTP error answer of the Gemini API (see the module doc)."""
    details = _error_details(exc.details)
    detail = f"HTTP {exc.code} {exc.status}: {exc.message}"
    retry_after = _retry_delay(details)
    code = exc.code or 0
    status = exc.status or ""
    reasons = {d.get("reason") for d in details if d.get("@type") == ERROR_INFO_TYPE}
    if code in (401, 403) or "API_KEY_INVALID" in reasons:
        return ProviderAuthFailed(detail, retry_after=retry_after)
    if code == 404:
        return ModelUnavailable(detail, retry_after=retry_after)
    if code == 429 or status == "RESOURCE_EXHAUSTED":
        daily = [quota for quota in _quota_ids(details) if _is_per_day(quota)]
        if daily:
            return QuotaExhausted(
                f"{detail} (per-day quota: {', '.join(daily)})", retry_after=retry_after
            )
        return QuotaExceeded(detail, retry_after=retry_after)
    if code in (408, 504) or status == "DEADLINE_EXCEEDED":
        return ProviderTimeout(detail, retry_after=retry_after)
    if code >= 500:
        return ProviderUnavailable(detail, retry_after=retry_after)
    return InvalidProviderRequest(detail, retry_after=retry_after)


def _error_details(body: Any) -> list[dict[str, Any]]:
    """The `error.details` list of Google's error body (google.rpc.Status), dicts only."""
    if isinstance(body, list) and body:
        body = body[0]
    if not isinstance(body, dict):
        return []
    error = body.get("error", body)
    found = error.get("details") if isinstance(error, dict) else None
    return [d for d in found if isinstance(d, dict)] if isinstance(found, list) else []


def _retry_delay(details: list[dict[str, Any]]) -> float | None:
    """Seconds from a RetryInfo detail's `retryDelay`: JSON Duration "30s" / "1.5s", or
    {"seconds": 30, "nanos": 0}."""
    for item in details:
        if item.get("@type") != RETRY_INFO_TYPE:
            continue
        delay = item.get("retryDelay")
        if isinstance(delay, str) and (match := _DURATION.match(delay)):
            return float(match[1])
        if isinstance(delay, dict):
            return float(delay.get("seconds", 0)) + float(delay.get("nanos", 0)) / 1e9
    return None


def _quota_ids(details: list[dict[str, Any]]) -> list[str]:
    """The quotaId and quotaMetric of every QuotaFailure violation."""
    return [
        str(violation[key])
        for item in details
        if item.get("@type") == QUOTA_FAILURE_TYPE
        for violation in item.get("violations") or []
        if isinstance(violation, dict)
        for key in ("quotaId", "quotaMetric")
        if violation.get(key)
    ]


def _is_per_day(quota: str) -> bool:
    """Google's daily quotas: quotaId "GenerateRequestsPerDayPerProjectPerModel[-FreeTier]",
    quotaMetric "generativelanguage.googleapis.com/generate_requests_per_model_per_day"."""
    return "perday" in quota.lower().replace("_", "")


def _log(model: str, error: ProviderError) -> ProviderError:
    """Logs the raw provider detail with logger.warning and hands the error back for raising."""
    logger.warning("Gemini %s failed for model %s: %s", error.code, model, error.detail)
    return error


# --- answers --------------------------------------------------------------------------------


def _check_blocked(model: str, response: types.GenerateContentResponse) -> None:
    """Raises SafetyBlocked for a blocked prompt or a candidate stopped by a safety filter."""
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason is not None:
        raise _log(
            model,
            SafetyBlocked(
                f"prompt blocked: {feedback.block_reason} {feedback.block_reason_message}"
            ),
        )
    for candidate in response.candidates or []:
        if candidate.finish_reason in SAFETY_FINISH_REASONS:
            raise _log(
                model,
                SafetyBlocked(
                    f"finish_reason={candidate.finish_reason} {candidate.finish_message}"
                ),
            )


def _answer_parts(response: types.GenerateContentResponse) -> list[types.Part]:
    """The answer's parts, thoughts (interim drafts) left out."""
    return [
        part
        for candidate in response.candidates or []
        if candidate.content and candidate.content.parts
        for part in candidate.content.parts
        if not part.thought
    ]


def _image_from_response(model: str, response: types.GenerateContentResponse) -> GeneratedImage:
    """The first inline image of the answer that is not a thought, after the safety checks."""
    _check_blocked(model, response)
    parts = _answer_parts(response)
    for part in parts:
        blob = part.inline_data
        if blob and blob.data and blob.mime_type and blob.mime_type.startswith("image/"):
            return GeneratedImage(data=blob.data, mime_type=blob.mime_type)
    candidates = response.candidates or []
    reasons = [candidate.finish_reason for candidate in candidates]
    explained = [NO_IMAGE_FINISH_REASONS[r] for r in reasons if r in NO_IMAGE_FINISH_REASONS]
    texts = " ".join(part.text for part in parts if part.text)
    detail = "; ".join([*explained, f"finish_reasons={[str(r) for r in reasons]}"])
    raise _log(model, NoImageReturned(f"{detail} text={texts!r}"))


def _json_from_response(model: str, response: types.GenerateContentResponse) -> JSONResult:
    """The answer's text parsed as a JSON object, with the token usage."""
    _check_blocked(model, response)
    text = "".join(part.text for part in _answer_parts(response) if part.text)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        reasons = [str(c.finish_reason) for c in response.candidates or []]
        raise _log(
            model,
            InvalidJSONReturned(f"not JSON ({exc}); finish_reasons={reasons} text={text[:500]!r}"),
        ) from exc
    if not isinstance(data, dict):
        raise _log(model, InvalidJSONReturned(f"JSON is not an object: {text[:500]!r}"))
    usage = response.usage_metadata
    input_tokens = (usage.prompt_token_count or 0) if usage else 0
    output_tokens = (
        (usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0) if usage else 0
    )
    return JSONResult(data=data, input_tokens=input_tokens, output_tokens=output_tokens)
