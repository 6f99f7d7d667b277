"""Read a support bundle back, from its directory or its zip: offline, bounded, never trusting it.

A bundle arrives from someone else's machine; its zip may hold anything (absolute paths,
`..`, huge members). Only the bundle's own file names are read, each bounded in size;
nothing is ever extracted to disk.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from pathlib import Path
from typing import Any

MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_TOTAL_BYTES = 128 * 1024 * 1024  # every file together: a zip bomb of many members stops here
KNOWN = ("bundle.json", "report.json", "outcome.json", "control_plane.json", "iam.json", "telemetry.json",
         "ids.json", "timeline.json", "environment.json", "unavailable.json", "SUMMARY.md")


def is_bundle(source: str) -> bool:
    """A directory holding report.json, or a zip file: what `replay` and `report` take as a bundle."""
    path = Path(source)
    if path.is_dir():
        return True
    return path.is_file() and zipfile.is_zipfile(path)


def read_texts(source: str) -> dict[str, str]:
    """The bundle's known files as text (absent files are absent); ValueError with one line if not a bundle."""
    path = Path(source)
    texts: dict[str, str] = {}
    total = 0

    def budget(size: int, name: str) -> None:
        nonlocal total
        total += size
        if size > MAX_FILE_BYTES or total > MAX_TOTAL_BYTES:
            raise ValueError(f"{source}: {name} makes the bundle larger than this probe reads "
                             f"({MAX_FILE_BYTES} bytes a file, {MAX_TOTAL_BYTES} in all)")

    if path.is_dir():
        for name in KNOWN:
            f = path / name
            if f.is_file():
                budget(f.stat().st_size, name)
                texts[name] = f.read_text(encoding="utf-8", errors="replace")
    else:
        try:
            with zipfile.ZipFile(path) as z:
                for info in z.infolist():
                    name = info.filename.rsplit("/", 1)[-1]
                    depth = info.filename.count("/")
                    if name not in KNOWN or depth > 1 or name in texts or info.is_dir():
                        continue
                    budget(info.file_size, name)
                    with z.open(info) as member:
                        texts[name] = member.read(MAX_FILE_BYTES + 1).decode("utf-8", errors="replace")
        except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, zlib.error, EOFError,
                OSError) as exc:
            raise ValueError(f"{source}: not a readable zip ({exc})") from None
    if "report.json" not in texts:
        raise ValueError(f"{source}: not an agentcore-probe bundle (no report.json)")
    return texts


def load_bundle(source: str) -> dict[str, Any]:
    """Every JSON file of the bundle parsed (a file that does not parse is None), SUMMARY.md as text."""
    out: dict[str, Any] = {}
    for name, text in read_texts(source).items():
        if name.endswith(".json"):
            try:
                out[name] = json.loads(text)
            except (ValueError, RecursionError):
                out[name] = None
        else:
            out[name] = text
    return out
