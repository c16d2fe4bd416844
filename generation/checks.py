"""System checks for the Gemini model settings (`manage.py check`, and every web and worker start:
viewbait.startup_checks).

- generation.E001: GEMINI_IMAGE_MODEL, an entry of GEMINI_IMAGE_MODELS or GEMINI_TEXT_MODEL is in
  `catalog.RETIRED_MODELS`; the message names the shutdown date and the replacement.
- generation.E002: such a setting names an id the catalog does not know.
- generation.E003: an image setting names a text model or GEMINI_TEXT_MODEL an image model.
- generation.W001: such a setting names a deprecated model (`catalog.DEPRECATED_MODELS`): still
  served, but Google has announced its end; the message names the replacement.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register

from generation import catalog


def configured_models() -> list[tuple[str, str, str]]:
    """(setting name, model id, expected kind) for every model setting, in settings order."""
    found = [("GEMINI_IMAGE_MODEL", settings.GEMINI_IMAGE_MODEL, "image")]
    found += [("GEMINI_IMAGE_MODELS", model, "image") for model in settings.GEMINI_IMAGE_MODELS]
    found.append(("GEMINI_TEXT_MODEL", settings.GEMINI_TEXT_MODEL, "text"))
    return found


def describe_retirement(model_id: str, today: dt.date | None = None) -> str:
    """'was retired on DATE' / 'shuts down on DATE', then the replacement."""
    date, replacement = catalog.RETIRED_MODELS[model_id]
    today = today or dt.date.today()
    verb = "was retired" if dt.date.fromisoformat(date) <= today else "shuts down"
    return f"{model_id} {verb} on {date}; use {replacement}{_replacement_note(replacement)}"


def describe_deprecation(model_id: str) -> str:
    date, replacement, note = catalog.DEPRECATED_MODELS[model_id]
    return f"{model_id} was deprecated on {date} ({note}); use {replacement}"


def _replacement_note(replacement: str) -> str:
    if replacement in catalog.DEPRECATED_MODELS:
        date, better, _ = catalog.DEPRECATED_MODELS[replacement]
        return f" (itself deprecated on {date}; Google now recommends {better})"
    if replacement in catalog.RETIRED_MODELS:
        return f" (itself retired; {describe_retirement(replacement)})"
    return ""


@register("generation")
def check_gemini_models(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Errors for retired, unknown or wrong-kind model ids in the settings, warnings for
    deprecated ones (see the module doc)."""
    messages: list[CheckMessage] = []
    for setting, model_id, kind in configured_models():
        status = catalog.model_status(model_id)
        if status == "retired":
            messages.append(
                Error(
                    f"{setting} names the retired Gemini model {model_id!r}: "
                    f"{describe_retirement(model_id)}.",
                    hint=f"Set {setting} to a model listed in generation/catalog.py MODELS.",
                    obj=setting,
                    id="generation.E001",
                )
            )
        elif status == "unknown":
            messages.append(
                Error(
                    f"{setting} names {model_id!r}, which generation/catalog.py does not know.",
                    hint=f"Known {kind} models: {_known(kind)}. Add a ModelSpec (with its"
                    " prices, sizes and timeouts) before configuring a new id.",
                    obj=setting,
                    id="generation.E002",
                )
            )
        elif model_id != catalog.LOCAL and catalog.MODELS[model_id].kind != kind:
            messages.append(
                Error(
                    f"{setting} names {model_id!r}, a {catalog.MODELS[model_id].kind} model;"
                    f" it needs a {kind} model.",
                    hint=f"Known {kind} models: {_known(kind)}.",
                    obj=setting,
                    id="generation.E003",
                )
            )
        elif status == "deprecated" and settings.GEMINI_API_KEY:  # offline, nothing calls it
            messages.append(
                Warning(
                    f"{setting} names a deprecated Gemini model: {describe_deprecation(model_id)}.",
                    hint="Run `manage.py check_gemini` to see whether your key is still served it.",
                    obj=setting,
                    id="generation.W001",
                )
            )
    return messages


def _known(kind: str) -> str:
    return ", ".join(m.id for m in catalog.MODELS.values() if m.kind == kind) or "none"
