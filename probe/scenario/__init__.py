"""Scenario files: the post-deploy smoke test written once, run from the CLI, pytest and CI.

    from probe import scenario
    loaded = scenario.load(["smoke-test.yaml"], env=os.environ)   # ScenarioError: one line per problem
    results = asyncio.run(scenario.run(loaded.probes))          # run_many + the control-plane checks

`load(paths, env=..., overrides=...) -> Scenario` (`.probes`, `.gateways`, `.lab`, `.files`,
`.where(probe)`); `validate(paths, env, require_env=...) -> [Problem]`; `run(probes, ...)`.
"""

from __future__ import annotations

from probe.scenario.load import (
    Problem,
    Scenario,
    ScenarioError,
    ScenarioFile,
    is_scenario_document,
    load,
    validate,
)
from probe.scenario.run import run

__all__ = ["Problem", "Scenario", "ScenarioError", "ScenarioFile", "is_scenario_document", "load", "run",
           "validate"]
