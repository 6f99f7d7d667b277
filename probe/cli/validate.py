"""`agentcore-probe validate FILE... [--env]`: check scenario files without running anything.

One line per problem, `FILE:LINE: what is wrong and what is expected`, on stderr; exit 0
when every file is valid, 2 when not. An unset `${VAR}` is a problem only with `--env`
(a file is usually validated where its variables are not set: in review, in CI).
"""

from __future__ import annotations

import argparse
import os
import sys


def main(ns: argparse.Namespace) -> int:
    from probe.scenario import validate

    problems = validate(list(ns.files), dict(os.environ), require_env=bool(ns.env))
    for problem in problems:
        sys.stderr.write(f"{_one_line(str(problem))}\n")
    if problems:
        sys.stderr.write(f"agentcore-probe: {len(problems)} problem(s) in {len(ns.files)} file(s)\n")
        return 2
    sys.stdout.write(f"{len(ns.files)} scenario file(s) valid\n")
    return 0


def _one_line(text: str) -> str:
    return " ".join(text.split())
