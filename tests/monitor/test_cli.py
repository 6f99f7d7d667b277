"""The watch and serve commands' usage errors: one line on stderr, exit 2, no traceback."""

from __future__ import annotations

import pytest

from probe.cli import main


@pytest.mark.parametrize(("argv", "needle"), [
    (["watch", "-f", "s.yaml", "--every", "5q"], "--every '5q' is not a duration"),
    (["watch", "-f", "s.yaml", "--every", "60s", "--jitter", "2m"], "jitter '2m' is longer than the interval"),
    (["watch", "-f", "s.yaml", "--every", "60s", "--jitter", "150%"], "between 0% and 100%"),
    (["watch", "-f", "s.yaml", "--grace", "soon"], "--grace 'soon' is not a duration"),
    (["serve", "-f", "s.yaml", "--every", "often"], "--every 'often' is not a duration"),
])
def test_usage_errors_are_one_line(capsys, argv, needle) -> None:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("agentcore-probe: error: ") and needle in err


def test_scenario_file_is_required(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["watch", "--every", "60s"])
    assert info.value.code == 2
    assert "-f/--file" in capsys.readouterr().err


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_serve_refuses_a_port_out_of_range_in_one_line(tmp_path, capsys, port) -> None:
    from probe.cli import main

    path = tmp_path / "s.yaml"
    path.write_text("version: 1\ngateways:\n  g: {url: 'http://127.0.0.1:1/mcp', auth: none}\nprobes:\n  - name: p\n")
    with pytest.raises(SystemExit) as e:
        main(["serve", "-f", str(path), "--every", "0", "--port", port])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and "--port" in err


@pytest.mark.parametrize("command", ["watch", "serve"])
@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_concurrency_must_be_at_least_one(capsys, command, value) -> None:
    from probe.cli import main

    with pytest.raises(SystemExit) as e:
        main([command, "-f", "s.yaml", "--concurrency", value])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and "--concurrency" in err
