"""The `conformance` fixture: the pinned MCP conformance suite, installed once per cache (see suite.py)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.conformance.suite import Conformance, install


@pytest.fixture(scope="session")
def conformance() -> Iterator[Conformance]:
    """The installed conformance suite; skips only on a machine without npm."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: the MCP conformance suite needs npm to install it and Node.js 22")
    yield install(npm)
