"""Without the [lab] extras, `demo` and `lab` say what to install in one line, never a traceback.

A module is made "missing" the way Python itself reports one: `sys.modules[name] = None`
makes every later `import name` raise ModuleNotFoundError.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from probe.lab import INSTALL_HINT, LAB_MODULES, LabExtrasMissing, require_lab_extras

REPO = Path(__file__).resolve().parents[2]


def test_every_extra_is_there_in_a_test_environment() -> None:
    require_lab_extras()


@pytest.mark.parametrize("module", LAB_MODULES)
def test_a_missing_extra_is_named_with_the_fix(monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(LabExtrasMissing) as exc:
        require_lab_extras()
    assert str(exc.value) == f"the lab needs its extras ({module} is missing): {INSTALL_HINT}"


def test_a_broken_extra_is_named_too(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    real = importlib.import_module

    def broken(name: str, package: str | None = None):  # an installed wheel whose shared library is gone
        if name == "cedarpy":
            raise ImportError("libcedar.so: cannot open shared object file")
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", broken)
    with pytest.raises(LabExtrasMissing, match=r"cedarpy cannot be imported: libcedar.so: .*pip install"):
        require_lab_extras()


def _cli_without(module: str, command: str) -> subprocess.CompletedProcess[str]:
    code = (f"import sys; sys.modules[{module!r}] = None\n"
            f"from probe.cli import main\nraise SystemExit(main([{command!r}]))")
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "NO_COLOR": "1"}, check=False)


@pytest.mark.parametrize(("command", "module"), [("demo", "uvicorn"), ("lab", "cedarpy"), ("demo", "moto.iam")])
def test_demo_and_lab_without_extras_say_what_to_install(command: str, module: str) -> None:
    proc = _cli_without(module, command)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr == f"agentcore-probe: error: the lab needs its extras ({module} is missing): {INSTALL_HINT}\n"
    assert "Traceback" not in proc.stdout + proc.stderr
