"""Page forms for the library. Image checks happen in studio.services (shared with the API)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django import forms
from django.utils.text import Truncator

HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input (the pattern from Django's file-upload docs)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault(
            "widget",
            MultipleFileInput(
                attrs={"multiple": True, "accept": "image/jpeg,image/png,image/webp"}
            ),
        )
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data if item] or (
                [] if not self.required else [single(None, initial)]
            )
        return [single(data, initial)] if data or self.required else []


class _OwnIds(forms.Form):
    """A form whose fields' ids start with `id_prefix` ("face_name", not Django's "id_name"):
    the library page holds the face, style and palette forms at once, and with one id shared
    by three fields each label moved the focus (or ticked a box) in another form."""

    id_prefix = "id"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", f"{self.id_prefix}_%s")
        super().__init__(*args, **kwargs)


class FaceForm(_OwnIds):
    id_prefix = "face"
    name = forms.CharField(max_length=80)
    images = MultipleFileField(help_text="1 to 3 photos, JPEG, PNG or WebP, up to 10 MB each.")


class StyleForm(_OwnIds):
    id_prefix = "style"
    name = forms.CharField(max_length=80)
    description = forms.CharField(max_length=300, required=False)
    prompt = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
        help_text="How the thumbnail should look. Never shown to others.",
    )
    is_public = forms.BooleanField(required=False, label="Publish (name, description, preview)")
    reference_images = MultipleFileField(required=False, help_text="Up to 4 example images.")


class PaletteForm(_OwnIds):
    id_prefix = "palette"
    name = forms.CharField(max_length=80)
    # No max_length: the browser's maxlength cut a seventh colour typed with ", " to "#FFFFF"
    # (61 characters), and parse_colors' count ("this has 7") says more than a length would.
    colors = forms.CharField(
        help_text="3 to 6 colours, e.g. #FF0044, #111111, #FFD400",
        widget=forms.TextInput(attrs={"placeholder": "#FF0044, #111111, #FFD400"}),
    )
    is_public = forms.BooleanField(required=False, label="Publish")

    def clean_colors(self) -> list[str]:
        try:
            return parse_colors(self.cleaned_data["colors"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc


def parse_colors(value: str | list[str]) -> list[str]:
    """3 to 6 distinct "#RRGGBB" colours, upper-cased, from a list or from text separated by
    commas or spaces. Raises ValueError with a message for the creator otherwise."""
    parts = value if isinstance(value, list) else value.replace(" ", ",").split(",")
    colors = [c.strip() for c in parts if isinstance(c, str) and c.strip()]
    if len(colors) != len(parts) and isinstance(value, list):
        raise ValueError('Give each colour as "#RRGGBB" text.')
    # What is wrong with the values typed comes first: "#12345, banana" was "Give 3 to 6
    # colours.", which sent the creator looking for a missing colour.
    bad = [c for c in colors if not HEX_COLOR.match(c)]
    if bad:
        listed = ", ".join(f'"{Truncator(c).chars(12)}"' for c in bad[:3])
        noun = "is not a colour" if len(bad) == 1 else "are not colours"
        raise ValueError(f"{listed} {noun}: give each as # and 6 hex digits, e.g. #FF0044.")
    if not 3 <= len(colors) <= 6:
        raise ValueError(f"A palette has 3 to 6 colours; this has {len(colors)}.")
    colors = [c.upper() for c in colors]
    repeated = sorted({c for c in colors if colors.count(c) > 1})
    if repeated:
        raise ValueError(f"Give each colour once: {', '.join(repeated)} repeats.")
    return colors


def form_fields(post: Any, *, only: Iterable[str] | None = None) -> dict[str, Any]:
    """A form post (`request.POST`) as a serializer's data: fields named `*_ids`, and any sent
    more than once, are lists; the CSRF token and the idempotency key are left out, and with
    `only` every field not named in it."""
    names = set(only) if only is not None else None
    return {
        key: values if key.endswith("_ids") or len(values) > 1 else values[0]
        for key, values in post.lists()
        if key not in ("idempotency_key", "csrfmiddlewaretoken") and (names is None or key in names)
    }
