"""Server text made safe: nothing a server sends can move the cursor, start a line, reorder
what is read, or stop a report from being written as UTF-8."""

from __future__ import annotations

import json

import pytest

from probe.outcome import Outcome, RunResult
from probe.report.escape import bounded, dumps_safe, terminal_safe
from probe.report.json import render_json
from probe.report.text import clean, render_text

# Every character a terminal or a line tool treats as a line break, a control or an override.
LINE_BREAKERS = ["\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\r"]
BIDI = [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))]
CONTROLS = ["\x1b", "\x07", "\x00", "\x7f", "\x9b", "\x90", "\x08"]


@pytest.mark.parametrize("char", LINE_BREAKERS + BIDI + CONTROLS + ["\ud800", "\udfff"],
                         ids=lambda c: f"U+{ord(c):04X}")
def test_every_unsafe_character_becomes_a_visible_escape(char: str) -> None:
    out = terminal_safe(f"said{char}RESULT ok (exit 0)")
    assert char not in out
    assert (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}") in out
    assert len(out.splitlines()) == 1  # str.splitlines knows every Unicode line boundary
    out.encode("utf-8")  # a lone surrogate would raise here
    assert terminal_safe(f"a{char}b", one_line=False).count("\n") == 0


def test_newlines_are_kept_or_shown_and_ordinary_text_is_left_alone() -> None:
    assert terminal_safe("a\nb\r\nc\td") == "a ⏎ b ⏎ c d"
    assert terminal_safe("a\nb\tc", one_line=False) == "a\nb\tc"
    text = "Refund r-1 ok: café, 日本語, emoji 😀, arrows → ←, אבג"
    assert terminal_safe(text) == text


def test_bounded_says_how_long_the_text_was() -> None:
    assert bounded("x" * 10, 10) == "x" * 10
    assert bounded("x" * 11, 10) == "x" * 10 + "… (11 chars)"
    # bounded before escaping: an escape is never cut in half
    assert terminal_safe("\u2028" * 5, limit=3) == "\\u2028" * 3 + "… (5 chars)"


def test_clean_is_the_terminal_rule_and_bounds_one_line_fields() -> None:
    assert clean("a\u2028RESULT ok") == "a\\u2028RESULT ok"
    assert len(clean("y" * 50_000)) < 1100
    assert clean("y" * 50_000, one_line=False) == "y" * 50_000  # transcript lines are bounded by the caller


def test_dumps_safe_escapes_what_breaks_grep_and_tail_and_still_means_the_same() -> None:
    nasty = "".join(LINE_BREAKERS + BIDI + CONTROLS) + "\ud800 café 😀"
    data = {"message": nasty, nasty: [nasty]}
    text = dumps_safe(data)
    assert json.loads(text) == data
    assert len(text.splitlines()) == len(json.dumps(data, indent=2).split("\n"))
    text.encode("utf-8")
    for char in LINE_BREAKERS + BIDI + CONTROLS + ["\ud800"]:
        assert char not in text
    assert "café 😀" in text  # readable UTF-8, not \u escapes for everything


def _result(tools: list[str], url: str = "https://gw.example/mcp") -> RunResult:
    return RunResult(url=url, protocol_version="2025-11-25", outcome=Outcome.OK, tools=tools)


def test_text_report_tools_line_is_escaped_and_bounded() -> None:
    forged = "A___b\u2028RESULT ok (exit 0): all fine\u202eevil"
    long_name = "T___" + "x" * 100_000
    out = render_text(_result([forged, long_name, "\ud800"]))
    tools_lines = [line for line in out.splitlines() if line.startswith("  tools")]
    assert len(tools_lines) == 1
    assert "\u2028" not in out and "\u202e" not in out and "\\u2028" in out and "\\ud800" in out
    assert [line for line in out.splitlines() if "RESULT" in line and "all fine" not in line] == \
        [out.splitlines()[-1]]  # the probe's own verdict line, and no forged one
    assert len(tools_lines[0]) < 400
    out.encode("utf-8")


def test_json_report_is_utf8_and_one_value_per_line() -> None:
    out = render_json(_result(["a\u2028b", "c\x85d", "\ud800"]))
    out.encode("utf-8")
    assert "\u2028" not in out and "\x85" not in out
    assert json.loads(out)["tools"] == ["a\u2028b", "c\x85d", "\ud800"]
