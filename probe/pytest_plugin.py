"""The pytest plugin (entry point `pytest11`): `pytest smoke-test.yaml` or `pytest scenarios/`.

Each probe of each scenario file is one item (`file.yaml::probe-name`, and
`probe-name[VERSION]` per protocol version of a matrix), so `-k`, `-x`, `--junitxml` and
pytest's reporting work as for any test. YAML files without a top-level `version` and
`probes` are not scenario files and are left alone (lab seeds, CI configs). The selected
probes of a file run together, concurrently, when its first item runs; each item then
reports its own result. A failing item shows the expectation, the outcome, the gateway's
text and the hint, not a traceback. `--probe-lab` runs the files against the embedded lab
(one lab per file, seeded from its `lab:` section).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_TOP_KEY = re.compile(r"^(version|probes)\s*:", re.MULTILINE)
SNIFF_BYTES = 256 * 1024


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("agentcore-probe", "agentcore-probe scenario files")
    group.addoption("--probe-lab", action="store_true", default=False,
                    help="run collected scenario files against the embedded lab (seeded from their lab: section)")


def looks_like_scenario(path: Path) -> bool:
    """A cheap look before parsing: `version:` and `probes:` at the top level."""
    if path.suffix not in (".yaml", ".yml"):
        return False
    try:
        with path.open("rb") as f:
            head = f.read(SNIFF_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return False
    return {m.group(1) for m in _TOP_KEY.finditer(head)} == {"version", "probes"}


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if looks_like_scenario(file_path):
        return ScenarioCollector.from_parent(parent, path=file_path)
    return None


class ScenarioFailed(Exception):
    """An item's expectation was not met (or its probe could not run)."""

    def __init__(self, result: Any) -> None:
        super().__init__(result.name)
        self.result = result


class ScenarioCollector(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        from probe.scenario import ScenarioError, load

        try:
            loaded = load([self.path], os.environ, require_env=False)
        except ScenarioError as exc:
            raise self.CollectError(str(exc)) from None
        for label, line in loaded.files[0].lines.items():
            yield ScenarioItem.from_parent(self, name=label, line=line)

    def results_for(self, item: ScenarioItem) -> Any:
        """Run this file's selected probes once (all together), then hand each item its result."""
        cache: dict[str, Any] | None = getattr(self, "_results", None)
        if cache is None:
            cache = self._results = self._run_selected()
        outcome = cache.get(item.name)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def _run_selected(self) -> dict[str, Any]:
        import asyncio

        from probe.scenario import ScenarioError, load, run

        session_items = getattr(self.session, "items", None) or []
        names = [i.name for i in session_items if isinstance(i, ScenarioItem) and i.parent is self]
        try:
            if self.config.getoption("probe_lab"):
                from probe.scenario.lab import LabStartError, scenario_lab

                first = load([self.path], os.environ, require_env=False)
                try:
                    with scenario_lab(first.lab, str(self.path)) as overrides:
                        loaded = load([self.path], os.environ, overrides=overrides)
                        probes = [p for p in loaded.probes if p.label in names]
                        results = asyncio.run(run(probes))
                except LabStartError as exc:
                    return dict.fromkeys(names, ScenarioSetupError(f"the lab could not start: {exc}"))
            else:
                loaded = load([self.path], os.environ)
                probes = [p for p in loaded.probes if p.label in names]
                results = asyncio.run(run(probes))
        except ScenarioError as exc:
            return dict.fromkeys(names, ScenarioSetupError(str(exc)))
        return {p.label: r for p, r in zip(probes, results, strict=True)}


class ScenarioSetupError(Exception):
    """The file cannot run as it stands (an unset ${VAR}, the lab not starting): one line each."""


class ScenarioItem(pytest.Item):
    def __init__(self, *, line: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.line = line
        self.result: Any = None

    def runtest(self) -> None:
        assert isinstance(self.parent, ScenarioCollector)
        self.result = self.parent.results_for(self)
        if self.result is None:
            raise ScenarioSetupError(f"probe {self.name!r} was not run")
        warned = [c for c in self.result.checks if not c.passed and c.level == "warn"]
        for check in warned:
            self.add_report_section("call", "warnings", f"WARN {check.name}: {check.message}")
        if self.result.exit_code != 0:
            raise ScenarioFailed(self.result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str:
        if isinstance(excinfo.value, ScenarioFailed):
            from probe.report.junit import failure_message
            from probe.report.text import render_text

            result = excinfo.value.result
            return f"{failure_message(result)}\n\n{render_text(result, color=False)}"
        if isinstance(excinfo.value, ScenarioSetupError):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, max(self.line - 1, 0), f"probe {self.name}"
