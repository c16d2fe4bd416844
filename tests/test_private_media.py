"""Private media (studio.media): every stored file kind is readable only through a signed,
unexpired URL handed to someone allowed to see it; a share link shows exactly its thumbnails
while sharing is on; share clicks count once per visitor, thumbnail and day; gallery cards
cost a constant number of URL reversals and storage calls per page. PostgreSQL and real Redis
where CI gives them; S3 through django-storages against moto's server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.urls import reverse
from django.urls.resolvers import URLResolver
from PIL import Image

from generation.models import Job
from studio import media, outputs, services, views_share
from studio.images import encode_jpeg, encode_png, encode_webp, resize_to_width
from studio.job_types.thumbnail_check import store_heatmap
from studio.media import MediaSigner, PrivateFileSystemStorage, media_url
from studio.models import Project, Thumbnail
from tests.conftest import set_plan
from tests.factories.studio import uploaded_style

ROOT = Path(__file__).resolve().parents[1]


def picture(colour: tuple[int, int, int] = (200, 40, 40), size=(640, 360)) -> Image.Image:
    image = Image.new("RGB", size, colour)
    image.paste((20, 20, 220), (40, 40, 200, 160))
    return image


def store_thumbnail(owner: Any, *, project: Project | None = None, favorite=False) -> Thumbnail:
    """A thumbnail with its four stored files, named as a generate job names them."""
    job = Job.objects.create(user=owner, type="generate_thumbnails", params={})
    image = picture()
    thumbnail = Thumbnail(
        owner=owner,
        job=job,
        project=project,
        is_favorite=favorite,
        title="Private",
        aspect_ratio="16:9",
        resolution="1K",
        width=image.width,
        height=image.height,
    )
    contents = (
        encode_png(image),
        encode_webp(resize_to_width(image, 400)),
        encode_webp(resize_to_width(image, 800)),
        encode_jpeg(image),
    )
    for (field, name), content in zip(outputs._unit_files(job, 0, 1), contents, strict=True):
        getattr(thumbnail, field).save(name, ContentFile(content), save=False)
    thumbnail.save()
    return thumbnail


@pytest.fixture
def stored_kinds(owner: Any, owner_client: Any, face_photo_bytes: bytes) -> dict[str, str]:
    """Every kind of file the product stores, by kind: storage name."""
    thumbnail = store_thumbnail(owner)
    response = owner_client.post(
        "/api/faces",
        {"name": "Me", "images": [SimpleUploadedFile("me.jpg", face_photo_bytes)]},
    )
    assert response.status_code == 201, response.content
    face_image = owner.faces.get().images.get()
    style = uploaded_style(owner, reference=encode_jpeg(picture((10, 200, 10))))
    heatmap = store_heatmap(encode_png(picture((1, 2, 3))))
    upload = default_storage.save(f"analysis/{uuid.uuid4().hex}.png", ContentFile(b"x"))
    return {
        "thumbnail full": thumbnail.image.name,
        "thumbnail 400": thumbnail.image_small.name,
        "thumbnail 800": thumbnail.image_medium.name,
        "thumbnail download": thumbnail.download.name,
        "face photo": face_image.image.name,
        "style reference": style.reference_images.get().image.name,
        "style preview": style.preview.name,
        "heatmap": heatmap,
        "analysis upload": upload,
    }


def stored_bytes(name: str) -> bytes:
    with default_storage.open(name, "rb") as handle:
        return handle.read()


def body(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_the_default_storage_is_private() -> None:
    assert isinstance(default_storage, PrivateFileSystemStorage)


def test_every_file_kind_needs_a_valid_unexpired_signature(
    stored_kinds, owner_client, other_client, anon_client
) -> None:
    for kind, name in stored_kinds.items():
        bare = f"/media/{name}"
        for who, client in (("anonymous", anon_client), ("stranger", other_client)):
            assert client.get(bare).status_code == 404, (kind, who)
        assert owner_client.get(bare).status_code == 404, kind  # not even the owner, unsigned

        url = media_url(name)
        assert url.startswith(bare + "?e="), url
        response = owner_client.get(url)
        assert response.status_code == 200, kind
        assert body(response) == stored_bytes(name), kind
        expires = int(re.search(r"e=(\d+)", url).group(1))
        max_age = int(re.search(r"max-age=(\d+)", response["Cache-Control"]).group(1))
        assert response["Cache-Control"].startswith("private")
        assert time.time() + max_age < expires  # no cached copy outlives the URL
        # The validator: a repeat with the ETag is a 304 without the body.
        again = owner_client.get(url, HTTP_IF_NONE_MATCH=response["ETag"])
        assert again.status_code == 304, kind

        signature = re.search(r"s=([\w-]+)", url).group(1)
        tampered = url[:-1] + ("A" if url[-1] != "A" else "B")
        longer = url.replace(f"e={expires}", f"e={expires + 3600}")
        non_ascii = f"{bare}?e={expires}&s=%C3%A9"  # compare_digest refuses non-ASCII str
        bad_urls = (tampered, longer, non_ascii, f"{bare}?e={expires}", f"{bare}?s={signature}")
        for bad in bad_urls:
            assert anon_client.get(bad).status_code == 404, (kind, bad)
        # A signature is for one name: it opens no sibling file.
        for other_name in stored_kinds.values():
            if other_name != name:
                swapped = f"/media/{other_name}?e={expires}&s={signature}"
                assert anon_client.get(swapped).status_code == 404

        expired = MediaSigner(now=time.time() - 2 * 3600).url(name)
        assert owner_client.get(expired).status_code == 404, kind


def test_signature_checks_do_not_let_a_path_leave_media_root(anon_client, settings) -> None:
    outside = Path(settings.MEDIA_ROOT).parent / f"secret-{uuid.uuid4().hex}.txt"
    outside.write_text("secret")
    try:
        signer = MediaSigner()
        name = f"../{outside.name}"
        url = f"/media/{name}?e={signer.expires}&s={media._sign(signer.key, name, signer.expires)}"
        assert anon_client.get(url).status_code == 404
    finally:
        outside.unlink()


def test_urls_expire_between_max_age_and_a_quarter_more(settings) -> None:
    settings.MEDIA_URL_MAX_AGE = 3600
    now = 1_800_000_123
    signer = MediaSigner(now=now)
    assert 3600 <= signer.expires - now < 3600 * 1.25
    # Stable within a step, so browsers keep the images of a reloaded page cached.
    assert MediaSigner(now=now + 60).url("a.png") == signer.url("a.png")


def test_pages_and_api_answers_carry_only_signed_urls(
    owner, owner_client, stored_kinds, face_photo_bytes
) -> None:
    pages = [
        owner_client.get("/studio/").content.decode(),
        owner_client.get("/studio/library/").content.decode(),
        owner_client.get(f"/studio/thumbnails/{owner.thumbnails.get().pk}").content.decode(),
        owner_client.get("/api/thumbnails").content.decode(),
        owner_client.get("/api/faces").content.decode(),
        owner_client.get("/api/studio/bootstrap").content.decode(),
    ]
    found = 0
    for page in pages:
        for match in re.finditer(r"/media/[^\"'\s<>]+", page):
            url = match.group(0).replace("&amp;", "&").replace("\\u0026", "&")
            assert re.search(r"\?e=\d+&s=[\w-]{22}", url), url
            found += 1
            assert owner_client.get(url).status_code == 200, url
    assert found >= 6


def test_file_names_reveal_nothing_about_siblings(owner) -> None:
    job = Job.objects.create(user=owner, type="generate_thumbnails", params={})
    names = [
        name
        for index in range(2)
        for attempt in (1, 2)
        for _, name in outputs._unit_files(job, index, attempt)
    ]
    stems = [Path(name).stem for name in names]
    assert all(re.fullmatch(r"[0-9a-f]{32}", stem) for stem in stems), names
    # No shared stem between a file and its siblings, its other units or its other attempts.
    assert len(set(stems)) == len(stems)
    assert not any(job.id.hex in name for name in names)
    # Still fixed per (job, unit, attempt, file), so the files of an attempt can be found again.
    assert [n for _, n in outputs._unit_files(job, 0, 1)] == names[:4]


# --- share links ---------------------------------------------------------------------------------


def share_image_urls(html: str) -> list[str]:
    return sorted(set(re.findall(r"/share/[\w-]+/i/\d+/\w+", html)))


def test_share_page_exposes_exactly_its_thumbnails_while_shared(owner, other, anon_client) -> None:
    project = Project.objects.create(owner=owner, name="Shared", share_mode="all")
    fav = store_thumbnail(owner, project=project, favorite=True)
    plain = store_thumbnail(owner, project=project)
    elsewhere = store_thumbnail(owner)
    stranger_project = Project.objects.create(owner=other, name="Theirs", share_mode="all")
    token = project.share_token

    html = anon_client.get(f"/share/{token}/").content.decode()
    assert "/media/" not in html  # no signed owner URL leaves through a share page
    urls = share_image_urls(html)
    assert urls == sorted(
        f"/share/{token}/i/{t.pk}/{v}" for t in (fav, plain) for v in ("small", "medium")
    )
    for url in urls:
        response = anon_client.get(url)
        assert response.status_code == 200
        assert response["Cache-Control"] == "private, no-cache"
    full = anon_client.get(f"/share/{token}/i/{fav.pk}/full")
    assert body(full) == stored_bytes(fav.image.name)
    # Nothing else through this link: another thumbnail, an unknown variant, another token.
    for url in (
        f"/share/{token}/i/{elsewhere.pk}/full",
        f"/share/{token}/i/{fav.pk}/download",
        f"/share/{stranger_project.share_token}/i/{fav.pk}/full",
    ):
        assert anon_client.get(url).status_code == 404, url

    project.share_mode = "favorites"
    project.save()
    assert anon_client.get(f"/share/{token}/i/{plain.pk}/medium").status_code == 404
    assert anon_client.get(f"/share/{token}/i/{fav.pk}/medium").status_code == 200

    project.share_mode = "off"
    project.save()
    for url in urls:  # the URLs handed out before stop working at once
        assert anon_client.get(url).status_code == 404, url
    assert anon_client.get(f"/share/{token}/").status_code == 404


def test_share_click_page_shows_the_shared_images(owner, anon_client) -> None:
    project = Project.objects.create(owner=owner, name="Shared", share_mode="all")
    thumbnail = store_thumbnail(owner, project=project)
    response = anon_client.get(f"/share/{project.share_token}/t/{thumbnail.pk}")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/media/" not in html
    base = f"/share/{project.share_token}/i/{thumbnail.pk}"
    assert f'href="{base}/full"' in html and f'src="{base}/medium"' in html
    assert anon_client.get(f"{base}/full").status_code == 200


def clicks(thumbnail: Thumbnail) -> int:
    thumbnail.refresh_from_db()
    return thumbnail.share_clicks


def test_share_clicks_count_once_per_visitor_thumbnail_and_day(owner, client) -> None:
    project = Project.objects.create(owner=owner, name="Shared", share_mode="all")
    first, second = store_thumbnail(owner, project=project), store_thumbnail(owner, project=project)
    day = f"2099{uuid.uuid4().int % 10**4:04d}"  # a day no earlier run counted in

    def click(thumbnail: Thumbnail, ua: str = "Firefox", ip: str = "198.51.100.7") -> None:
        response = client.get(
            f"/share/{project.share_token}/t/{thumbnail.pk}",
            HTTP_USER_AGENT=ua,
            REMOTE_ADDR=ip,
        )
        assert response.status_code == 200

    with mock.patch.object(views_share, "utc_day", return_value=day):
        for _ in range(3):
            click(first)
        assert clicks(first) == 1  # reloads by one visitor count once
        click(second)
        assert clicks(second) == 1  # per thumbnail
        click(first, ua="Safari")
        click(first, ip="203.0.113.9")
        assert clicks(first) == 3  # other visitors (browser or address) count
        # A spoofed X-Forwarded-For from an untrusted peer is the same visitor.
        client.get(
            f"/share/{project.share_token}/t/{first.pk}",
            HTTP_USER_AGENT="Firefox",
            REMOTE_ADDR="198.51.100.7",
            HTTP_X_FORWARDED_FOR="192.0.2.55",
        )
        assert clicks(first) == 3
    with mock.patch.object(views_share, "utc_day", return_value=f"{day}b"):
        click(first)
        assert clicks(first) == 4  # the next day counts again
        # A link pasted in Slack, Discord or X is fetched for its preview: not a visitor.
        for bot in (
            "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
            "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
            "Twitterbot/1.0",
            "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        ):
            click(first, ua=bot, ip="192.0.2.80")
        assert clicks(first) == 4
        iphone = (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
        )
        click(first, ua=iphone, ip="192.0.2.80")
        assert clicks(first) == 5  # a person's browser from the same address counts


def test_the_owners_own_visits_are_not_share_clicks(owner, other, client) -> None:
    """A creator opening their own share link (to check it, to copy it) is not a visitor;
    another signed-in creator is."""
    project = Project.objects.create(owner=owner, name="Shared", share_mode="all")
    thumbnail = store_thumbnail(owner, project=project)
    url = f"/share/{project.share_token}/t/{thumbnail.pk}"
    day = f"2098{uuid.uuid4().int % 10**4:04d}"
    with mock.patch.object(views_share, "utc_day", return_value=day):
        client.force_login(owner)
        assert client.get(url, HTTP_USER_AGENT="Firefox").status_code == 200
        assert clicks(thumbnail) == 0
        client.force_login(other)
        assert client.get(url, HTTP_USER_AGENT="Firefox").status_code == 200
        assert clicks(thumbnail) == 1


# --- a public thumbnail's own page ---------------------------------------------------------------


def public_url(owner_client: Any, thumbnail: Thumbnail) -> str:
    """The public link the large view shows (after its "Make public"), as a path."""
    page = owner_client.get(f"/studio/thumbnails/{thumbnail.pk}").content.decode()
    found = re.search(
        r'id="public-url" class="share-url" value="http://testserver(/p/[\w-]+/)"', page
    )
    assert found, "no public link on the large view"
    return found[1]


def test_a_public_thumbnail_has_a_page_of_its_own_until_it_is_made_private(
    owner, other, owner_client, other_client, anon_client
) -> None:
    """The public flag (PATCH /api/thumbnails/<id>, or the large view's "Make public") was
    saved and read by nothing: now it gives the thumbnail a page at an unguessable link, with
    the share pages' image, title and link-preview tags, its files served only while public."""
    thumbnail = store_thumbnail(owner)
    page = owner_client.get(f"/studio/thumbnails/{thumbnail.pk}").content.decode()
    assert "Make public" in page and 'id="public-url"' not in page
    # A stranger's post is a 404 and changes nothing.
    assert (
        other_client.post(
            f"/studio/thumbnails/{thumbnail.pk}/public", {"public": "true"}
        ).status_code
        == 404
    )
    thumbnail.refresh_from_db()
    assert not thumbnail.is_public and thumbnail.public_token is None

    response = owner_client.post(f"/studio/thumbnails/{thumbnail.pk}/public", {"public": "true"})
    assert (
        response.status_code == 302
        and response["Location"] == f"/studio/thumbnails/{thumbnail.pk}#public-link"
    )
    link = public_url(owner_client, thumbnail)
    thumbnail.refresh_from_db()
    assert thumbnail.is_public and link == f"/p/{thumbnail.public_token}/"
    assert len(thumbnail.public_token) >= 32  # 192 random bits, as a project's share token

    shown = anon_client.get(link)
    assert shown.status_code == 200
    html = shown.content.decode()
    assert "/media/" not in html and "<h1" in html and "Private</h1>" in html
    assert f'<a href="{link}i/full"><img src="{link}i/medium"' in html
    assert f'<meta property="og:image" content="http://testserver{link}i/medium">' in html
    assert '<meta property="og:title" content="Private">' in html
    assert '<meta name="robots" content="noindex, nofollow">' in html
    assert body(anon_client.get(f"{link}i/full")) == stored_bytes(thumbnail.image.name)
    assert body(anon_client.get(f"{link}i/medium")) == stored_bytes(thumbnail.image_medium.name)
    assert anon_client.get(f"{link}i/full")["Cache-Control"] == "private, no-cache"
    assert anon_client.get(f"{link}i/download").status_code == 404
    assert anon_client.get("/p/not-a-token/").status_code == 404

    urls = [link, f"{link}i/full", f"{link}i/medium", f"{link}i/small"]
    response = owner_client.post(f"/studio/thumbnails/{thumbnail.pk}/public", {"public": "false"})
    assert response.status_code == 302
    for url in urls:  # at once, the links handed out before included
        assert anon_client.get(url).status_code == 404, url
    assert (
        'id="public-url"'
        not in owner_client.get(f"/studio/thumbnails/{thumbnail.pk}").content.decode()
    )
    # Public again (here through the API's PATCH): a new link; the old one stays dead.
    patched = owner_client.patch(
        f"/api/thumbnails/{thumbnail.pk}", {"is_public": True}, content_type="application/json"
    )
    assert patched.status_code == 200
    again = public_url(owner_client, thumbnail)
    assert patched.json()["public_url"] == again  # the API hands out the same link
    assert again != link and anon_client.get(again).status_code == 200
    private = owner_client.patch(
        f"/api/thumbnails/{thumbnail.pk}", {"is_public": False}, content_type="application/json"
    )
    assert private.json()["public_url"] is None
    assert anon_client.get(again).status_code == 404
    owner_client.patch(
        f"/api/thumbnails/{thumbnail.pk}", {"is_public": True}, content_type="application/json"
    )
    again = public_url(owner_client, thumbnail)
    assert anon_client.get(link).status_code == 404


def test_public_page_visits_count_as_share_clicks_but_not_the_owners(owner, client) -> None:
    thumbnail = store_thumbnail(owner)
    services.do_update_thumbnail(thumbnail=thumbnail, is_public=True)
    url = f"/p/{thumbnail.public_token}/"
    day = f"2097{uuid.uuid4().int % 10**4:04d}"
    with mock.patch.object(views_share, "utc_day", return_value=day):
        # A link previewer's HEAD probe is answered (it was a 405) and is no click.
        assert client.head(url, HTTP_USER_AGENT="Safari").status_code == 200
        assert clicks(thumbnail) == 0
        for _ in range(2):
            assert client.get(url, HTTP_USER_AGENT="Firefox").status_code == 200
        assert clicks(thumbnail) == 1  # once per visitor and day
        assert client.get(url, HTTP_USER_AGENT="Twitterbot/1.0").status_code == 200
        client.force_login(owner)
        assert client.get(url, HTTP_USER_AGENT="Safari").status_code == 200
        assert clicks(thumbnail) == 1  # neither a link preview nor the owner


def cache_down(backend: str, **options: Any) -> Any:
    """Settings whose general cache is `backend` on a Redis that is not there (nothing listens
    on port 1; 0.2 s timeouts), with sessions in the database."""
    from django.conf import settings

    down = {
        "BACKEND": backend,
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2, **options},
    }
    return override_settings(
        CACHES={**settings.CACHES, "default": down},
        SESSION_ENGINE="django.contrib.sessions.backends.db",
    )


def test_share_clicks_never_500_without_redis(owner, client) -> None:
    project = Project.objects.create(owner=owner, name="Shared", share_mode="all")
    thumbnail = store_thumbnail(owner, project=project)
    url = f"/share/{project.share_token}/t/{thumbnail.pk}"
    with cache_down("django_redis.cache.RedisCache", IGNORE_EXCEPTIONS=True):
        assert client.get(url).status_code == 200
        assert client.get(f"/share/{project.share_token}/").status_code == 200
    assert clicks(thumbnail) == 0  # not counted: an outage must not let reloads inflate it
    # The cache's counting add (FailOpenRedisCache's add_unless_down on Redis) raising.
    adder = "add_unless_down" if hasattr(views_share.cache, "add_unless_down") else "add"
    with mock.patch.object(views_share.cache, adder, side_effect=ConnectionError("down")):
        assert client.get(url).status_code == 200
    assert clicks(thumbnail) == 0


def test_share_clicks_are_not_counted_while_the_production_cache_is_down(owner, client) -> None:
    """The general cache of a Redis deployment (core.redis_faults.FailOpenRedisCache) answers
    `add` True while Redis is down, so every reload of a share page counted a click."""
    project = Project.objects.create(owner=owner, name="Shared", share_mode="all")
    thumbnail = store_thumbnail(owner, project=project)
    url = f"/share/{project.share_token}/t/{thumbnail.pk}"
    with cache_down("core.redis_faults.FailOpenRedisCache"):
        for _ in range(3):
            assert client.get(url).status_code == 200
    assert clicks(thumbnail) == 0


# --- gallery cards: constant work per page -------------------------------------------------------


def count_work(client: Any, url: str) -> tuple[int, int, int]:
    """(URL reversals, storage.url calls, cards) for one GET."""
    reversals = mock.patch.object(
        URLResolver,
        "_reverse_with_prefix",
        autospec=True,
        side_effect=URLResolver._reverse_with_prefix,
    )
    storage_urls = mock.patch.object(
        PrivateFileSystemStorage,
        "url",
        autospec=True,
        side_effect=PrivateFileSystemStorage.url,
    )
    with reversals as reversed_, storage_urls as stored:
        response = client.get(url, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    cards = response.content.decode().count('<article class="thumb"')
    return reversed_.call_count, stored.call_count, cards


def test_a_gallery_page_costs_the_same_work_for_5_or_20_cards(owner, owner_client, other) -> None:
    set_plan(owner, "starter")  # the palette tool's button, not its plan link
    Project.objects.create(owner=owner, name="P")
    for _ in range(5):
        store_thumbnail(owner)
    few = count_work(owner_client, "/studio/gallery?order=newest")
    for _ in range(15):
        store_thumbnail(owner)
    many = count_work(owner_client, "/studio/gallery?order=newest")
    assert (few[2], many[2]) == (5, 20)
    assert many[:2] == few[:2], (few, many)
    assert many[1] == 0  # images signed by one MediaSigner, no storage call per card
    studio_few = count_work(owner_client, "/studio/")
    assert studio_few[2] == 20
    html = owner_client.get("/studio/gallery?order=newest").content.decode()
    card = Thumbnail.objects.filter(owner=owner).first()
    # Same links as {% url %} gave, per card.
    assert f'href="/studio/thumbnails/{card.pk}#tool-edit_thumbnail-heading"' in html
    assert f'hx-post="/studio/thumbnails/{card.pk}/favorite"' in html
    assert f'href="/api/thumbnails/{card.pk}/download?size=youtube"' in html
    assert 'hx-post="/studio/tools/analyse_palette"' in html


def test_an_api_page_costs_the_same_url_reversals_for_5_or_20_thumbnails(
    owner, owner_client
) -> None:
    def reversals() -> tuple[int, list[dict[str, Any]]]:
        with mock.patch.object(
            URLResolver,
            "_reverse_with_prefix",
            autospec=True,
            side_effect=URLResolver._reverse_with_prefix,
        ) as reversed_:
            response = owner_client.get("/api/thumbnails?limit=20")
        assert response.status_code == 200
        return reversed_.call_count, response.json()["results"]

    for _ in range(5):
        store_thumbnail(owner)
    few, results = reversals()
    for _ in range(15):
        store_thumbnail(owner)
    many, results = reversals()
    assert len(results) == 20 and many == few, (few, many)
    # The same links reverse() gives, per thumbnail.
    for item in results:
        assert item["page_url"] == reverse("thumbnail-page", args=[item["id"]])
        assert item["download_url"] == (
            reverse("api-thumbnail-download", args=[item["id"]]) + "?size=youtube"
        )


def test_the_card_fallback_matches_the_page_computation(owner) -> None:
    from studio.cards import CardPage

    thumbnail = store_thumbnail(owner)
    fresh = Thumbnail.objects.get(pk=thumbnail.pk)
    page_card = CardPage.for_user(owner).card(thumbnail)
    assert fresh.card.page_url == page_card.page_url == f"/studio/thumbnails/{thumbnail.pk}"
    assert fresh.card.image_url.split("?")[0] == f"/media/{thumbnail.image_medium.name}"


# --- S3 (django-storages) against moto's server ---------------------------------------------------


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    moto_server = pytest.importorskip("moto.server")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def test_s3_storage_gives_presigned_urls_and_refuses_unsigned(s3_endpoint) -> None:
    import boto3

    bucket = f"vb-{uuid.uuid4().hex[:12]}"
    credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    boto3.client(
        "s3", endpoint_url=s3_endpoint, region_name="us-east-1", **credentials
    ).create_bucket(Bucket=bucket)
    # The settings pick django-storages' S3 backend from the environment, in a fresh process.
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "viewbait.settings",
        "AWS_STORAGE_BUCKET_NAME": bucket,
        "AWS_S3_ENDPOINT_URL": s3_endpoint,
        "AWS_S3_REGION_NAME": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "MEDIA_URL_MAX_AGE": "600",
        "SECRET_KEY": "s3-test-" + uuid.uuid4().hex,  # not the repository key (viewbait.apps)
    }
    script = (
        "import uuid; from viewbait.startup import setup; setup()  # as a process of ours starts\n"
        "from django.conf import settings\n"
        "from django.core.files.base import ContentFile\n"
        "from django.core.files.storage import default_storage, storages\n"
        "from studio.media import media_url\n"
        "assert not settings.SERVE_MEDIA\n"
        "name = default_storage.save(f'faces/{uuid.uuid4().hex}.jpg', ContentFile(b'face-bytes'))\n"
        "print(type(storages['default']).__module__, name, media_url(name))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    module, name, url = result.stdout.split()
    assert module == "storages.backends.s3"
    assert url.startswith(f"{s3_endpoint}/{bucket}/{name}?")
    assert fetch(url) == (200, b"face-bytes")  # the presigned URL works
    assert fetch(f"{s3_endpoint}/{bucket}/{name}")[0] == 403  # the bare object does not
    assert "Expires=" in url or "X-Amz-Expires=600" in url


def test_media_url_of_an_empty_field_is_none() -> None:
    assert media_url(None) is None and media_url("") is None
    assert media_url(Thumbnail().image) is None


def test_behind_nginx_the_view_checks_and_nginx_sends(owner, anon_client, settings) -> None:
    settings.MEDIA_ACCEL_REDIRECT = "/protected-media/"
    thumbnail = store_thumbnail(owner)
    response = anon_client.get(media_url(thumbnail.image))
    assert response.status_code == 200 and response.content == b""
    assert response["X-Accel-Redirect"] == f"/protected-media/{thumbnail.image.name}"
    assert response["Cache-Control"].startswith("private, max-age=")
    assert anon_client.get(f"/media/{thumbnail.image.name}").status_code == 404
