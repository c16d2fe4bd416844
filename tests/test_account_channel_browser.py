"""The Account page's YouTube channel section in Chromium: removing the channel kept from Pro
asks first, and the line saying what happened takes the focus from the button that went."""

from __future__ import annotations

from typing import Any

import pytest

from studio.models import YouTubeChannel
from tests.browser import signed_in
from tests.conftest import make_user, set_plan

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_removing_a_kept_channel_asks_and_keeps_the_focus_in_the_section(
    live_server: Any,
) -> None:
    owner = make_user("kept-channel@example.com")
    set_plan(owner, "starter")
    YouTubeChannel.objects.create(user=owner, reference="@keptchannel")
    with signed_in(live_server, owner, {"width": 390, "height": 844}) as page:
        asked: list[str] = []
        page.on("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
        page.goto(f"{live_server.url}/accounts/email/")
        page.locator("#youtube-channel button", has_text="Remove channel").click()
        page.locator("#youtube-channel p.current", has_text="No channel set.").wait_for()
        page.wait_for_function(
            "() => document.activeElement.matches('#youtube-channel p.current')", timeout=2000
        )
    assert asked == ["Remove the channel @keptchannel? Setting one again needs the Pro plan."]
    assert not YouTubeChannel.objects.filter(user=owner).exists()
