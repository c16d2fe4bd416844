"""`channel_consistency` (Pro): the creator's YouTube channel setting, the YouTube Data API
client against the in-repo fake (tests/fake_youtube.py), the job through `POST /api/jobs`
(measured offline, judged by Gemini with a key), its refusals, refunds and caching, the scoring
rule on constructed pictures, and the tool on a thumbnail's large view."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from billing.services import get_balance
from generation.models import Job
from studio import youtube
from studio.job_types import channel_consistency
from studio.job_types.channel_consistency import (
    measure_channel,
    measure_thumbnail,
    score_consistency,
)
from studio.models import YouTubeChannel
from tests import fake_gemini as fake_gemini_module
from tests import fake_youtube as fake_youtube_module
from tests.conftest import set_plan
from tests.factories.studio import ThumbnailFactory
from tests.fake_youtube import FakeChannel, FakeYouTube, solid

fake_youtube = fake_youtube_module.fake_youtube
youtube_settings = fake_youtube_module.youtube_settings
fake_gemini = fake_gemini_module.fake_gemini
gemini_settings = fake_gemini_module.gemini_settings

DARK_SHADES = [(20, 24, 40), (30, 20, 36), (16, 32, 48), (28, 28, 28), (24, 18, 30), (18, 26, 34)]
BRIGHT_YELLOW = (250, 230, 40)
JSON = "application/json"


@pytest.fixture(autouse=True)
def _clean(clean_cache: None) -> None:
    """Cached channel uploads, thumbnails and results never leak between tests."""


# measure_image's readings by picture (mode, size, pixels), for the whole test process.
_READINGS: dict[tuple[str, tuple[int, int], bytes], Any] = {}


@pytest.fixture(autouse=True)
def _each_picture_measured_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The checks here measure the same few constructed pictures again and again (the short
    channel's three in seven tests, each twice; the yellow thumbnail in most): about 0.07 s of
    CPU a picture. A reading is a function of the picture's pixels alone (`measure_image`), so
    each distinct picture is measured once per test process and later checks get that reading:
    what the real measurement gave. Tests that spy on `measure_image` still see every call."""
    real = channel_consistency.measure_image

    def measure_image(image: Image.Image) -> Any:
        key = (image.mode, image.size, hashlib.sha256(image.tobytes()).digest())
        if key not in _READINGS:
            _READINGS[key] = real(image)
        return _READINGS[key]

    monkeypatch.setattr(channel_consistency, "measure_image", measure_image)


@pytest.fixture
def pro(owner: Any) -> Any:
    set_plan(owner, "pro")
    return owner


@pytest.fixture
def dark_channel(youtube_settings: FakeYouTube) -> FakeChannel:
    """@darkchannel: six dark thumbnails with white lettering."""
    return youtube_settings.add_channel(
        FakeChannel("@DarkChannel", "Dark Channel", [solid(c, text=True) for c in DARK_SHADES])
    )


@pytest.fixture
def short_channel(youtube_settings: FakeYouTube) -> FakeChannel:
    """@darkchannel with the fewest uploads a check compares (`youtube.MIN_COMPARED`), for tests
    of what follows the measuring (Gemini's judgement and its failures): each picture measured
    costs about 0.07 s of CPU."""
    return youtube_settings.add_channel(
        FakeChannel(
            "@DarkChannel",
            "Dark Channel",
            [solid(c, text=True) for c in DARK_SHADES[: youtube.MIN_COMPARED]],
        )
    )


def stored_thumbnail(owner: Any, picture: Image.Image) -> Any:
    """One of `owner`'s thumbnails whose stored images are `picture` (PNG)."""
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    name = default_storage.save(
        f"thumbnails/full/test-{uuid.uuid4().hex}.png", ContentFile(buffer.getvalue())
    )
    return ThumbnailFactory(
        owner=owner,
        image=name,
        image_small=name,
        image_medium=name,
        download=name,
        width=picture.width,
        height=picture.height,
    )


def check(client: Any, thumbnail_id: int, run_jobs: Any, capture: Any) -> dict[str, Any]:
    """POST /api/jobs a channel consistency check, run it, and answer GET /api/jobs/<id>."""
    with capture(execute=True):
        response = client.post_json(
            "/api/jobs", {"type": "channel_consistency", "input": {"thumbnail_id": thumbnail_id}}
        )
    assert response.status_code == 202, response.content
    with capture(execute=True):
        run_jobs()
    return client.get(f"/api/jobs/{response.json()['id']}").json()


# --- the channel setting ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("https://www.youtube.com/@DarkChannel", "@DarkChannel"),
        ("youtube.com/@dark.channel-1/videos", "@dark.channel-1"),
        ("m.youtube.com/channel/UC1234567890123456789012", "UC1234567890123456789012"),
        ("  @Darkchannel ", "@Darkchannel"),
        ("UCabcdefghijklmnopqrstu_", "UCabcdefghijklmnopqrstu_"),
        ("@カフェ探訪", "@カフェ探訪"),
    ],
)
def test_channel_references_are_normalized(typed: str, expected: str) -> None:
    assert youtube.parse_channel_reference(typed) == expected


@pytest.mark.parametrize(
    "typed",
    [
        "https://vimeo.com/@someone",
        "https://www.youtube.com/c/LegacyName",
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
        "@ab",
        "@has space",
        "UCshort",
        "darkchannel",
        "",
    ],
)
def test_anything_else_is_refused_with_a_reason(typed: str) -> None:
    with pytest.raises(youtube.ChannelReferenceInvalid) as caught:
        youtube.parse_channel_reference(typed)
    assert str(caught.value)


def test_caches_tell_channel_ids_apart_by_case_but_not_handles(
    youtube_settings: FakeYouTube, dark_channel: FakeChannel
) -> None:
    """Handles match in any case; channel ids are case-sensitive, so an id differing only in
    case is another channel and must not be handed this one's uploads from the cache."""
    uploads = youtube.fetch_uploads("@DarkChannel")
    assert youtube.cached_uploads("@darkchannel") == uploads
    channel_id = uploads.channel_id
    youtube.fetch_uploads(channel_id)
    assert youtube.cached_uploads(channel_id) is not None
    other_case = channel_id[:2] + channel_id[2:].swapcase()
    assert other_case != channel_id and youtube.cached_uploads(other_case) is None


def test_a_pro_creator_sets_changes_and_removes_the_channel(pro: Any, owner_client: Any) -> None:
    assert owner_client.get("/api/me/youtube-channel").json() == {"channel": None, "url": None}
    answer = owner_client.put(
        "/api/me/youtube-channel",
        {"channel": "https://www.youtube.com/@DarkChannel"},
        content_type=JSON,
    )
    assert answer.status_code == 200, answer.content
    assert answer.json() == {
        "channel": "@DarkChannel",
        "url": "https://www.youtube.com/@DarkChannel",
    }
    refused = owner_client.put(
        "/api/me/youtube-channel", {"channel": "youtube.com/c/Legacy"}, content_type=JSON
    )
    assert refused.status_code == 400
    assert refused.json()["code"] == "invalid" and "/@handle" in refused.json()["error"]
    assert YouTubeChannel.objects.get(user=pro).reference == "@DarkChannel"  # kept
    # The Account page: the channel shown with a way to change it, through its htmx form.
    page = owner_client.get("/accounts/email/").content.decode()
    assert 'id="youtube-channel"' in page and "@DarkChannel" in page and "Change channel" in page
    changed = owner_client.post(
        "/accounts/youtube-channel/", {"channel": "@OtherOne"}, HTTP_HX_REQUEST="true"
    )
    assert changed.status_code == 200 and "@OtherOne" in changed.content.decode()
    bad = owner_client.post("/accounts/youtube-channel/", {"channel": "@x"}, HTTP_HX_REQUEST="true")
    assert bad.status_code == 200 and "3-30 letters" in bad.content.decode()
    assert 'value="@x"' in bad.content.decode()  # what was typed stays, to correct it
    assert YouTubeChannel.objects.get(user=pro).reference == "@OtherOne"
    # Without htmx: back to the Account page with a message.
    removed = owner_client.post("/accounts/youtube-channel/", {"channel": ""})
    assert removed.status_code == 302 and removed["Location"] == "/accounts/email/#youtube-channel"
    assert not YouTubeChannel.objects.filter(user=pro).exists()


def test_below_pro_the_channel_setting_is_the_plan_gate(owner: Any, owner_client: Any) -> None:
    set_plan(owner, "advanced")
    refused = owner_client.put(
        "/api/me/youtube-channel", {"channel": "@DarkChannel"}, content_type=JSON
    )
    assert refused.status_code == 403
    assert refused.json()["code"] == "plan_feature" and refused.json()["required_plan"] == "pro"
    assert not YouTubeChannel.objects.filter(user=owner).exists()
    page = owner_client.get("/accounts/email/").content.decode()
    assert "comes with the Pro plan" in page and 'href="/plans/"' in page
    assert 'name="channel"' not in page


def test_a_creator_who_left_pro_can_still_remove_their_channel(
    owner: Any, owner_client: Any
) -> None:
    """Below Pro the saved channel was hidden and a blank PUT was the plan gate (403), so a
    creator who downgraded could not remove what they had stored. Removing is open to every
    plan; setting stays Pro's."""
    set_plan(owner, "pro")
    owner_client.put("/api/me/youtube-channel", {"channel": "@DarkChannel"}, content_type=JSON)
    set_plan(owner, "starter")
    page = owner_client.get("/accounts/email/").content.decode()
    assert "Kept from your Pro plan" in page and "@DarkChannel" in page
    assert "Remove channel" in page and 'type="text" name="channel"' not in page
    # One tap removed it for good (setting one again is Pro's): the form asks first.
    assert (
        'hx-confirm="Remove the channel @DarkChannel? Setting one again needs the Pro plan."'
        in page
    )

    removed = owner_client.post(
        "/accounts/youtube-channel/", {"channel": ""}, headers={"HX-Request": "true"}
    )
    assert removed.status_code == 200 and "No channel set." in removed.content.decode()
    assert not YouTubeChannel.objects.filter(user=owner).exists()
    forgotten = owner_client.put("/api/me/youtube-channel", {"channel": ""}, content_type=JSON)
    assert forgotten.status_code == 200 and forgotten.json() == {"channel": None, "url": None}


# --- the job --------------------------------------------------------------------------------


def test_a_check_compares_with_the_channels_recent_uploads_and_names_the_differences(
    pro: Any,
    owner_client: Any,
    dark_channel: FakeChannel,
    youtube_settings: FakeYouTube,
    run_jobs: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    YouTubeChannel.objects.create(user=pro, reference="@darkchannel")
    thumbnail = stored_thumbnail(pro, solid(BRIGHT_YELLOW, size=(800, 450)))
    before = get_balance(pro)
    data = check(owner_client, thumbnail.pk, run_jobs, django_capture_on_commit_callbacks)
    assert (data["status"], data["cost"], data["model"], data["cached"]) == (
        "succeeded",
        1,
        "local",
        False,
    )
    assert get_balance(pro) == before - 1
    result = data["result"]
    assert result["compared"] == len(DARK_SHADES)
    assert result["channel"] == {"id": dark_channel.channel_id, "title": "Dark Channel"}
    assert result["judged_by"] == "measured" and result["measured_by"] == "local"
    assert 1 <= result["score"] <= 2, result["measures"]
    assert len(result["cues"]) == 2
    brightness = result["measures"]["brightness"]
    assert not brightness["inside"] and brightness["thumbnail"] > 70 and brightness["median"] < 25
    assert any(
        f"are dark (median brightness {brightness['median']}%); this one is "
        f"{brightness['thumbnail']}%." in cue
        for cue in result["cues"]
    ), result["cues"]
    # Google's client called channels.list by handle, then the uploads playlist, with the key
    # in a header.
    calls = youtube_settings.api_calls()
    assert [c.path for c in calls] == ["/youtube/v3/channels", "/youtube/v3/playlistItems"]
    assert calls[0].query["forHandle"] == "@darkchannel" and calls[0].key == "test-key"
    assert calls[1].query["playlistId"] == dark_channel.uploads_id
    assert calls[1].query["maxResults"] == str(youtube.RECENT_VIDEOS)


def test_the_best_size_is_read_and_a_4_3_one_is_cut_to_its_picture(
    youtube_settings: FakeYouTube, settings: Any
) -> None:
    youtube_settings.add_channel(
        FakeChannel("@Letterboxed", "L", [solid((200, 200, 200))] * 3, maxres=False)
    )
    youtube_settings.add_channel(FakeChannel("@Wide", "W", [solid((200, 200, 200))] * 3))
    wide = youtube.fetch_uploads("@Wide")
    assert all(v.thumbnail_url.endswith("/maxresdefault.jpg") for v in wide.videos)
    boxed = youtube.fetch_uploads("@Letterboxed")
    # Without maxres the widest 16:9 size is medium (320x180), not the letterboxed 4:3 ones.
    assert all(v.thumbnail_url.endswith("/mqdefault.jpg") for v in boxed.videos)
    assert youtube.best_thumbnail(
        {"high": {"url": "https://i.ytimg.com/vi/x/hqdefault.jpg", "width": 480, "height": 360}}
    ) == ("https://i.ytimg.com/vi/x/hqdefault.jpg", True)
    cropped = youtube._normalized_jpeg(
        fake_youtube_module.jpeg(solid((200, 200, 200)), (480, 360)), crop_to_16_9=True
    )
    picture = Image.open(io.BytesIO(cropped)).convert("L")
    assert picture.size == (480, 270)
    assert min(picture.get_flattened_data()) > 150  # no black bar left
    assert not youtube._allowed_url("https://evil.example/vi/x.jpg")
    assert youtube._allowed_url("https://i.ytimg.com/vi/x/maxresdefault.jpg")
    assert not youtube._allowed_url("http://i.ytimg.com/vi/x/maxresdefault.jpg")


def test_a_second_identical_check_is_free_and_makes_no_youtube_call(
    pro: Any,
    owner_client: Any,
    dark_channel: FakeChannel,
    youtube_settings: FakeYouTube,
    run_jobs: Any,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    YouTubeChannel.objects.create(user=pro, reference="@DarkChannel")
    thumbnail = stored_thumbnail(pro, solid(BRIGHT_YELLOW, size=(800, 450)))
    first = check(owner_client, thumbnail.pk, run_jobs, django_capture_on_commit_callbacks)
    assert first["status"] == "succeeded"
    seen = len(youtube_settings.requests)
    assert len(youtube_settings.downloads()) == len(DARK_SHADES)
    balance = get_balance(pro)
    second = check(owner_client, thumbnail.pk, run_jobs, django_capture_on_commit_callbacks)
    assert (second["status"], second["cached"], second["cost"]) == ("succeeded", True, 0)
    assert second["result"] == first["result"]
    assert len(youtube_settings.requests) == seen  # no API call, no download
    assert get_balance(pro) == balance
    # Another thumbnail within the hour: the channel's uploads and thumbnails come from the
    # cache, only the new picture is measured.
    other = stored_thumbnail(pro, solid(DARK_SHADES[0], text=True, size=(800, 450)))
    measured: list[tuple[int, int]] = []
    measure_image = channel_consistency.measure_image

    def spy(picture: Image.Image) -> Any:
        measured.append(picture.size)
        return measure_image(picture)

    monkeypatch.setattr(channel_consistency, "measure_image", spy)
    third = check(owner_client, other.pk, run_jobs, django_capture_on_commit_callbacks)
    assert third["status"] == "succeeded" and not third["cached"]
    assert len(youtube_settings.requests) == seen
    assert measured == [(800, 450)]  # the channel's measures came from the cache

    # The channel's medians and ranges are the ones measured for the first check.
    def ranges(result: dict[str, Any]) -> dict[str, tuple[int, int, int]]:
        return {n: (m["median"], m["low"], m["high"]) for n, m in result["measures"].items()}

    assert ranges(third["result"]) == ranges(first["result"])


def test_advanced_is_refused_with_the_plan_gate_and_charged_nothing(
    owner: Any, owner_client: Any, dark_channel: FakeChannel
) -> None:
    set_plan(owner, "advanced")
    thumbnail = stored_thumbnail(owner, solid(BRIGHT_YELLOW))
    before = get_balance(owner)
    response = owner_client.post_json(
        "/api/jobs", {"type": "channel_consistency", "input": {"thumbnail_id": thumbnail.pk}}
    )
    assert response.status_code == 403
    body = response.json()
    assert (body["code"], body["required_plan"], body["plans_url"]) == (
        "plan_feature",
        "pro",
        "/plans/",
    )
    assert get_balance(owner) == before and not Job.objects.exists()


def test_without_a_youtube_key_it_is_refused_before_charging(
    pro: Any, owner_client: Any, settings: Any
) -> None:
    settings.YOUTUBE_API_KEY = ""
    YouTubeChannel.objects.create(user=pro, reference="@DarkChannel")
    thumbnail = stored_thumbnail(pro, solid(BRIGHT_YELLOW))
    before = get_balance(pro)
    response = owner_client.post_json(
        "/api/jobs", {"type": "channel_consistency", "input": {"thumbnail_id": thumbnail.pk}}
    )
    # 503, as the video tools' needs_gemini_key: the studio lacks a service; the request is
    # fine (it was 400, which says the caller should change it).
    assert response.status_code == 503
    assert response.json()["code"] == "youtube_not_configured"
    assert "needs a YouTube Data API key (YOUTUBE_API_KEY)" in response.json()["error"]
    assert get_balance(pro) == before and not Job.objects.exists()


def test_without_a_channel_it_is_refused_before_charging(
    pro: Any, owner_client: Any, youtube_settings: FakeYouTube
) -> None:
    thumbnail = stored_thumbnail(pro, solid(BRIGHT_YELLOW))
    response = owner_client.post_json(
        "/api/jobs", {"type": "channel_consistency", "input": {"thumbnail_id": thumbnail.pk}}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "channel_not_set"
    assert response.json()["account_url"] == "/accounts/email/"
    assert not Job.objects.exists() and not youtube_settings.requests


def test_a_strangers_thumbnail_is_not_found(
    pro: Any, owner_client: Any, other: Any, dark_channel: FakeChannel
) -> None:
    YouTubeChannel.objects.create(user=pro, reference="@DarkChannel")
    theirs = stored_thumbnail(other, solid(BRIGHT_YELLOW))
    response = owner_client.post_json(
        "/api/jobs", {"type": "channel_consistency", "input": {"thumbnail_id": theirs.pk}}
    )
    assert response.status_code == 404 and not Job.objects.exists()


@pytest.mark.parametrize(
    ("reference", "script", "code", "says"),
    [
        ("@NoSuchChannel", (), "channel_not_found", "YouTube has no channel with that handle"),
        ("@DarkChannel", ("quota",), "quota_exhausted", "YouTube Data API quota for today"),
    ],
)
def test_youtube_failures_fail_the_job_plainly_and_refund_it(
    pro: Any,
    owner_client: Any,
    dark_channel: FakeChannel,
    youtube_settings: FakeYouTube,
    run_jobs: Any,
    django_capture_on_commit_callbacks: Any,
    reference: str,
    script: tuple[str, ...],
    code: str,
    says: str,
) -> None:
    YouTubeChannel.objects.create(user=pro, reference=reference)
    youtube_settings.script(*script)
    thumbnail = stored_thumbnail(pro, solid(BRIGHT_YELLOW))
    before = get_balance(pro)
    data = check(owner_client, thumbnail.pk, run_jobs, django_capture_on_commit_callbacks)
    assert (data["status"], data["error_code"]) == ("failed", code)
    assert says in data["error"] and "refunded" in data["error"]
    assert "<a href" not in data["error"] and "quotaExceeded" not in data["error"]
    assert get_balance(pro) == before


def test_an_invalid_key_is_the_operators_problem_said_plainly(
    pro: Any,
    owner_client: Any,
    dark_channel: FakeChannel,
    settings: Any,
    run_jobs: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.YOUTUBE_API_KEY = "wrong-key"
    YouTubeChannel.objects.create(user=pro, reference="@DarkChannel")
    thumbnail = stored_thumbnail(pro, solid(BRIGHT_YELLOW))
    before = get_balance(pro)
    data = check(owner_client, thumbnail.pk, run_jobs, django_capture_on_commit_callbacks)
    assert (data["status"], data["error_code"]) == ("failed", "provider_auth")
    assert "YouTube Data API key is invalid" in data["error"]
    assert get_balance(pro) == before


def test_with_a_gemini_key_gemini_judges_beside_the_measured_score(
    pro: Any,
    owner_client: Any,
    short_channel: FakeChannel,
    gemini_settings: Any,
    run_jobs: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    gemini_settings.json_answer = {
        "score": 4,  # the measurements alone give this thumbnail 1 or 2
        "cues": ["Your channel is dark and moody; this is bright yellow.", "  ", "Extra."],
    }
    YouTubeChannel.objects.create(user=pro, reference="@DarkChannel")
    thumbnail = stored_thumbnail(pro, solid(BRIGHT_YELLOW, size=(800, 450)))
    data = check(owner_client, thumbnail.pk, run_jobs, django_capture_on_commit_callbacks)
    assert data["status"] == "succeeded", data
    result = data["result"]
    assert result["judged_by"] == data["model"] != "local"
    assert result["score"] == 4
    assert result["cues"] == ["Your channel is dark and moody; this is bright yellow.", "Extra."]
    assert result["measured_score"] <= 2 and not result["measures"]["brightness"]["inside"]
    request = gemini_settings.generate_requests()[-1]
    images = [p for p in request.parts if "inlineData" in p]
    assert len(images) == 2  # the thumbnail, then the contact sheet of the channel's
    assert request.generation_config["responseMimeType"] == "application/json"


# --- scoring --------------------------------------------------------------------------------


def test_a_thumbnail_matching_the_channel_scores_higher_than_a_clashing_one() -> None:
    channel = [solid(c, text=True, size=(640, 360)) for c in DARK_SHADES]
    matching = solid((22, 26, 38), text=True, size=(640, 360))
    clashing = solid(BRIGHT_YELLOW, size=(640, 360))
    scores = {}
    channel_values, palette = measure_channel(channel)
    for name, picture in (("matching", matching), ("clashing", clashing)):
        thumbnail_values = measure_thumbnail(picture, palette)
        scores[name] = score_consistency(thumbnail_values, channel_values, palette)
    assert scores["matching"]["score"] == 5, scores["matching"]["measures"]
    assert scores["matching"]["cues"] == []
    assert scores["clashing"]["score"] <= 2, scores["clashing"]["measures"]
    cues = " ".join(scores["clashing"]["cues"])
    assert "brightness" in cues or "channel's colours" in cues or "text" in cues


def test_the_score_counts_measures_inside_the_channels_range() -> None:
    channel = [{"brightness": 30.0 + i, "contrast": 20.0} for i in range(5)]
    inside = score_consistency({"brightness": 33.0, "contrast": 21.0}, channel, [])
    assert inside["score"] == 5 and inside["cues"] == []
    half = score_consistency({"brightness": 33.0, "contrast": 60.0}, channel, [])
    assert (half["score"], half["inside"], half["measured"]) == (3, 1, 2)  # 1 + round(4 x 1/2)
    assert half["cues"] == [
        "Your recent thumbnails have moderate contrast (median 20%); this one has high "
        "contrast (60%)."
    ]
    # The range is the median +- max(2 x robust spread, the measure's floor: 8 for brightness).
    assert half["measures"]["brightness"] | {} == {
        "label": "Brightness",
        "thumbnail": 33,
        "median": 32,
        "low": 24,
        "high": 40,
        "inside": True,
    }


# --- the studio -----------------------------------------------------------------------------


def test_the_large_view_offers_the_tool_and_runs_it(
    pro: Any,
    owner_client: Any,
    dark_channel: FakeChannel,
    run_jobs: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    thumbnail = stored_thumbnail(pro, solid(BRIGHT_YELLOW, size=(800, 450)))
    page = owner_client.get(f"/studio/thumbnails/{thumbnail.pk}").content.decode()
    assert "Channel consistency" in page and "Set your YouTube channel" in page
    assert 'id="tool-channel_consistency"' not in page  # no button before a channel is set
    YouTubeChannel.objects.create(user=pro, reference="@DarkChannel")
    page = owner_client.get(f"/studio/thumbnails/{thumbnail.pk}").content.decode()
    assert 'id="tool-channel_consistency"' in page and "Check consistency · 1 credit" in page
    with django_capture_on_commit_callbacks(execute=True):
        card = owner_client.post(
            "/studio/tools/channel_consistency",
            {"thumbnail_id": thumbnail.pk},
            HTTP_HX_REQUEST="true",
            HTTP_HX_TARGET="results-channel_consistency",
        )
    assert card.status_code == 202, card.content
    with django_capture_on_commit_callbacks(execute=True):
        run_jobs()
    job = Job.objects.get(type="channel_consistency")
    finished = owner_client.get(f"/studio/jobs/{job.pk}").content.decode()
    assert f"{job.result['score']}/5" in finished
    assert f"Compared with {len(DARK_SHADES)} recent thumbnails" in finished
    assert f"{job.result['inside']} of {job.result['measured']} fall inside" in finished
    assert job.result["cues"][0].replace("'", "&#x27;") in finished


def test_the_large_view_says_what_is_missing(owner: Any, owner_client: Any, settings: Any) -> None:
    set_plan(owner, "advanced")
    thumbnail = stored_thumbnail(owner, solid(BRIGHT_YELLOW))
    page = owner_client.get(f"/studio/thumbnails/{thumbnail.pk}").content.decode()
    assert "Channel consistency comes with the Pro plan and up." in page
    set_plan(owner, "pro")
    settings.YOUTUBE_API_KEY = ""
    page = owner_client.get(f"/studio/thumbnails/{thumbnail.pk}").content.decode()
    assert "Reading a channel needs a YouTube Data API key (<code>YOUTUBE_API_KEY</code>)" in page
    assert 'id="tool-channel_consistency"' not in page
    # What the tool does, not only what it lacks; the Account page, where the channel is set,
    # says where the tool is and that the studio cannot read a channel yet.
    assert "Scores how well this thumbnail fits your channel's recent uploads." in page
    account = owner_client.get("/accounts/email/").content.decode()
    assert "a tool on each thumbnail's page" in account
    assert "This studio has no YouTube Data API key" in account
    settings.YOUTUBE_API_KEY = "a-key"
    assert "no YouTube Data API key" not in owner_client.get("/accounts/email/").content.decode()


# --- manage.py check_youtube ---------------------------------------------------------------------


def test_check_youtube_reads_a_channel_and_names_what_fails(
    settings: Any, youtube_settings: FakeYouTube
) -> None:
    from django.core.management import CommandError, call_command

    youtube_settings.add_channel(
        FakeChannel("@Checked", "Checked Channel", [solid((90, 30, 30))] * 3)
    )
    out = io.StringIO()
    call_command("check_youtube", "youtube.com/@Checked", stdout=out)
    assert "'Checked Channel', 3 recent uploads" in out.getvalue()
    call_command("check_youtube", "@Checked", stdout=io.StringIO())
    assert len(youtube_settings.api_calls()) == 4  # asked YouTube again, not the cache

    with pytest.raises(CommandError, match="channel_not_found"):
        call_command("check_youtube", "@NobodyHere", stdout=io.StringIO())
    youtube_settings.script("quota")
    with pytest.raises(CommandError, match="quota"):
        call_command("check_youtube", "@Checked", stdout=io.StringIO())
    settings.YOUTUBE_API_KEY = "wrong-key"
    with pytest.raises(CommandError, match="provider_auth"):
        call_command("check_youtube", "@Checked", stdout=io.StringIO())

    # No key: nothing can be checked, and a monitor running the command must not pass.
    settings.YOUTUBE_API_KEY = ""
    calls = len(youtube_settings.api_calls())
    with pytest.raises(CommandError, match="YOUTUBE_API_KEY is not set, so there is no key"):
        call_command("check_youtube", stdout=io.StringIO())
    assert len(youtube_settings.api_calls()) == calls


def test_check_youtube_without_a_key_exits_non_zero(tmp_path: Path) -> None:
    """As cron or a monitor runs it: exit 1 and the reason on stderr (it exited 0)."""
    env = {k: v for k, v in os.environ.items() if k != "YOUTUBE_API_KEY"}
    env.update(
        LOCAL_DEV="1", VIEWBAIT_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="viewbait.settings"
    )
    checked = subprocess.run(
        [sys.executable, "manage.py", "check_youtube", "--skip-checks"],
        cwd=Path(__file__).resolve().parents[1],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "CommandError: YOUTUBE_API_KEY is not set" in checked.stderr


@pytest.mark.parametrize(
    "answer",
    ["400", *({"score": score, "cues": ["Brighter."]} for score in (0, 9, "4", 4.5, None, True))],
    ids=["error-400", "score-0", "score-9", "score-str", "score-4.5", "score-null", "score-true"],
)
def test_when_gemini_fails_the_measured_score_is_delivered_and_refunded(
    answer: str | dict[str, Any],
    pro: Any,
    owner_client: Any,
    short_channel: FakeChannel,
    gemini_settings: Any,
    run_jobs: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """The channel was read (YouTube quota spent) and every picture measured: a Gemini failure
    after its retries, or an answer whose score is not a whole number 1-5 (no judgement), delivers
    that measured result with a line saying so and refunds the credit, as thumbnail check's
    failed critique does (it failed the whole job, showing nothing; a bad score was delivered as
    a charged judgement, and cached, so checks within the hour never reached Gemini)."""
    if isinstance(answer, str):
        gemini_settings.script(answer)  # not retried
    else:
        gemini_settings.json_answer = answer
    YouTubeChannel.objects.create(user=pro, reference="@DarkChannel")
    thumbnail = stored_thumbnail(pro, solid(BRIGHT_YELLOW, size=(800, 450)))
    before = get_balance(pro)
    data = check(owner_client, thumbnail.pk, run_jobs, django_capture_on_commit_callbacks)
    assert data["status"] == "succeeded", data
    result = data["result"]
    assert result["judged_by"] == "measured" and result["score"] == result["measured_score"]
    assert result["judge_error"].startswith("Gemini's judgement failed (")
    assert result["refunded"] is True and get_balance(pro) == before
    card = owner_client.get(f"/studio/jobs/{data['id']}").content.decode()
    assert "this is the measured score, and the credit was refunded" in card
    # Not cached: the next check asks Gemini again.
    gemini_settings.json_answer = {"score": 3, "cues": []}
    again = check(owner_client, thumbnail.pk, run_jobs, django_capture_on_commit_callbacks)
    assert again["cached"] is False and again["result"]["judged_by"] == again["model"]
    assert again["result"]["score"] == 3


def test_a_retry_after_the_channel_changed_answers_the_original_job(
    pro: Any, owner_client: Any, dark_channel: FakeChannel, django_capture_on_commit_callbacks: Any
) -> None:
    """The Idempotency-Key's fingerprint is what the request sent (the thumbnail): a retry of
    the same request after the creator changed their channel on the Account page is the job
    that was charged, not a 409 `idempotency_key_reused` for a body it did not change."""
    YouTubeChannel.objects.create(user=pro, reference="@DarkChannel")
    thumbnail = stored_thumbnail(pro, solid(BRIGHT_YELLOW, size=(800, 450)))
    body = {"type": "channel_consistency", "input": {"thumbnail_id": thumbnail.pk}}
    before = get_balance(pro)
    with django_capture_on_commit_callbacks(execute=True):
        first = owner_client.post_json("/api/jobs", body, HTTP_IDEMPOTENCY_KEY="check-1")
    assert first.status_code == 202, first.content
    changed = owner_client.put(
        "/api/me/youtube-channel", {"channel": "@OtherChannel"}, content_type=JSON
    )
    assert changed.status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        retry = owner_client.post_json("/api/jobs", body, HTTP_IDEMPOTENCY_KEY="check-1")
    assert retry.status_code in (200, 202), retry.content
    assert retry.json()["id"] == first.json()["id"]
    assert get_balance(pro) == before - 1 and Job.objects.filter(user=pro).count() == 1


def test_the_key_never_appears_in_a_url_a_log_line_or_an_error(
    dark_channel: FakeChannel,
    youtube_settings: FakeYouTube,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The key goes in the `X-Goog-Api-Key` header: google-api-python-client logs a retried
    request's URL at WARNING, so a `key=` parameter wrote the key into the worker's log on
    every 5xx."""
    youtube_settings.script("500", "500")
    with pytest.raises(youtube.YouTubeUnavailable) as raised:
        youtube.fetch_uploads("@DarkChannel")
    key = youtube_settings.valid_key
    calls = youtube_settings.api_calls()
    assert calls and all("key" not in c.query and c.key == key for c in calls)
    assert caplog.records and not [r for r in caplog.records if key in r.getMessage()]
    assert key not in str(raised.value) and key not in str(raised.value.__cause__)
    assert youtube.fetch_uploads("@DarkChannel").title == "Dark Channel"  # the header is read
