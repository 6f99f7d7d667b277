"""The embedded lab: an emulated AgentCore on loopback (see `probe.lab.server`).

This package's own import is free of the lab's optional dependencies, so that
`agentcore-probe demo` and `agentcore-probe lab` can check them first with
`require_lab_extras()` and answer a missing one with a single line instead of a
traceback from deep inside whichever module happened to import it.
"""

from __future__ import annotations

import importlib

INSTALL_HINT = "pip install 'agentcore-probe[lab]'"

# What the lab imports at run time, from the `lab` extra of pyproject.toml. `moto.server` stands for
# moto's own `server` extra (flask, werkzeug): the lab's IAM is moto's server app.
LAB_MODULES: tuple[str, ...] = ("uvicorn", "starlette", "yaml", "cryptography", "cedarpy", "moto.iam", "moto.server")


class LabExtrasMissing(Exception):
    """The lab's optional dependencies are not installed; the message is one line with the fix."""


def require_lab_extras(modules: tuple[str, ...] = LAB_MODULES) -> None:
    """Import each of the lab's optional dependencies; LabExtrasMissing names the first that fails."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            if isinstance(exc, ModuleNotFoundError):
                missing = exc.name or module
                why = f"{missing} is missing"
            else:  # installed but broken (a bad wheel, a missing shared library)
                why = f"{module} cannot be imported: {' '.join(str(exc).split())[:200]}"
            raise LabExtrasMissing(f"the lab needs its extras ({why}): {INSTALL_HINT}") from None
