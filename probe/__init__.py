"""agentcore-probe: does this AgentCore Gateway really work end to end over MCP, and if not, why?

The public Python API is small on purpose::

    import asyncio
    from probe import Probe, Target, run_probe

    result = asyncio.run(run_probe(Probe(Target("https://ID.gateway.bedrock-agentcore.REGION.amazonaws.com/mcp"))))
    print(result.outcome, result.exit_code)

Names are imported lazily, so `import probe` (and the command line's `--help`) stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Outcome", "Probe", "RunResult", "Target", "run_many", "run_probe"]

if TYPE_CHECKING:
    from probe.engine import run_many, run_probe
    from probe.outcome import Outcome, RunResult
    from probe.spec import Probe, Target

_WHERE = {"Probe": "probe.spec", "Target": "probe.spec", "run_probe": "probe.engine", "run_many": "probe.engine",
          "RunResult": "probe.outcome", "Outcome": "probe.outcome"}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'probe' has no attribute {name!r}")
