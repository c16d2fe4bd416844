"""studio.serializers.InputSerializer: the job types' input schemas give each instance shallow
copies of their declared fields (not DRF's deep copies) and validate exactly as DRF does."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from rest_framework import serializers

from studio.job_types.edit import EditInput
from studio.job_types.generate import GenerateInput


class DeepCopiedGenerateInput(GenerateInput):
    """GenerateInput with DRF's own per-instance deep copies: the reference behaviour."""

    def get_fields(self) -> dict[str, Any]:
        return serializers.Serializer.get_fields(self)


INPUTS: list[dict[str, Any]] = [
    {"title": "Ten cafés, one winner"},
    {"title": "  padded  ", "variations": "3", "resolution": "2k", "aspect_ratio": "1:1"},
    {"title": "x", "variations": 9},
    {"title": "x", "variations": "many"},
    {"title": "x", "aspect_ratio": "3:7"},
    {"title": "x", "resolution": "8K"},
    {"title": 42},
    {"title": "x" * 5000},
    {"face_ids": [1, "2", 0]},
    {"face_ids": [1, 2, 3, 4]},
    {"face_ids": "nope"},
    {"style_id": "", "palette_id": "none", "project_id": None},
    {"style_id": True},
    {"model": "no-such-model"},
    {"title": "nul \x00 byte"},
]


def outcome(serializer: serializers.Serializer) -> tuple[bool, Any]:
    valid = serializer.is_valid()
    return valid, dict(serializer.validated_data) if valid else serializer.errors


@pytest.mark.parametrize("data", INPUTS)
def test_it_validates_exactly_as_deep_copied_fields_do(data: dict[str, Any]) -> None:
    context = {"user": None}
    ours = GenerateInput(data=data, context=context)
    reference = DeepCopiedGenerateInput(data=data, context=context)
    assert outcome(ours) == outcome(reference)


def test_each_instance_binds_its_own_copies_and_the_declarations_stay_unbound() -> None:
    first, second = GenerateInput(data={}), GenerateInput(data={})
    for name, declared in GenerateInput._declared_fields.items():
        mine, theirs = first.fields[name], second.fields[name]
        assert mine is not theirs and mine is not declared
        assert mine.parent is first and theirs.parent is second and mine.field_name == name
        assert declared.parent is None and declared.field_name is None
    face_ids = first.fields["face_ids"]
    assert face_ids.child is not GenerateInput._declared_fields["face_ids"].child
    assert face_ids.child.parent is face_ids and face_ids.child.root is first


def test_a_nested_serializer_field_is_deep_copied() -> None:
    first, second = EditInput(data={}), EditInput(data={})
    changes = first.fields["changes"]
    assert changes is not second.fields["changes"]
    assert changes.parent is first
    assert changes.fields["new_seed"].parent is changes  # its own fields, bound to it


def test_instances_in_concurrent_threads_keep_their_own_results() -> None:
    failures: list[str] = []
    start = threading.Barrier(8)

    def check(n: int) -> None:
        start.wait()
        for _ in range(50):
            data = {"title": f"thread {n}", "variations": 1 + n % 4}
            serializer = GenerateInput(data=data, context={"user": None})
            if not serializer.is_valid() or serializer.validated_data["title"] != f"thread {n}":
                failures.append(f"{n}: {serializer.errors}")
            if serializer.validated_data.get("variations") != 1 + n % 4:
                failures.append(f"{n}: variations")

    threads = [threading.Thread(target=check, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
