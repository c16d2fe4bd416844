"""The operators' admin names the product: its header and tab said "Django administration" and
"Django site admin", which told an operator nothing about which deployment they were in."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_the_admin_is_headed_and_titled_viewbait(staff: Any) -> None:
    client = Client()
    client.force_login(staff)
    for path in ("/admin/", "/admin/generation/job/"):
        html = client.get(path).content.decode()
        assert "Django" not in re.sub(r"<(script|link)[^>]*>", "", html), path
        assert re.search(r'<div id="site-name"><a href="/admin/">ViewBait operations</a>', html)
        assert re.search(r"<title>[^<]*\| ViewBait operations</title>", html), path
    login = Client().get("/admin/login/").content.decode()
    assert "ViewBait operations" in login and "Django" not in login
