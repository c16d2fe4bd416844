"""The model catalog's data, the start-up system checks on the model settings, and
`manage.py check_gemini` against tests/fake_gemini.py. No database."""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.checks import Error, Warning, run_checks
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError
from pytest_django.fixtures import Settings

from generation import catalog
from generation.checks import check_gemini_models, describe_retirement
from generation.sizes import ASPECT_RATIOS, IMAGE_SIZES, pixel_size
from tests import fake_gemini as fake_gemini_module
from tests.fake_gemini import FakeGemini

fake_gemini = fake_gemini_module.fake_gemini
gemini_settings = fake_gemini_module.gemini_settings

IMAGE_MODELS = [m.id for m in catalog.MODELS.values() if m.kind == "image"]


# --- data ------------------------------------------------------------------------------------


@pytest.mark.parametrize("model_id", IMAGE_MODELS)
def test_image_models_have_a_pixel_size_for_every_offered_size_and_ratio(model_id: str) -> None:
    spec = catalog.get_model(model_id)
    for image_size in spec.image_sizes:
        for ratio in spec.aspect_ratios:
            width, height = spec.pixel_size(ratio, image_size)
            w, h = (int(n) for n in ratio.split(":"))
            assert abs(width / height - w / h) < 0.05 * (w / h), (ratio, image_size)
            assert spec.pixel_size(ratio, image_size) == tuple(
                n * {"1K": 1, "2K": 2, "4K": 4}[image_size] for n in spec.pixel_size(ratio, "1K")
            )


@pytest.mark.parametrize("model_id", IMAGE_MODELS)
@pytest.mark.parametrize(
    ("ratio", "image_size", "expected"),
    [
        # Google's image-generation guide, "Aspect ratios and image size" (Flash Image and Pro
        # Image tables agree on these).
        ("1:1", "1K", (1024, 1024)),
        ("16:9", "1K", (1376, 768)),
        ("16:9", "2K", (2752, 1536)),
        ("16:9", "4K", (5504, 3072)),
        ("9:16", "2K", (1536, 2752)),
        ("21:9", "4K", (6336, 2688)),
        ("4:5", "1K", (928, 1152)),
        ("3:2", "2K", (2528, 1696)),
    ],
)
def test_pixel_sizes_are_googles(
    model_id: str, ratio: str, image_size: str, expected: tuple[int, int]
) -> None:
    assert catalog.get_model(model_id).pixel_size(ratio, image_size) == expected


def test_local_renderer_sizes_match_the_sizes_table() -> None:
    for image_size in IMAGE_SIZES:
        for ratio in ASPECT_RATIOS:
            assert catalog.LOCAL_SPEC.pixel_size(ratio, image_size) == pixel_size(ratio, image_size)


def test_list_prices() -> None:
    pro = catalog.get_model("gemini-3-pro-image")
    flash = catalog.get_model("gemini-3.1-flash-image")
    assert dict(pro.usd_per_image) == {"1K": 0.134, "2K": 0.134, "4K": 0.24}
    assert dict(flash.usd_per_image) == {"1K": 0.067, "2K": 0.101, "4K": 0.151}
    banana = catalog.get_model("gemini-nano-banana-2.1")
    assert dict(banana.usd_per_image) == {"1K": 0.0336, "2K": 0.0504, "4K": 0.1134}
    assert pro.usd_for("4K") == 0.24
    text = catalog.get_model("gemini-3.8-flash")
    assert (text.usd_per_1m_input_tokens, text.usd_per_1m_output_tokens) == (0.75, 3.75)
    assert text.usd_for(input_tokens=1_000_000, output_tokens=2_000_000) == pytest.approx(8.25)
    old = catalog.get_model("gemini-3.5-flash")
    assert (old.usd_per_1m_input_tokens, old.usd_per_1m_output_tokens) == (1.50, 9.00)


def test_retired_deprecated_and_current_ids_are_consistent() -> None:
    assert not set(catalog.RETIRED_MODELS) & set(catalog.MODELS)
    assert set(catalog.DEPRECATED_MODELS) <= set(catalog.MODELS)
    for model_id, (date, replacement) in catalog.RETIRED_MODELS.items():
        dt.date.fromisoformat(date)
        assert replacement not in catalog.RETIRED_MODELS, model_id
    assert catalog.RETIRED_MODELS["gemini-3-pro-image-preview"] == (
        "2026-06-25",
        "gemini-3-pro-image",
    )
    assert catalog.model_status("gemini-3-pro-image") == "current"
    assert catalog.model_status("gemini-3.1-flash-image") == "deprecated"
    assert catalog.model_status("gemini-3.1-flash-image-preview") == "retired"
    assert catalog.model_status("gemini-9-imaginary") == "unknown"
    assert catalog.model_status(catalog.LOCAL) == "current"
    assert catalog.current_model_ids() == [
        "gemini-3-pro-image",
        "gemini-nano-banana-2.1",
        "gemini-3.8-flash",
    ]
    # Google's named replacement for the deprecated Flash image model is one the studio serves
    replacement = catalog.DEPRECATED_MODELS["gemini-3.1-flash-image"][1]
    assert catalog.model_status(replacement) == "current"


# --- system checks ---------------------------------------------------------------------------


def use_models(settings: Settings, image: str, images: list[str], text: str) -> None:
    settings.GEMINI_IMAGE_MODEL = image
    settings.GEMINI_IMAGE_MODELS = images
    settings.GEMINI_TEXT_MODEL = text


def test_current_models_pass_the_checks(settings: Settings) -> None:
    use_models(settings, "gemini-3-pro-image", ["gemini-3-pro-image"], "gemini-3.8-flash")

    assert check_gemini_models() == []
    assert run_checks(tags=["generation"]) == []


@pytest.mark.parametrize(
    ("image", "images", "text", "setting", "retired"),
    [
        (
            "gemini-3-pro-image-preview",
            ["gemini-3-pro-image"],
            "gemini-3.8-flash",
            "GEMINI_IMAGE_MODEL",
            "gemini-3-pro-image-preview",
        ),
        (
            "gemini-3-pro-image",
            ["gemini-3-pro-image", "gemini-3.1-flash-image-preview"],
            "gemini-3.8-flash",
            "GEMINI_IMAGE_MODELS",
            "gemini-3.1-flash-image-preview",
        ),
        (
            "gemini-3-pro-image",
            ["gemini-3-pro-image"],
            "gemini-2.5-flash",
            "GEMINI_TEXT_MODEL",
            "gemini-2.5-flash",
        ),
    ],
)
def test_a_retired_model_is_a_start_up_error(
    settings: Settings, image: str, images: list[str], text: str, setting: str, retired: str
) -> None:
    use_models(settings, image, images, text)

    [error] = run_checks(tags=["generation"])

    date, replacement = catalog.RETIRED_MODELS[retired]
    assert isinstance(error, Error)
    assert error.id == "generation.E001"
    assert error.obj == setting
    assert retired in error.msg
    assert date in error.msg
    assert replacement in error.msg


def test_retirement_message_names_the_replacements_own_deprecation() -> None:
    message = describe_retirement("gemini-3.1-flash-image-preview", today=dt.date(2026, 11, 29))

    assert message.startswith("gemini-3.1-flash-image-preview was retired on 2026-06-25")
    assert "use gemini-3.1-flash-image (itself deprecated on 2026-10-06" in message
    assert "gemini-nano-banana-2.1" in message
    future = describe_retirement("gemini-2.5-flash", today=dt.date(2026, 11, 29))
    assert "shuts down on 2026-12-01" in future


def test_unknown_and_wrong_kind_models_are_errors(settings: Settings) -> None:
    use_models(settings, "gemini-9-imaginary", ["gemini-3-pro-image"], "gemini-3-pro-image")

    errors = run_checks(tags=["generation"])

    assert [(e.id, e.obj) for e in errors] == [
        ("generation.E002", "GEMINI_IMAGE_MODEL"),
        ("generation.E003", "GEMINI_TEXT_MODEL"),
    ]


def test_a_deprecated_model_is_a_warning(settings: Settings) -> None:
    use_models(settings, "gemini-3-pro-image", ["gemini-3.1-flash-image"], "gemini-3.5-flash")
    settings.GEMINI_API_KEY = ""
    assert run_checks(tags=["generation"]) == []  # offline, nothing calls them: no noise
    settings.GEMINI_API_KEY = "a-key"

    messages = run_checks(tags=["generation"])

    assert all(isinstance(m, Warning) and m.id == "generation.W001" for m in messages)
    assert [m.obj for m in messages] == ["GEMINI_IMAGE_MODELS", "GEMINI_TEXT_MODEL"]
    assert "gemini-nano-banana-2.1" in messages[0].msg
    assert "gemini-3.8-flash" in messages[1].msg


def test_check_command_fails_on_a_retired_model(settings: Settings) -> None:
    use_models(settings, "gemini-3-pro-image-preview", ["gemini-3-pro-image"], "gemini-3.8-flash")

    with pytest.raises(SystemCheckError, match=re.escape("generation.E001")):
        call_command("check", tag=["generation"], stdout=io.StringIO(), stderr=io.StringIO())


def test_manage_py_check_registers_the_check_at_start_up() -> None:
    """A fresh process, so the check must be registered by GenerationConfig.ready()."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "GEMINI_IMAGE_MODEL": "gemini-3-pro-image-preview",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--tag", "generation"],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 1, result.stdout + result.stderr
    assert "generation.E001" in result.stderr
    assert "gemini-3-pro-image-preview was retired on 2026-06-25" in result.stderr


# --- manage.py check_gemini ------------------------------------------------------------------


def test_check_gemini_lists_served_models(gemini_settings: FakeGemini, settings: Settings) -> None:
    use_models(settings, "gemini-3-pro-image", ["gemini-3-pro-image"], "gemini-3.8-flash")
    out = io.StringIO()

    call_command("check_gemini", stdout=out)

    text = out.getvalue()
    assert "gemini-3-pro-image [GEMINI_IMAGE_MODEL, GEMINI_IMAGE_MODELS] CURRENT served" in text
    assert "gemini-3.8-flash [GEMINI_TEXT_MODEL] CURRENT served" in text
    assert "per image 1K $0.134, 2K $0.134, 4K $0.240" in text
    # gemini_settings sets GEMINI_TIMEOUT_SECONDS=1, which every call uses instead of the catalog's.
    assert "timeouts 1s (GEMINI_TIMEOUT_SECONDS; the catalog's: 1K 90s, 2K 120s, 4K 180s)" in text
    assert "All configured Gemini models look usable." in text
    assert "NOT SERVED" not in text
    assert [r.path.split("?")[0] for r in gemini_settings.requests] == ["/v1beta/models"]


def test_check_gemini_fails_when_a_configured_model_is_not_served(
    gemini_settings: FakeGemini, settings: Settings
) -> None:
    use_models(
        settings,
        "gemini-3-pro-image",
        ["gemini-3-pro-image", "gemini-3.1-flash-image"],
        "gemini-3.8-flash",
    )
    gemini_settings.served_models = {"gemini-3-pro-image", "gemini-3.8-flash"}
    out = io.StringIO()

    with pytest.raises(CommandError, match=re.escape("gemini-3.1-flash-image is not served")):
        call_command("check_gemini", stdout=out)

    text = out.getvalue()
    assert "gemini-3.1-flash-image [GEMINI_IMAGE_MODELS] DEPRECATED NOT SERVED" in text
    assert "gemini-3-pro-image [GEMINI_IMAGE_MODEL, GEMINI_IMAGE_MODELS] CURRENT served" in text


def test_check_gemini_reports_a_retired_model_even_with_failing_system_checks(
    gemini_settings: FakeGemini, settings: Settings
) -> None:
    use_models(settings, "gemini-3-pro-image", ["gemini-3-pro-image-preview"], "gemini-3.8-flash")
    out = io.StringIO()

    with pytest.raises(CommandError, match=re.escape("gemini-3-pro-image-preview is not served")):
        call_command("check_gemini", stdout=out)

    assert "gemini-3-pro-image-preview [GEMINI_IMAGE_MODELS] RETIRED NOT SERVED" in out.getvalue()
    assert "was retired on 2026-06-25; use gemini-3-pro-image" in out.getvalue()


def test_check_gemini_with_a_bad_key_fails(gemini_settings: FakeGemini, settings: Settings) -> None:
    settings.GEMINI_API_KEY = "wrong"

    with pytest.raises(CommandError, match="provider_auth"):
        call_command("check_gemini", stdout=io.StringIO())


def test_check_gemini_without_a_key_only_lists(settings: Settings) -> None:
    settings.GEMINI_API_KEY = ""
    use_models(settings, "gemini-3-pro-image", ["gemini-3-pro-image"], "gemini-3.8-flash")
    out = io.StringIO()

    call_command("check_gemini", stdout=out)

    assert "GEMINI_API_KEY is not set" in out.getvalue()
    assert (
        "gemini-3-pro-image [GEMINI_IMAGE_MODEL, GEMINI_IMAGE_MODELS] CURRENT\n" in out.getvalue()
    )
    assert "timeouts 1K 90s, 2K 120s, 4K 180s\n" in out.getvalue()  # the catalog's: no override
    # Nothing was asked of the API, so nothing is called usable.
    assert "look usable" not in out.getvalue()
    assert "none was checked against the API" in out.getvalue()
