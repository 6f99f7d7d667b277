"""How server-sent text is made safe to print: one rule for the terminal, one for JSON.

A server controls most of what a report shows (messages, tool names, bodies). Printed
raw, that text can move the cursor, clear the screen, set the window title, start a new
line that looks like the probe's own `RESULT ok`, or reorder what the eye reads (bidi
overrides). Written to a JSON report, a lone surrogate makes the whole report fail to
encode, and a C1 control or a U+2028 breaks the `grep`/`tail` an operator runs on it.
Everything that could do any of that is shown as a visible escape instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

# Characters a terminal or a line-oriented tool treats as something other than text:
# C0 controls (newline and tab handled by the caller's choice), DEL, C1 controls (U+0085
# NEL among them), the Unicode line and paragraph separators, the bidi embeddings,
# overrides and isolates (they reorder what is displayed, so one line can pass for
# another) and the bidi marks, and lone surrogates (not text at all: they cannot be
# encoded as UTF-8).
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_UNSAFE_MULTI_LINE = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029{_BIDI}\ud800-\udfff]")
_UNSAFE_IN_JSON = re.compile(f"[\x7f-\x9f\u2028\u2029{_BIDI}\ud800-\udfff]")

ONE_LINE_LIMIT = 1000  # characters of server text on one report line; the transcript shows the rest


def _escape(m: re.Match[str]) -> str:
    cp = ord(m.group())
    return f"\\x{cp:02x}" if cp < 0x100 else f"\\u{cp:04x}"


def bounded(text: str, limit: int) -> str:
    """At most `limit` characters of `text`, saying how long it was when it was cut."""
    if limit <= 0 or len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text)} chars)"


def terminal_safe(text: object, one_line: bool = True, *, limit: int | None = None) -> str:
    """`text` as a terminal may show it: every control, separator and override visible as an escape.

    `one_line` is for report fields: a newline becomes ` ⏎ ` and a tab a space, so a server
    can never start a line of its own. Otherwise (a transcript's body lines) newlines and
    tabs stay and everything else is escaped the same way. `limit` bounds the raw text
    before escaping (an escape is never cut in half).
    """
    s = str(text)
    if limit is not None:
        s = bounded(s, limit)
    if one_line:
        s = s.replace("\r\n", "\n").replace("\n", " ⏎ ").replace("\t", " ")
    return _UNSAFE_MULTI_LINE.sub(_escape, s)


def _json_escape(m: re.Match[str]) -> str:
    return f"\\u{ord(m.group()):04x}"


def dumps_safe(obj: Any, *, indent: int | None = 2, default: Callable[[Any], Any] | None = None) -> str:
    """`json.dumps` for reports: readable UTF-8, but no character that breaks a terminal or a line tool.

    Non-ASCII text stays readable; C0 controls are escaped by `json.dumps` itself, and DEL,
    C1 controls, U+2028/U+2029, bidi controls and lone surrogates are escaped here. They
    can only occur inside JSON strings, where `\\uXXXX` means the same character, so the
    document still decodes to the same data, and the result always encodes as UTF-8.
    """
    text = json.dumps(obj, indent=indent, ensure_ascii=False, default=default)
    return _UNSAFE_IN_JSON.sub(_json_escape, text)
