"""Argument types for management commands: numbers within bounds, so edge input is a
CommandError naming the bound (argparse's error, which Django's CommandParser raises as one)
instead of a traceback from the database or datetime arithmetic."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def bounded(kind: type[int] | type[float], low: float, high: float) -> Callable[[str], float]:
    """An argparse `type=` reading `kind` (int or float) in [low, high]; NaN and infinities
    are refused."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a{'n integer' if kind is int else ' number'}"
            ) from None
        if not math.isfinite(value) or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text} is outside {low:g} to {high:g}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse
