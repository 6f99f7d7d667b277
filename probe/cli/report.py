"""`agentcore-probe report BUNDLE --html OUT.html`: a support bundle as one self-contained page."""

from __future__ import annotations

import argparse
import sys


def main(ns: argparse.Namespace) -> int:
    from pathlib import Path

    from probe.bundle.read import is_bundle, load_bundle
    from probe.cli.replay import load_report
    from probe.report.escape import terminal_safe
    from probe.report.html import render_html

    try:
        if not is_bundle(ns.bundle):
            raise ValueError(f"{ns.bundle}: not a bundle directory or zip")
        load_report(ns.bundle)  # the same reading as `replay`: a report it refuses is refused here too
        page = render_html(load_bundle(ns.bundle))
    except (ValueError, OSError) as exc:
        sys.stderr.write(f"agentcore-probe: error: {terminal_safe(' '.join(str(exc).split()))[:400]}\n")
        return 2
    except Exception as exc:  # a bundle from anywhere: whatever shape it has, one line, never a traceback
        shown = terminal_safe(f"{type(exc).__name__}: {exc}")[:300]
        sys.stderr.write(f"agentcore-probe: error: {terminal_safe(ns.bundle)}: not a bundle this probe can show "
                         f"({shown})\n")
        return 2
    try:
        Path(ns.html).write_text(page, encoding="utf-8")
    except OSError as exc:
        sys.stderr.write(f"agentcore-probe: error: cannot write {ns.html}: {exc.strerror or type(exc).__name__}\n")
        return 2
    sys.stderr.write(f"agentcore-probe: report written to {ns.html}\n")
    return 0
