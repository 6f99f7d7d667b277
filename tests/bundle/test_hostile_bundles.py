"""Bundles written into a hostile directory and bundles read from anywhere (a second review's findings)."""

from __future__ import annotations

import zipfile

import pytest

from probe.cli import main
from tests.hostile import servers as hostile

OK = b'{"jsonrpc": "2.0", "id": 1, "error": {"code": -32601, "message": "nope"}}'


def test_a_link_planted_in_the_bundle_directory_is_replaced_not_followed(tmp_path, capsys) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("ORIGINAL")
    case = tmp_path / "case"
    case.mkdir()
    (case / "bundle.json").write_text("{}")  # looks like an earlier bundle, so it may be overwritten
    (case / "SUMMARY.md").symlink_to(victim)
    with hostile.serve(hostile.fixed("200 OK", "application/json", OK)) as url:
        main(["run", url, "--no-iam", "--retries", "0", "--bundle", str(case)])
    capsys.readouterr()
    assert victim.read_text() == "ORIGINAL"
    assert not (case / "SUMMARY.md").is_symlink() and "support bundle" in (case / "SUMMARY.md").read_text()


def test_a_directory_holding_other_files_is_refused(tmp_path, capsys) -> None:
    case = tmp_path / "case"
    case.mkdir()
    (case / "mine.txt").write_text("keep me")
    with hostile.serve(hostile.fixed("200 OK", "application/json", OK)) as url:
        code = main(["run", url, "--no-iam", "--retries", "0", "--bundle", str(case)])
    err = capsys.readouterr().err
    assert code == 2 and "holds other files" in err
    assert sorted(p.name for p in case.iterdir()) == ["mine.txt"]


def _corrupt_zip(path) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("b/report.json", '{"outcome": "ok", "url": "x"}' * 500)
    data = bytearray(path.read_bytes())
    i = data.find(b"b/report.json") + 40
    for k in range(i, i + 40):
        data[k] ^= 0x5A
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("content", [None, "[1,2,3]", "{", "{}"])
def test_a_crafted_bundle_is_one_line_and_exit_2(tmp_path, capsys, content) -> None:
    z = tmp_path / "b.zip"
    if content is None:
        _corrupt_zip(z)
    else:
        with zipfile.ZipFile(z, "w") as f:
            f.writestr("b/report.json", content)
    for argv in (["replay", str(z)], ["report", str(z), "--html", str(tmp_path / "o.html")]):
        assert main(argv) == 2
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.html").exists()
