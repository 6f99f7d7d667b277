"""The one colour rule, and the palette every text reporter and the demo paint with.

Colour is for a person at a terminal: never in a pipe, a file, a CI log or a dumb
terminal, never when `NO_COLOR` is set to a non-empty value (no-color.org), and never
with `--no-color`.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

RESET = "\033[0m"
CODES = {
    "bold": "\033[1m",
    "dim": "\033[2m",
    "red": "\033[31m",
    "green": "\033[32m",
    "yellow": "\033[33m",
    "cyan": "\033[36m",
}


def use_color(stream: TextIO | None = None, *, no_color: bool = False) -> bool:
    if no_color or os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    stream = stream or sys.stdout
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or unusual stream is not a terminal
        return False


class Paint:
    """`paint("red", text)`: styled when colour is on, the text unchanged when off."""

    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, style: str, text: str) -> str:
        if not self.color:
            return text
        return "".join(CODES[s] for s in style.split("+")) + text + RESET
