"""Scenario files from a hostile or careless hand: bounded, one line, nothing leaked (a second review's findings)."""

from __future__ import annotations

import json
import time

import pytest

from probe.cli import main
from probe.report.markdown import cell


def _laughs(levels: int, tail: str) -> str:
    lines = ["a0: &a0 [" + ",".join(['"lol"'] * 9) + "]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    return "version: 1\n" + "\n".join(lines) + "\n" + tail.format(last=f"a{levels - 1}")


@pytest.mark.parametrize("tail", [
    "probes:\n  - name: p\n    tools: {{include: *{last}}}\n",
    "gateways:\n  g: {{url: 'http://127.0.0.1:1/mcp', auth: none}}\n"
    "probes:\n  - name: p\n    call: {{tool: T___x, args: {{a: *{last}}}}}\n",
])
def test_an_alias_bomb_is_refused_at_once(tmp_path, capsys, tail) -> None:
    path = tmp_path / "laughs.yaml"
    path.write_text(_laughs(9, tail))
    t0 = time.monotonic()
    assert main(["validate", str(path)]) == 2
    assert time.monotonic() - t0 < 3
    assert "expands to more than 100000 values" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["a\x1b]0;T\x07b", "a\u2028b", "a\u202eb", "p" * 2000])
def test_names_that_would_break_logs_metrics_or_terminals_are_refused(tmp_path, capsys, name) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("version: 1\ngateways:\n  g: {url: 'http://127.0.0.1:1/mcp', auth: none}\n"
                    f"probes:\n  - name: {json.dumps(name)}\n")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "probe name" in err and "\x1b" not in err and "\u202e" not in err and "\u2028" not in err


@pytest.mark.parametrize("url", ["http://${A${B}}/mcp", "http://${}/mcp", "http://${A/mcp"])
def test_a_malformed_placeholder_is_an_error(tmp_path, monkeypatch, capsys, url) -> None:
    monkeypatch.setenv("A", "a")
    monkeypatch.setenv("B", "b")
    path = tmp_path / "s.yaml"
    path.write_text(f"version: 1\ngateways:\n  g: {{url: '{url}', auth: none}}\nprobes:\n  - name: p\n")
    assert main(["validate", "--env", str(path)]) == 2
    assert "malformed ${...}" in capsys.readouterr().err


def test_markdown_cells_neutralise_links_images_and_controls() -> None:
    out = cell("![x](https://evil/p) [c](https://phish) \x1b]0;T\x07 *em*")
    assert "![x](" not in out and "[c](" not in out and "*em*" not in out
    assert "\x1b" not in out and "\x07" not in out
