"""Studio gallery cards: the work and time of one 20-card page (issue 10 item 4).

Prints, for the `gallery-page` partial with 20 cards: URL reversals and storage `url()` calls
per page, template render time per page (wall and this process's CPU time, which a busy
machine disturbs less) (the card precompute included when the code has it)
and the whole `GET /studio/gallery` request. Run it on two checkouts for before/after (it needs
nothing newer than the code it measures). Uses a throwaway test database.

    .venv/bin/python benchmarks/studio_cards.py [--cards 20] [--rounds 300]
"""

from __future__ import annotations

import argparse
import time
from unittest import mock

from _django import database_label, django_test_db, percentiles


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cards", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    with django_test_db():
        from django.contrib.auth import get_user_model
        from django.core.files.base import ContentFile
        from django.core.files.storage import default_storage
        from django.template.loader import render_to_string
        from django.test import Client, RequestFactory
        from django.urls.resolvers import URLResolver

        from studio.gallery import DEFAULT_PAGE_SIZE, GalleryFilter, gallery_queryset, page_of
        from studio.models import Project, Thumbnail

        try:
            from studio.cards import prepare_cards
        except ImportError:  # before the precompute

            def prepare_cards(user, thumbnails):  # type: ignore[no-redef]
                return thumbnails

        user = get_user_model().objects.create_user(
            username="bench@example.com", email="bench@example.com", password="x"
        )
        Project.objects.create(owner=user, name="One")
        Project.objects.create(owner=user, name="Two")
        names = {
            field: default_storage.save(f"bench/card.{ext}", ContentFile(b"x"))
            for field, ext in (
                ("image", "png"),
                ("image_small", "webp"),
                ("image_medium", "webp"),
                ("download", "jpg"),
            )
        }
        Thumbnail.objects.bulk_create(
            Thumbnail(
                owner=user,
                title=f"Card {i}",
                aspect_ratio="16:9",
                resolution="1K",
                width=1376,
                height=768,
                **names,
            )
            for i in range(args.cards)
        )
        request = RequestFactory().get("/studio/gallery")
        request.user = user
        filters = GalleryFilter()
        projects = list(Project.objects.for_owner(user))

        def render() -> str:
            page = page_of(gallery_queryset(user, filters), None, DEFAULT_PAGE_SIZE, filters)
            prepare_cards(user, page.items)
            return render_to_string(
                "studio/studio.html#gallery-page",
                {"page": page, "filters": filters, "cursor": "", "projects": projects},
                request=request,
            )

        storage_type = type(default_storage._wrapped if default_storage._wrapped else None)
        html = render()
        with (
            mock.patch.object(
                URLResolver,
                "_reverse_with_prefix",
                autospec=True,
                side_effect=URLResolver._reverse_with_prefix,
            ) as reversals,
            mock.patch.object(
                storage_type, "url", autospec=True, side_effect=storage_type.url
            ) as storage_urls,
        ):
            render()
        cards = html.count('<article class="thumb"')
        print(
            f"database {database_label()}, {cards} cards per page, storage {storage_type.__name__}"
        )
        print(
            f"per page: {reversals.call_count} URL reversals, "
            f"{storage_urls.call_count} storage url() calls"
        )
        for _ in range(20):
            render()
        samples, cpu = [], []
        for _ in range(args.rounds):
            started, cpu_started = time.perf_counter(), time.process_time()
            render()
            cpu.append((time.process_time() - cpu_started) * 1000)
            samples.append((time.perf_counter() - started) * 1000)
        print(f"render gallery-page partial (query + cards + template): {percentiles(samples)}")
        print(f"  the same, CPU time of this process: {percentiles(cpu)}")

        client = Client()
        client.force_login(user)
        for _ in range(20):
            client.get("/studio/gallery?order=newest", HTTP_HX_REQUEST="true")
        samples = []
        for _ in range(args.rounds):
            started = time.perf_counter()
            response = client.get("/studio/gallery?order=newest", HTTP_HX_REQUEST="true")
            samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
        print(f"GET /studio/gallery (whole request, test client): {percentiles(samples)}")


if __name__ == "__main__":
    main()
