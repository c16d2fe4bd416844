"""`manage.py check_youtube [CHANNEL]`: whether YOUTUBE_API_KEY can read a channel, as channel
consistency reads one: `channels.list` then `playlistItems.list` (2 of the key's 10,000 daily
quota units), never from the cache.

CHANNEL is an address, @handle or UC... id (default @YouTube, Google's own channel). Exits
non-zero (CommandError) with YouTube's reason when the key is refused, the quota is spent, the
channel is unknown or YouTube does not answer, and without a key too (it cannot check; exiting
0 there let a monitor that runs it pass while channel consistency was refused to every creator).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.management.base import BaseCommand, CommandError, CommandParser

from generation.providers.base import ProviderError
from studio import youtube


class Command(BaseCommand):
    help = (
        "Read one channel's newest uploads with YOUTUBE_API_KEY, as channel consistency does; "
        "exits non-zero with YouTube's reason if it cannot."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("channel", nargs="?", default="@YouTube")

    def handle(self, *args: Any, **options: Any) -> None:
        if not youtube.is_configured():
            raise CommandError(
                "YOUTUBE_API_KEY is not set, so there is no key to check: channel consistency is "
                "refused (before charging) until it is. Create one in the Google Cloud console "
                "(YouTube Data API v3, an API key) and set YOUTUBE_API_KEY."
            )
        try:
            reference = youtube.parse_channel_reference(options["channel"])
        except youtube.ChannelReferenceInvalid as exc:
            raise CommandError(f"{options['channel']!r}: {exc}") from exc
        cache.delete(youtube.uploads_cache_key(reference))  # ask YouTube, not the cache
        where = settings.YOUTUBE_API_BASE_URL or "Google"
        try:
            uploads = youtube.fetch_uploads(reference)
        except ProviderError as exc:
            raise CommandError(f"{reference} ({where}): {exc.code}: {exc.detail}") from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"{reference} ({where}): {uploads.title!r}, {len(uploads.videos)} recent "
                f"uploads with thumbnails; the key works."
            )
        )
