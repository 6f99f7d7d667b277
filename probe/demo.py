"""`agentcore-probe demo`: the policy-permissions incident, told by the probe against the lab.

Each chapter changes the lab the way an operator (or the AWS console) would, runs the
same code paths as `agentcore-probe run` and `iam fix`, prints the command, the outcome
and its evidence, and checks that the outcome is the one the story needs. The demo exits
0 only when every chapter showed what it should: CI runs it as a test of the whole tool.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from probe.outcome import Outcome, RunResult
from probe.report.style import Paint, use_color
from probe.spec import Call, Probe, Target

PERMIT = """permit(principal,
       action == AgentCore::Action::"RefundTarget___process_refund",
       resource == AgentCore::Gateway::"{arn}")
when {{ context.input.amount.lessThan(decimal("500.0")) }};"""


@dataclass
class Chapter:
    title: str
    story: str
    expected: str
    got: str = ""

    @property
    def passed(self) -> bool:
        return self.got == self.expected


class Teller:
    """Prints the story; colour only on a terminal."""

    def __init__(self, color: bool, out: Any = None) -> None:
        self.color = color
        self.paint = Paint(color)
        self.out = out or sys.stdout

    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def chapter(self, n: int, ch: Chapter) -> None:
        self.say()
        self.say(self.paint("bold", f"{n}. {ch.title}"))
        for line in ch.story.splitlines():
            self.say(self.paint("dim", f"   {line}"))

    def command(self, argv: list[str]) -> None:
        self.say("   " + self.paint("cyan", "$ agentcore-probe " + " ".join(shlex.quote(a) for a in argv)))

    def evidence(self, text: str) -> None:
        for line in text.rstrip("\n").splitlines():
            self.say(f"   | {line}")

    def verdict(self, ch: Chapter) -> None:
        mark = self.paint("green", "as expected") if ch.passed else self.paint("red", f"EXPECTED {ch.expected}")
        self.say(f"   => {self.paint('bold', ch.got)}  ({mark})")


def probe_run(probe: Probe) -> RunResult:
    """Exactly what `agentcore-probe run ...` does, minus printing: the engine's one entry point."""
    import asyncio

    from probe.engine import run_probe

    return asyncio.run(run_probe(probe))


def condensed(result: RunResult) -> str:
    """The text report without the long IAM appendix: the evidence a reader needs here."""
    from probe.report.text import render_text

    iam = result.iam
    text = render_text(dataclasses.replace(result, diagnoses=[d for d in result.diagnoses if d.kind != "iam_check"]),
                       color=False)
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("agentcore-probe ")]
    if iam is not None:
        lines.insert(-1, f"  IAM check ({iam.get('method')}): verdict {iam.get('verdict')}")
        for m in iam.get("missing") or []:
            lines.insert(-1, f"    missing {m['action']} on {m['resource']} ({m['reason']})")
    return "\n".join(lines)


def main(ns: argparse.Namespace) -> int:
    return run_demo(Teller(use_color(sys.stdout, no_color=getattr(ns, "no_color", False))))


def run_demo(t: Teller) -> int:
    """Tell the story; 0 when every chapter showed what it should, 1 when not, 2 when the lab cannot start.

    The caller's AWS profile and files are set aside before the lab starts (moto runs in
    this process and reads them), and the probe's boto3 calls are pointed at the lab.
    """
    from probe.lab import LabExtrasMissing, require_lab_extras

    try:
        require_lab_extras()
    except LabExtrasMissing as exc:
        return _fail(str(exc))
    from botocore.exceptions import BotoCoreError

    from probe.lab.aws_session import lab_process_environment
    from probe.lab.server import Lab, LabError

    t0 = time.perf_counter()
    t.say(t.paint("bold", "agentcore-probe demo: the policy-permissions incident, on an emulated AgentCore"))
    t.say("Starting the lab on 127.0.0.1 (control plane, gateways, OAuth issuer, IAM through moto)...")
    chapters: list[Chapter] = []
    try:
        with lab_process_environment() as put, Lab() as lab:
            put(lab.env())
            t.say(f"  control plane {lab.control_url}   gateways {lab.gateway_base_url}   IAM {lab.iam_url}")
            try:
                for chapter in _story(lab, t):
                    chapters.append(chapter)
            except Exception as exc:  # the lab or the probe broke: say so in one line, fail the demo
                t.say(t.paint("red", f"demo error: {type(exc).__name__}: {_one_line(exc)[:300]}"))
                return 1
    except (LabError, BotoCoreError) as exc:
        return _fail(f"the lab could not start: {_one_line(exc)}")
    failed = [c for c in chapters if not c.passed]
    t.say()
    if failed:
        t.say(t.paint("red+bold", f"demo FAILED: {len(failed)} of {len(chapters)} chapters did not show "
                                  f"what they should: " + ", ".join(c.title for c in failed)))
        return 1
    t.say(t.paint("green+bold", f"demo passed: {len(chapters)} chapters, {time.perf_counter() - t0:.1f} s."))
    t.say("Point the probe at a real gateway: agentcore-probe run https://ID.gateway.bedrock-agentcore.REGION"
          ".amazonaws.com/mcp --bearer-token-env TOKEN (see README).")
    return 0


def _fail(message: str) -> int:
    sys.stderr.write(f"agentcore-probe: error: {_one_line(message)}\n")
    return 2


def _one_line(value: object) -> str:
    return " ".join(str(value).split())


def _story(lab: Any, t: Teller) -> Iterator[Chapter]:
    from probe.cli.run import command_for

    console = lab.console
    gw = console.create_gateway("refunds")
    target = Target(url=lab.gateway_url(gw.gateway_id), gateway_id=gw.gateway_id, region=lab.region)
    listing = Probe(target)
    small = Probe(target, Call("RefundTarget___process_refund", {"order_id": "o-17", "amount": 120}))
    large = Probe(target, Call("RefundTarget___process_refund", {"order_id": "o-18", "amount": 900}))

    def run(p: Probe) -> RunResult:
        t.command(command_for(p))
        result = probe_run(p)
        t.evidence(condensed(result))
        return result

    def probe(n: int, ch: Chapter, p: Probe, before: Callable[[], None] | None = None) -> Chapter:
        t.chapter(n, ch)
        if before:
            before()
        ch.got = run(p).outcome.value
        t.verdict(ch)
        return ch

    yield probe(1, Chapter(
        "A gateway without a policy engine works",
        "The console made gateway 'refunds' with an execution role that may only GetGateway.\n"
        "The probe lists its tools and calls one.",
        Outcome.OK.value), small)

    engine = console.create_policy_engine("refund_policies")

    yield probe(2, Chapter(
        "A policy engine is attached from the Policy side of the console",
        "That path updates the gateway but not its role. Every tools/list now answers HTTP 200\n"
        "with 'Policy evaluation failed': it looks like a denial, but the role lacks IAM permissions.\n"
        "The probe classifies it and asks IAM which permissions are missing.",
        Outcome.POLICY_INTERNAL_FAILURE.value),
        listing, before=lambda: console.attach_engine_from_policy_side(gw.gateway_id, engine.engine_id, "ENFORCE"))

    # 3: the fix, then a probe
    ch = Chapter(
        "iam fix --apply writes the least-privilege inline policy",
        "Exactly the five (action, resource) pairs, no wildcard. Then the gateway can evaluate\n"
        "policies, and with no policy yet, default deny hides every tool.",
        Outcome.EMPTY_TOOLS.value)
    t.chapter(3, ch)
    t.command(["iam", "fix", "--gateway-id", gw.gateway_id, "--region", lab.region, "--apply"])
    from probe.iam.fix import fix_gateway

    fix = fix_gateway(gateway_id=gw.gateway_id, region=lab.region, apply=True, settle_delays=())
    fixed = fix.to_dict()
    after = (fixed.get("after") or {}).get("verdict")
    t.evidence(f"wrote inline policy {fixed.get('policy_name')} to {fix.before.role_arn}: "
               f"{fixed.get('action')}, check afterwards: {after}")
    for st in (fix.policy or {}).get("Statement", []):
        t.evidence(f"  {st.get('Sid')}: {', '.join(st['Action'])} on {', '.join(st['Resource'])}")
    result = run(listing)
    ch.got = result.outcome.value if after == "ok" else f"fix {fixed.get('action')}, check {after}"
    t.verdict(ch)
    yield ch

    yield probe(4, Chapter(
        "A permit policy lets small refunds through",
        "permit process_refund when context.input.amount.lessThan(decimal(\"500.0\")) (a JSON Schema number\n"
        "is a Cedar decimal). The tool is listed again,\n"
        "and a refund of 120 goes through.",
        Outcome.OK.value), small,
        before=lambda: console.add_policy(engine.engine_id, "small_refunds", PERMIT.format(arn=gw.arn)))

    yield probe(5, Chapter(
        "A call outside the policy is denied, and the probe says so",
        "A refund of 900 matches no permit: default deny. This is a real policy denial (exit 20),\n"
        "not an IAM fault (exit 21).",
        Outcome.POLICY_DENIED.value), large)

    yield probe(6, Chapter(
        "LOG_ONLY mode decides but does not enforce",
        "Switched to LOG_ONLY, the same refund of 900 goes through; the decision is only logged.",
        Outcome.OK.value), large,
        before=lambda: console.set_mode(gw.gateway_id, "LOG_ONLY"))
