"""`analyse_video` (Pro): a public YouTube video -> summary, topic, tone, key moments, hooks and
thumbnail notes from Gemini, which watches the video (its URL as file data); refused uncharged
offline, gated to Pro, cached per video, refunded when Gemini cannot watch it."""

from __future__ import annotations

import html
from typing import Any

import pytest

from billing.services import get_balance
from generation.models import Job
from generation.providers.base import InvalidJSONReturned
from studio.job_types.analyse_video import SCHEMA, clean_analysis, video_id
from studio.job_types.suggest_concepts import clean_concepts
from studio.models import Style
from tests import fake_gemini as fake_gemini_module
from tests.conftest import set_plan
from tests.factories.accounts import UserFactory
from tests.fake_gemini import FakeGemini

fake_gemini = fake_gemini_module.fake_gemini
gemini_settings = fake_gemini_module.gemini_settings

pytestmark = pytest.mark.usefixtures("clean_cache")

VIDEO = "dQw4w9WgXcQ"
ANSWER = {
    "summary": "  A barista visits 100 coffee shops\nin one month and ranks them.  ",
    "topic": "Coffee shop challenge",
    "tone": "playful, fast",
    "key_moments": [
        {"time": "0:42", "moment": "The rules: one espresso per shop"},
        {"time": "about 1:02:03 in", "moment": "The winner is revealed"},
        {"time": "later", "moment": "no time: dropped"},
        {"time": "3:10", "moment": ""},
    ],
    "hooks": [
        "ONLY 1 WAS WORTH IT",
        "Only 1 was worth it",  # the same hook again
        "THE ABSOLUTELY UNBELIEVABLE STORY OF ONE HUNDRED COFFEE SHOPS IN A WEEK",
    ],
    "thumbnail_notes": ["Your face, shocked, beside the winning cup", ""],
}


@pytest.fixture
def pro(owner: Any) -> Any:
    set_plan(owner, "pro")
    return owner


def analyse(client: Any, capture: Any, video_url: str) -> Any:
    with capture(execute=True):
        return client.post_json(
            "/api/jobs", {"type": "analyse_video", "input": {"video_url": video_url}}
        )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (VIDEO, VIDEO),
        (f"https://www.youtube.com/watch?v={VIDEO}&t=42s", VIDEO),
        (f"youtube.com/watch?feature=share&v={VIDEO}", VIDEO),
        (f"https://youtu.be/{VIDEO}?si=abc", VIDEO),
        (f"https://m.youtube.com/shorts/{VIDEO}", VIDEO),
        (f"https://www.youtube.com/live/{VIDEO}", VIDEO),
        (f"https://www.youtube-nocookie.com/embed/{VIDEO}", VIDEO),
        (f"https://evil.example/watch?v={VIDEO}", None),
        (f"https://www.youtube.com/@channel/{VIDEO}", None),
        ("https://www.youtube.com/watch?v=short", None),
        ("not a video", None),
        ("http://[oops/", None),  # urlsplit's ValueError: a 400 like any other, not a 500
    ],
)
def test_video_addresses_are_read_as_youtube_does(value: str, expected: str | None) -> None:
    assert video_id(value) == expected


def test_gemini_watches_the_video_and_its_answer_is_cleaned_and_cached(
    pro, owner_client, django_capture_on_commit_callbacks, run_jobs, gemini_settings: FakeGemini
) -> None:
    start = get_balance(pro)
    gemini_settings.json_answer = ANSWER
    response = analyse(
        owner_client, django_capture_on_commit_callbacks, f"https://youtu.be/{VIDEO}"
    )
    assert response.status_code == 202, response.content
    assert get_balance(pro) == start - 2
    run_jobs()

    data = owner_client.get(f"/api/jobs/{response.json()['id']}").json()
    assert data["status"] == "succeeded", data
    result = data["result"]
    assert result["video_url"] == f"https://www.youtube.com/watch?v={VIDEO}"
    assert result["summary"] == "A barista visits 100 coffee shops in one month and ranks them."
    assert result["key_moments"] == [
        {"time": "0:42", "moment": "The rules: one espresso per shop"},
        {"time": "1:02:03", "moment": "The winner is revealed"},
    ]
    first, long_hook = result["hooks"]
    assert first == "ONLY 1 WAS WORTH IT"
    assert len(long_hook) < 60 and ANSWER["hooks"][2].startswith(long_hook)
    assert result["thumbnail_notes"] == ["Your face, shocked, beside the winning cup"]

    [request] = gemini_settings.generate_requests()
    assert result["measured_by"] == request.model
    # After the prompt, the video as file data. google-genai 3.6.1 sends its field as `file_uri`,
    # which Google accepts as proto3's JSON mapping accepts a field's original name or its
    # lowerCamelCase one.
    [video] = [part["fileData"] for part in request.parts if "fileData" in part]
    assert video.get("fileUri", video.get("file_uri")) == f"https://www.youtube.com/watch?v={VIDEO}"
    config = request.generation_config
    assert config["responseJsonSchema"] == SCHEMA
    assert config["mediaResolution"] == "MEDIA_RESOLUTION_LOW"

    again = analyse(owner_client, django_capture_on_commit_callbacks, VIDEO).json()
    assert again["cached"] is True and again["cost"] == 0
    assert len(gemini_settings.generate_requests()) == 1
    assert get_balance(pro) == start - 2


def test_a_public_videos_analysis_is_shared_by_every_creator(
    pro,
    other,
    owner_client,
    other_client,
    django_capture_on_commit_callbacks,
    run_jobs,
    gemini_settings: FakeGemini,
) -> None:
    """The one shared cache (CachePolicy.shared): its input is a public video's address alone,
    so a hit tells another creator nothing they could not watch themselves."""
    set_plan(other, "pro")
    gemini_settings.json_answer = ANSWER
    analyse(owner_client, django_capture_on_commit_callbacks, VIDEO)
    run_jobs()
    theirs = analyse(other_client, django_capture_on_commit_callbacks, VIDEO).json()
    assert (theirs["cached"], theirs["cost"]) == (True, 0)
    assert len(gemini_settings.generate_requests()) == 1


def test_the_shared_result_lock_outlasts_the_videos_attempts(
    pro, owner_client, django_capture_on_commit_callbacks, run_jobs, gemini_settings, monkeypatch
) -> None:
    """While one job watches a video, an identical job waits for its answer instead of asking
    Gemini again; the lock saying so lasted 300 s, shorter than a video's three attempts of
    180 s, so a second creator's job could pay Gemini to watch the same video again. The lock
    now lasts the job's time limit."""
    from django.core.cache import caches

    from studio.job_types.analyse_video import AnalyseVideo

    locks: list[int] = []
    backend = type(caches["default"])  # each thread has its own instance: patch the class
    add = backend.add

    def recording_add(cache: Any, key: str, value: Any, timeout: Any = None, **kw: Any) -> Any:
        if key.endswith(":lock"):
            locks.append(timeout)
        return add(cache, key, value, timeout, **kw)

    monkeypatch.setattr(backend, "add", recording_add)
    gemini_settings.json_answer = ANSWER
    analyse(owner_client, django_capture_on_commit_callbacks, VIDEO)
    run_jobs()
    attempts = 3 * 180  # GEMINI_RETRY_ATTEMPTS x the catalog's video timeout, backoff aside
    assert locks == [AnalyseVideo.time_limit_seconds] and locks[0] > attempts


def test_the_result_card_offers_the_hooks_for_the_thumbnail_text(
    pro, owner_client, django_capture_on_commit_callbacks, run_jobs, gemini_settings: FakeGemini
) -> None:
    gemini_settings.json_answer = ANSWER
    with django_capture_on_commit_callbacks(execute=True):
        card = owner_client.post(
            "/studio/tools/analyse_video",
            {"video_url": VIDEO},
            headers={"HX-Request": "true", "HX-Target": "results-analyse_video"},
        )
    assert card.status_code == 202 and 'id="job-' in card.content.decode()
    run_jobs()
    job = Job.objects.get(type="analyse_video")
    page = owner_client.get(f"/studio/jobs/{job.pk}", HTTP_HX_REQUEST="true").content.decode()
    assert 'data-fill-title="ONLY 1 WAS WORTH IT"' in page
    assert f"watch?v={VIDEO}&amp;t=3723s" in page  # the moment links to its time


def test_offline_the_studio_says_what_a_key_adds_and_nothing_is_charged(
    pro, owner_client, django_capture_on_commit_callbacks
) -> None:
    start = get_balance(pro)
    response = analyse(owner_client, django_capture_on_commit_callbacks, VIDEO)

    assert response.status_code == 503
    assert response.json()["code"] == "needs_gemini_key"
    assert "GEMINI_API_KEY" in response.json()["error"]
    assert get_balance(pro) == start
    page = html.unescape(owner_client.get("/studio/").content.decode())
    assert "From a YouTube video" in page and "These need a Gemini API key" in page
    assert 'id="video-form"' not in page  # no live control


def test_other_plans_get_the_plan_gate(
    owner, owner_client, django_capture_on_commit_callbacks, gemini_settings: FakeGemini
) -> None:
    set_plan(owner, "advanced")
    response = analyse(owner_client, django_capture_on_commit_callbacks, VIDEO)
    assert (response.status_code, response.json()["code"]) == (403, "plan_feature")
    page = owner_client.get("/studio/").content.decode()
    assert 'aria-label="From a YouTube video: Pro plan"' in page
    # Both tools behind the lock are named, as the plans page names them.
    assert "suggests its hooks and 2-4 thumbnail concepts" in page
    assert 'id="video-url"' not in page


def test_an_address_that_is_not_a_youtube_video_is_a_readable_400(
    pro, owner_client, django_capture_on_commit_callbacks, gemini_settings: FakeGemini
) -> None:
    start = get_balance(pro)
    for address in ("https://vimeo.com/1234", "http://[oops/"):
        response = analyse(owner_client, django_capture_on_commit_callbacks, address)
        assert (response.status_code, response.json()["code"]) == (400, "invalid"), address
        assert "YouTube" in str(response.json())
    assert get_balance(pro) == start
    # The studio's box names the field as the creator knows it, not by its API name.
    refused = owner_client.post(
        "/studio/tools/suggest_concepts",
        {"video_url": "https://vimeo.com/1234"},
        headers={"HX-Request": "true", "HX-Target": "results-suggest_concepts"},
    )
    text = html.unescape(refused.content.decode())
    assert "Paste a YouTube video's address" in text and "Video url" not in text


def test_a_video_gemini_cannot_watch_is_refunded(
    pro, owner_client, django_capture_on_commit_callbacks, run_jobs, gemini_settings: FakeGemini
) -> None:
    start = get_balance(pro)
    gemini_settings.script("400")  # e.g. a private video: INVALID_ARGUMENT
    job_id = analyse(owner_client, django_capture_on_commit_callbacks, VIDEO).json()["id"]
    run_jobs()
    data = owner_client.get(f"/api/jobs/{job_id}").json()
    assert data["status"] == "failed"
    assert get_balance(pro) == start
    # Said as what it is for a video ("The AI service could not use this request." told the
    # creator nothing they could act on); concepts fail the same way.
    assert data["error_code"] == "video_not_watchable"
    assert data["error"].startswith("Gemini could not watch this video: it reads public videos")
    gemini_settings.script("400")
    job_id = concepts(owner_client, django_capture_on_commit_callbacks, video_url=VIDEO).json()[
        "id"
    ]
    run_jobs()
    data = owner_client.get(f"/api/jobs/{job_id}").json()
    assert (data["status"], data["error_code"]) == ("failed", "video_not_watchable")
    assert get_balance(pro) == start


def test_an_answer_without_a_summary_is_retried() -> None:
    with pytest.raises(InvalidJSONReturned):
        clean_analysis({**ANSWER, "summary": "  "})


# --- suggest_concepts ----------------------------------------------------------------------------


def concepts(client: Any, capture: Any, **data: Any) -> Any:
    with capture(execute=True):
        return client.post_json("/api/jobs", {"type": "suggest_concepts", "input": data})


def test_concepts_come_with_the_creators_own_styles_and_fill_the_form(
    pro, owner_client, django_capture_on_commit_callbacks, run_jobs, gemini_settings: FakeGemini
) -> None:
    start = get_balance(pro)
    mine = Style.objects.create(owner=pro, name="Dark  Red Headlines", description="Bold red")
    strangers = Style.objects.create(owner=UserFactory(), name="Not Yours", is_public=True)
    gemini_settings.json_answer = {
        "concepts": [
            {
                "text": "100 SHOPS, 1 WINNER",
                "style": "dark red headlines",
                "scene": "Cups",
                "why": "A",
            },
            {"text": "100 shops, 1 winner", "style": "Bold Gaming", "scene": "again", "why": "B"},
            {"text": "WAS IT WORTH IT?", "style": "Not Yours", "scene": "Face\nshocked", "why": ""},
        ]
    }
    response = concepts(
        owner_client, django_capture_on_commit_callbacks, video_url=VIDEO, title=" My  trip "
    )
    assert response.status_code == 202, response.content
    run_jobs()
    data = owner_client.get(f"/api/jobs/{response.json()['id']}").json()
    assert data["status"] == "succeeded", data
    assert get_balance(pro) == start - 2
    assert data["result"]["concepts"] == [
        {
            "text": "100 SHOPS, 1 WINNER",
            "style_id": mine.pk,
            "style_name": "Dark  Red Headlines",
            "scene": "Cups",
            "why": "A",
        },
        {  # a style the creator was not offered is no style
            "text": "WAS IT WORTH IT?",
            "style_id": None,
            "style_name": "",
            "scene": "Face shocked",
            "why": "",
        },
    ]
    [request] = gemini_settings.generate_requests()
    prompt = request.parts[0]["text"]
    assert '"My trip"' in prompt and "- Dark  Red Headlines: Bold red" in prompt
    assert "Bold Gaming" in prompt and strangers.name not in prompt
    assert [p for p in request.parts if "fileData" in p]
    card = owner_client.get(f"/studio/jobs/{data['id']}", HTTP_HX_REQUEST="true").content.decode()
    assert f'data-fill-title="100 SHOPS, 1 WINNER" data-fill-style="{mine.pk}"' in card


def test_concepts_are_refused_offline_and_gated_to_pro(
    owner, owner_client, django_capture_on_commit_callbacks
) -> None:
    set_plan(owner, "advanced")
    refused = concepts(owner_client, django_capture_on_commit_callbacks, video_url=VIDEO)
    assert (refused.status_code, refused.json()["code"]) == (403, "plan_feature")
    set_plan(owner, "pro")
    start = get_balance(owner)
    offline = concepts(owner_client, django_capture_on_commit_callbacks, video_url=VIDEO)
    assert (offline.status_code, offline.json()["code"]) == (503, "needs_gemini_key")
    assert get_balance(owner) == start


def test_a_concept_answer_naming_a_private_style_is_not_another_creators(
    pro,
    other,
    owner_client,
    other_client,
    django_capture_on_commit_callbacks,
    run_jobs,
    gemini_settings: FakeGemini,
) -> None:
    """Two creators with a private style of the same name: the second gets concepts of their
    own (a call of its own), never the first's answer pointing at the first's style."""
    set_plan(other, "pro")
    mine = Style.objects.create(owner=pro, name="Red", description="Mine: red on black")
    theirs = Style.objects.create(owner=other, name="Red", description="Theirs: pastel red")
    gemini_settings.json_answer = {
        "concepts": [
            {"text": "WORTH IT?", "style": "Red", "scene": "Cups", "why": "Gap"},
            {"text": "1 WINNER", "style": "Red", "scene": "A cup", "why": "B"},
        ]
    }
    first = concepts(owner_client, django_capture_on_commit_callbacks, video_url=VIDEO).json()
    run_jobs()
    second = concepts(other_client, django_capture_on_commit_callbacks, video_url=VIDEO).json()
    run_jobs()

    assert second["cached"] is False and len(gemini_settings.generate_requests()) == 2

    def style_id(client: Any, job: dict[str, Any]) -> int:
        return client.get(f"/api/jobs/{job['id']}").json()["result"]["concepts"][0]["style_id"]

    assert [style_id(owner_client, first), style_id(other_client, second)] == [mine.pk, theirs.pk]


def test_an_answer_with_fewer_than_two_concepts_is_retried() -> None:
    """The schema asks for 2-4 and the creator pays 2 credits for 2-4: one concept left once a
    repeated text is dropped is retried (then refunded), not delivered as the whole answer."""
    one = {"text": "100 SHOPS", "style": "", "scene": "Cups", "why": "A"}
    with pytest.raises(InvalidJSONReturned):
        clean_concepts({"concepts": [one, {**one, "text": "100 shops"}]}, [])
    assert len(clean_concepts({"concepts": [one, {**one, "text": "1 WINNER"}]}, [])) == 2


def test_the_studio_shows_the_price_the_video_tools_charge(
    pro, owner_client, django_capture_on_commit_callbacks, gemini_settings: FakeGemini, monkeypatch
) -> None:
    """The buttons' price and the credits they need come from the job types' own price (one
    number), not a copy typed into the page."""
    from studio import views
    from studio.job_types import analyse_video

    monkeypatch.setattr(analyse_video, "VIDEO_CREDITS", 3)
    monkeypatch.setattr(views, "VIDEO_CREDITS", 3)
    page = owner_client.get("/studio/").content.decode()
    assert "Analyse video · 3 credits" in page and "Suggest concepts · 3 credits" in page
    assert page.count('data-cost="3" data-needs-credits="needs-credits-analyse_video"') == 2
    start = get_balance(pro)
    assert analyse(owner_client, django_capture_on_commit_callbacks, VIDEO).json()["cost"] == 3
    assert get_balance(pro) == start - 3


def test_each_video_tool_has_one_name_on_every_page(pro, owner_client) -> None:
    """The plans page's price line said "Thumbnail concepts" and its features "analyse a video,
    thumbnail concepts" while the studio's buttons say "Analyse video" and "Suggest concepts"
    (walkthrough 2026-12-04): the buttons' wording is now the one name everywhere."""
    from billing.models import CreditLedgerEntry
    from studio.credit_history import describe

    studio = owner_client.get("/studio/").content.decode()
    assert "Analyse video · " in studio and "Suggest concepts · " in studio
    plans = owner_client.get("/plans/").content.decode()
    assert "Analyse video and Suggest concepts" in plans  # the price line
    assert "YouTube: analyse video, suggest concepts, channel consistency" in plans
    assert "thumbnail concepts," not in plans.lower() and "analyse a video" not in plans
    told = describe(CreditLedgerEntry(kind="debit", amount=3, reason="suggest_concepts x1"))
    assert told == "Suggest concepts"


def test_concepts_for_a_text_in_other_case_are_asked_again(
    pro, owner_client, django_capture_on_commit_callbacks, run_jobs, gemini_settings: FakeGemini
) -> None:
    """The prompt sends the text as typed ("MY TRIP" reads differently from "my trip"), so the
    cache does not answer one with the other's concepts."""
    gemini_settings.json_answer = {
        "concepts": [
            {"text": "A", "style": "", "scene": "S", "why": "W"},
            {"text": "B", "style": "", "scene": "S", "why": "W"},
        ]
    }
    concepts(owner_client, django_capture_on_commit_callbacks, video_url=VIDEO, title="my trip")
    run_jobs()
    again = concepts(
        owner_client, django_capture_on_commit_callbacks, video_url=VIDEO, title="MY TRIP"
    ).json()
    assert again["cached"] is False
