"""`manage.py check_gemini`: the configured Gemini models, what the catalog says about each, and,
with GEMINI_API_KEY set, whether the API serves them to that key (`models.list()`).

Exits non-zero (CommandError) when a configured model is not served, or is retired or unknown to
the catalog. Without a key it says that nothing was checked against the API (exit 0). The
timeouts shown are the ones calls use: GEMINI_TIMEOUT_SECONDS when > 0, else the catalog's.
Runs even when the system checks fail, since it exists to explain them.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from generation import catalog
from generation.checks import configured_models, describe_deprecation, describe_retirement
from generation.providers.base import ProviderError
from generation.providers.gemini import GeminiProvider


class Command(BaseCommand):
    help = (
        "List the configured Gemini models with their catalog data and, when GEMINI_API_KEY is "
        "set, whether the API serves each of them. Exits non-zero if one is not served."
    )
    requires_system_checks: list[str] = []  # explains failing checks instead of stopping on them

    def handle(self, *args: Any, **options: Any) -> None:
        rows = _unique(configured_models())
        problems: list[str] = []
        served: set[str] | None = None
        if settings.GEMINI_API_KEY:
            provider = GeminiProvider.from_settings()
            try:
                served = set(provider.list_models())
            except ProviderError as exc:
                raise CommandError(f"models.list failed: {exc.code}: {exc.detail}") from exc
            where = settings.GEMINI_BASE_URL or "Google"
            self.stdout.write(f"models.list ({where}): {len(served)} models served to this key")
        else:
            self.stdout.write("GEMINI_API_KEY is not set: not asking the API what it serves.")

        for model_id, settings_names in rows:
            status = catalog.model_status(model_id)
            line = f"{model_id} [{', '.join(settings_names)}] {status.upper()}"
            if served is not None:
                line += " served" if model_id in served else " NOT SERVED"
                if model_id not in served:
                    problems.append(f"{model_id} is not served")
            self.stdout.write(line)
            for detail in _details(model_id, status):
                self.stdout.write(f"    {detail}")
            if status in ("retired", "unknown"):
                problems.append(f"{model_id} is {status}")

        if problems:
            raise CommandError("; ".join(problems))
        if served is None:
            self.stdout.write(
                "The catalog knows every configured model; none was checked against the API, "
                "and without GEMINI_API_KEY the studio draws with the offline renderer."
            )
            return
        self.stdout.write(self.style.SUCCESS("All configured Gemini models look usable."))


def _unique(found: list[tuple[str, str, str]]) -> list[tuple[str, list[str]]]:
    """Model ids in settings order, each with the settings that name it."""
    rows: dict[str, list[str]] = {}
    for setting, model_id, _kind in found:
        names = rows.setdefault(model_id, [])
        if setting not in names:
            names.append(setting)
    return list(rows.items())


def _details(model_id: str, status: str) -> list[str]:
    if status == "retired":
        return [describe_retirement(model_id)]
    if status == "unknown":
        return ["not in generation/catalog.py"]
    spec = catalog.get_model(model_id)
    lines = [f"{spec.kind}: {spec.label}"]
    if spec.kind == "image":
        prices = ", ".join(f"{size} ${usd:.3f}" for size, usd in spec.usd_per_image.items())
        lines.append(f"sizes {', '.join(spec.image_sizes)}; per image {prices}")
        lines.append(f"max input images {spec.max_input_images}")
    else:
        lines.append(
            f"per 1M tokens: input ${spec.usd_per_1m_input_tokens:.2f},"
            f" output ${spec.usd_per_1m_output_tokens:.2f}"
        )
    timeouts = ", ".join(
        f"{size or 'call'} {secs:g}s" for size, secs in spec.timeout_seconds.items()
    )
    override = settings.GEMINI_TIMEOUT_SECONDS
    if override > 0:  # the provider uses it for every call instead of the catalog's
        lines.append(f"timeouts {override:g}s (GEMINI_TIMEOUT_SECONDS; the catalog's: {timeouts})")
    else:
        lines.append(f"timeouts {timeouts}")
    if status == "deprecated":
        lines.append(describe_deprecation(model_id))
    return lines
