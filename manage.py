#!/usr/bin/env python
from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "viewbait.settings")
    import django
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    from viewbait import startup

    # The command-line utility calls django.setup(): with the collector paused (viewbait.startup).
    django.setup = startup.setup

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as refusal:
        # A settings refusal (the repository's SECRET_KEY, a bad flag, a retired model id) is a
        # message for whoever runs the command, not a traceback through Django's start-up.
        sys.stderr.write(f"Error: {refusal}\n")
        sys.exit(1)
