"""The command line: argument parsing, wiring and exit codes; nothing else.

Each command's module (probe.cli.run, probe.cli.replay, ...) turns argv into specs, calls
the engine and hands the results to a reporter. This module imports only the standard
library at load time so that `--help` and usage errors answer at once: each sub-command's
implementation (httpx2, boto3, the lab) is imported only when that sub-command runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from probe.outcome import EXIT_CODES, Outcome

EPILOG_OUTCOMES = "\n".join(f"  {o.value:<24} {EXIT_CODES[o]:>3}  {o.meaning}" for o in Outcome)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2 (probe_error), like `curl`."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"agentcore-probe: error: {message} (see --help)\n")
        raise SystemExit(EXIT_CODES[Outcome.PROBE_ERROR])


def _add_aws_args(p: argparse.ArgumentParser, *, gateway_required: bool = False) -> None:
    g = p.add_argument_group("AWS")
    g.add_argument("--gateway-id", help="the gateway's id (read from a gateway URL when absent)")
    g.add_argument("--region", help="AWS region (read from a gateway URL when absent)")
    g.add_argument("--profile", help="AWS profile for the standard credential chain")


def _add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="probe a gateway: tools/list, then optionally tools/call",
        description="Probe an MCP endpoint over Streamable HTTP and classify every answer.",
        epilog="outcomes and exit codes:\n" + EPILOG_OUTCOMES
        + "\n\nwith --expect: 0 when the outcome matches, 1 when it does not; 2 for a usage error;"
        " 130 when interrupted.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("url", nargs="?", default=None,
                   help="the gateway's MCP endpoint, e.g. https://ID.gateway.bedrock-agentcore.REGION.amazonaws.com/mcp")
    sc = p.add_argument_group("scenario files (instead of a URL)")
    sc.add_argument("-f", "--file", dest="files", action="extend", nargs="+", metavar="FILE",
                    help="run every probe of these scenario files (see `validate`)")
    sc.add_argument("--only", action="append", metavar="NAME", help="with -f: run only this probe (repeatable)")
    sc.add_argument("--concurrency", type=int, default=None, metavar="N",
                    help="with -f: at most N probes at once (default 20)")
    sc.add_argument("--junit", metavar="PATH", help="with -f: also write a JUnit XML report here")
    sc.add_argument("--lab", action="store_true",
                    help="with -f: run against the embedded lab, seeded from the file's lab: section")
    p.add_argument("--call", metavar="TOOL", help="call this tool after listing (full name, e.g. Target___tool)")
    p.add_argument("--args", metavar="JSON", default=None, help="the call's arguments as a JSON object, or @FILE")
    p.add_argument("--idempotent", action="store_true",
                   help="the tool is safe to repeat: allow retrying a call that may have reached it")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--timeout", type=float, default=10.0, metavar="S",
                   help="per-request timeout in seconds (default 10)")
    p.add_argument("--retries", type=int, default=2, metavar="N",
                   help="extra attempts for throttled/server/transport failures (default 2)")
    p.add_argument("--max-retry-time", type=float, default=30.0, metavar="S",
                   help="bound on the total time spent retrying one request (default 30)")
    p.add_argument("--max-pages", type=int, default=100, metavar="N", help="tools/list page bound (default 100)")
    p.add_argument("--max-run-time", type=float, default=120.0, metavar="S",
                   help="bound on the whole run, retries and pages included (default 120)")
    p.add_argument("--protocol-version", default=None, metavar="V",
                   help="2025-03-26, 2025-06-18, 2025-11-25 (default, negotiated) or 2026-07-28 (stateless)")
    p.add_argument("--expect", metavar="OUTCOME[,OUTCOME]",
                   help="assert the outcome (one or several, comma-separated): exit 0 when it matches, 1 when not")
    p.add_argument("-v", "--verbose", action="store_true", help="add the redacted HTTP transcript")
    p.add_argument("--no-iam", action="store_true",
                   help="make no AWS calls: skip the IAM check (policy internal failure) and the engine-state "
                   "note (empty tools)")
    p.add_argument("--no-color", action="store_true", help="never colour the text report")
    a = p.add_argument_group("inbound auth (secrets never on the command line)")
    a.add_argument("--bearer-token-env", metavar="NAME", help="read a bearer token from this environment variable")
    a.add_argument("--bearer-token-file", metavar="PATH", help="read a bearer token from this file")
    a.add_argument("--oauth-token-url", metavar="URL", help="OAuth2 token endpoint (client credentials grant)")
    a.add_argument("--oauth-client-id", metavar="ID")
    a.add_argument("--oauth-client-secret-env", metavar="NAME", help="environment variable holding the client secret")
    a.add_argument("--oauth-scope", metavar="SCOPE")
    a.add_argument("--oauth-resource", metavar="URI",
                   help="send this RFC 8707 resource indicator with the token request")
    a.add_argument("--oauth-discover", action="store_true",
                   help="find the token endpoint from the gateway (RFC 9728 and RFC 8414): only the client id "
                   "and secret are needed")
    a.add_argument("--sigv4", action="store_true", help="sign requests with SigV4 (service bedrock-agentcore)")
    _add_aws_args(p)
    p.add_argument("--connect-to", metavar="HOST:PORT",
                   help="send the URL's requests to this address, keeping its Host header and TLS name (like curl)")
    b = p.add_argument_group("support bundle")
    b.add_argument("--bundle", metavar="DIR", help="write a support bundle (full redacted report, control plane, "
                   "IAM check, telemetry, SUMMARY.md) to this directory")
    b.add_argument("--zip", action="store_true", help="with --bundle: also write DIR.zip")
    b.add_argument("--telemetry-wait", type=float, default=0.0, metavar="S",
                   help="with --bundle: wait up to S seconds for the gateway's spans in CloudWatch Logs "
                   "(they arrive late; default 0: look once)")
    p.set_defaults(handler=_lazy("probe.cli.run", "main"))


def _add_iam(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("iam", help="check or fix the gateway execution role's policy permissions")
    isub = p.add_subparsers(dest="iam_command", required=True, metavar="{check,fix}")
    check = isub.add_parser(
        "check",
        help="name the permissions the gateway's role lacks",
        description="Read the gateway, derive the (action, resource) pairs its role needs for policy "
        "evaluation, and decide each one (IAM simulation, or offline evaluation of the role's policies).",
        epilog="exit codes: 0 the role has every permission; 3 permissions are missing; 6 policy evaluation is "
        "fine but a Lambda target cannot be invoked (lambda:InvokeFunction denied); 4 some could not be decided; "
        "2 usage or access error (no credentials, unknown profile, no region, gateway unreadable).",
    )
    fix = isub.add_parser(
        "fix",
        help="print (or --apply) the least-privilege inline policy",
        description="Print the least-privilege inline policy the gateway's role needs and the command "
        "that applies it. Nothing changes without --apply.",
        epilog="exit codes: 0 nothing to do, printed, or applied and verified; 3 still missing after "
        "--apply; 4 applied but the check cannot confirm it; 5 refused (an inline policy cannot help); "
        "2 usage or access error (no credentials, unknown profile, no region, gateway unreadable).",
    )
    for q in (check, fix):
        q.add_argument("url", nargs="?", help="gateway MCP URL (gateway id and region are read from it)")
        _add_aws_args(q)
        q.add_argument("--format", choices=("text", "json"), default="text")
        q.add_argument("--no-color", action="store_true")
    fix.add_argument("--apply", action="store_true", help="write the inline policy to the role, then check again")
    audit = check.add_argument_group("account-wide audit")
    audit.add_argument("--all", action="store_true",
                       help="check every gateway with a policy engine in --regions (one line each; exit: the worst)")
    audit.add_argument("--regions", metavar="R1,R2|all",
                       help="with --all: the regions to list gateways in (default: the configured region)")
    check.set_defaults(handler=_lazy("probe.cli.iam", "check_main"))
    fix.set_defaults(handler=_lazy("probe.cli.iam", "fix_main"))


def _add_policy(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("policy", help="explain a policy verdict offline, or lint the engine's Cedar policies")
    psub = p.add_subparsers(dest="policy_command", required=True, metavar="{explain,lint}")
    explain = psub.add_parser(
        "explain", help="which Cedar policy permits or denies a call (or hides a tool), and why",
        description="Read the gateway's policy engine and its policies, build the Cedar request the gateway "
        "builds (principal, action AgentCore::Action::\"Target___tool\", the gateway, context.input typed from "
        "the tool's input schema) and evaluate it with cedarpy. Changes nothing.",
        epilog="exit codes: 0 the policies permit the call (with --listing: could show the tool); 20 they deny "
        "it (a forbid, or default deny; with --listing: they hide the tool); 4 cannot tell (a policy cannot be "
        "read, or the principal is not known well enough); 2 usage or access error (no credentials, gateway or "
        "policies unreadable, cedarpy missing).",
    )
    _add_aws_args(explain)
    explain.add_argument("--tool", required=True, type=_name, metavar="NAME",
                         help="the tool's full name (Target___tool)")
    explain.add_argument("--args", metavar="JSON", default=None, help="the call's arguments: a JSON object or @FILE")
    explain.add_argument("--listing", action="store_true",
                         help="explain tools/list instead: could some call of this tool be permitted (input unknown)?")
    who = explain.add_argument_group("principal (default: the probe's IAM identity on an AWS_IAM gateway)")
    who.add_argument("--principal", metavar="FORM",
                     help="oauth:SUB (no claims known), iam:ARN, or claims:@FILE (a JSON object of JWT claims)")
    who.add_argument("--bearer-token-env", metavar="NAME",
                     help="the probe's JWT from this environment variable: its claims, decoded without verification")
    who.add_argument("--bearer-token-file", metavar="PATH", help="the probe's JWT from this file")
    who.add_argument("--sigv4", action="store_true", help="the probe's own IAM identity (STS GetCallerIdentity)")
    explain.add_argument("--format", choices=("text", "json"), default="text")
    explain.set_defaults(handler=_lazy("probe.cli.policy", "explain_main"))
    lint = psub.add_parser(
        "lint", help="find policies that can never do what they say",
        description="Validate the engine's policies against the Cedar schema AgentCore derives from the "
        "gateway's tools and flag what makes a policy silently useless: a Long compared with a decimal input, "
        "an attribute or action no tool has, a permit no principal satisfies, a forbid shadowing a permit, a "
        "policy not ACTIVE. Offline with --file POLICIES.cedar --tools TOOLS.json.",
        epilog="exit codes: 0 no finding; 1 findings (one line each: the policy, what is wrong, a fix); 2 usage "
        "or access error (a file that does not parse, gateway or policies unreadable, cedarpy missing).",
    )
    _add_aws_args(lint)
    lint.add_argument("--file", metavar="POLICIES.cedar", help="lint the policies of this file, not the engine's")
    lint.add_argument("--tools", metavar="TOOLS.json",
                      help="with --file: the tools (a tools/list result, or GetGatewayTarget answers)")
    lint.add_argument("--gateway-arn", metavar="ARN", help="offline: the gateway the policies are for "
                      "(default: the one they name)")
    lint.add_argument("--authorizer", choices=("CUSTOM_JWT", "AWS_IAM", "NONE"),
                      help="offline: the gateway's authorizer type (for the principal check)")
    lint.add_argument("--format", choices=("text", "json"), default="text")
    lint.set_defaults(handler=_lazy("probe.cli.policy", "lint_main"))


def _add_validate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "validate", help="check scenario files without running them",
        description="Check scenario files: keys, types, outcomes, gateways, inline secrets; one line per problem "
        "as FILE:LINE: what is wrong and what is expected.",
        epilog="exit codes: 0 every file is valid; 2 a problem was found.",
    )
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--env", action="store_true", help="also require every ${VAR} the files use to be set")
    p.set_defaults(handler=_lazy("probe.cli.validate", "main"))


def _add_discover(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "discover", help="list every gateway in the regions and write a scenario file for them",
        description="List every gateway (ListGateways, then GetGateway for its URL and policy engine) in each "
        "region, concurrently, and print a table; with --output, write a scenario file with one listing probe "
        "per gateway (auth left as references to fill in). Regions the caller cannot read are reported and skipped.",
        epilog="exit codes: 0 at least one region was read; 2 a usage error, no credentials, or no region readable.",
    )
    p.add_argument("--regions", required=True, metavar="R1,R2|all",
                   help="comma-separated regions, or all (the regions botocore lists for the control plane)")
    p.add_argument("--output", "-o", metavar="FILE", help="write a scenario file for the gateways found")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--profile", help="AWS profile for the standard credential chain")
    p.set_defaults(handler=_lazy("probe.cli.discover", "main"))


def _add_lab(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lab", help="start the embedded AgentCore lab on 127.0.0.1 until interrupted")
    p.add_argument("--port", type=_port, default=0, help="first port to use (default: any free ports)")
    p.add_argument("--seed", metavar="FILE", help="seed the lab from a seed file (YAML; default: the incident)")
    p.add_argument("--scenario", dest="seed", metavar="FILE", help=argparse.SUPPRESS)  # deprecated spelling
    p.set_defaults(handler=_lazy("probe.cli.lab", "lab_main"))


def _add_replay(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "replay", help="re-judge a saved JSON report (-v --format json) with today's classifier",
        description="Load a report written with `run -v --format json`, classify every recorded exchange "
        "again, and print the same report. Where today's rules judge differently than the saved outcome, "
        "it says so. Makes no network call.",
        epilog="exit codes: as `run` for the report's outcome; 2 when the file cannot be read.",
    )
    p.add_argument("report", metavar="REPORT.json", help="a report written with -v --format json (- for stdin)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("-v", "--verbose", action="store_true", help="add the redacted HTTP transcript")
    p.add_argument("--no-color", action="store_true")
    p.set_defaults(handler=_lazy("probe.cli.replay", "main"))


def _add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report", help="render a support bundle as one self-contained HTML page",
        description="Read a support bundle (its directory or its .zip) and write one HTML page that needs "
        "no network: the outcome and hint, the timeline, every exchange, the IAM table, the control plane, "
        "the spans. Makes no network call.",
        epilog="exit codes: 0 written; 2 when the bundle cannot be read or the page cannot be written.",
    )
    p.add_argument("bundle", metavar="BUNDLE", help="a bundle directory or .zip written by `run --bundle`")
    p.add_argument("--html", metavar="OUT.html", required=True, help="write the page here")
    p.set_defaults(handler=_lazy("probe.cli.report", "main"))


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="walk the policy-permissions incident against the embedded lab")
    p.add_argument("--no-color", action="store_true")
    p.set_defaults(handler=_lazy("probe.demo", "main"))


def _add_monitor_args(p: argparse.ArgumentParser, *, every: str) -> None:
    p.add_argument("-f", "--file", dest="scenario", action="append", required=True, metavar="SCENARIO",
                   help="a scenario file (repeat for several)")
    p.add_argument("--every", default=every, metavar="DURATION",
                   help=f"time between cycles: 60s, 5m, 1h or seconds (default {every})")
    p.add_argument("--jitter", default=None, metavar="J",
                   help="randomise each wait by up to this much: 10%% of --every, or a duration")
    p.add_argument("--concurrency", type=_positive, default=20, metavar="N", help="probes run at once (default 20)")


def _add_watch(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "watch", help="run scenarios on a schedule until interrupted (synthetic monitoring)",
        description="Run the scenario files' probes every interval until SIGINT or SIGTERM. One line per "
        "probe per cycle on stderr; with --emf, CloudWatch Embedded Metric Format lines on stdout.",
        epilog="exit codes: 0 when stopped by SIGINT/SIGTERM; 2 for a usage error.",
    )
    _add_monitor_args(p, every="60s")
    p.add_argument("--emf", action="store_true", help="write CloudWatch EMF metrics on stdout")
    p.add_argument("--emf-namespace", default="AgentCoreProbe", metavar="NS",
                   help="the CloudWatch namespace of the EMF metrics (default AgentCoreProbe)")
    p.add_argument("--grace", default="5s", metavar="DURATION",
                   help="on SIGINT/SIGTERM, let the cycle in flight finish for this long, then cut it (default 5s)")
    p.set_defaults(handler=_lazy("probe.cli.watch", "main"))


def _add_serve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve", help="serve Prometheus metrics: /metrics, /probe?probe=NAME, /-/healthy",
        description="Run the scenario files' probes every interval and serve their last results to Prometheus "
        "(/metrics); /probe?probe=NAME runs one probe on demand, blackbox-exporter style.",
        epilog="exit codes: 0 when stopped by SIGINT/SIGTERM; 2 for a usage error or a port in use.",
    )
    _add_monitor_args(p, every="60s")
    p.add_argument("--listen", default="127.0.0.1", metavar="ADDR", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=_port, default=9810, metavar="P", help="port to bind (default 9810; 0: any)")
    p.set_defaults(handler=_lazy("probe.cli.serve", "main"))


def _port(text: str) -> int:
    """A TCP port, 0 to 65535 (0: any free port)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, got {port}")
    return port


def _positive(text: str) -> int:
    """A whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _name(text: str) -> str:
    """A non-empty name."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def _lazy(module: str, func: str) -> Callable[[argparse.Namespace], int]:
    def handler(ns: argparse.Namespace) -> int:
        import importlib

        return int(getattr(importlib.import_module(module), func)(ns))

    return handler


COMMANDS: tuple[tuple[str, Callable[[argparse._SubParsersAction], None]], ...] = (
    ("run", _add_run), ("validate", _add_validate), ("replay", _add_replay), ("report", _add_report),
    ("iam", _add_iam), ("policy", _add_policy), ("lab", _add_lab), ("demo", _add_demo), ("watch", _add_watch),
    ("serve", _add_serve), ("discover", _add_discover),
)


class _Sink:
    """Stands in for a parser whose options are not needed this time: every call is accepted and ignored."""

    def __getattr__(self, name: str) -> _Sink:
        return self

    def __call__(self, *args: object, **kwargs: object) -> _Sink:
        return self


class _Stubs:
    """Registers a command by name and help only: building every command's options costs more start-up
    time than the run it serves (argparse looks up translations for each), and one command runs at a time."""

    def __init__(self, sub: argparse._SubParsersAction) -> None:
        self.sub = sub

    def add_parser(self, name: str, **kwargs: object) -> _Sink:
        self.sub.add_parser(name, help=kwargs.get("help"))
        return _Sink()


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with `only`, that command's options in full and the others by name."""
    from probe import __version__

    parser = _Parser(
        prog="agentcore-probe",
        description="Does this AgentCore Gateway really work end to end over MCP? If not, why, and how to fix it.",
    )
    parser.add_argument("--version", action="version", version=f"agentcore-probe {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{" + ",".join(n for n, _ in COMMANDS) + "}",
                                parser_class=_Parser)
    for name, add in COMMANDS:
        add(sub if only is None or name == only else _Stubs(sub))  # type: ignore[arg-type]
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in args if not a.startswith("-")), None)
    ns = build_parser(command if command in dict(COMMANDS) else None).parse_args(args)
    try:
        return ns.handler(ns)
    except KeyboardInterrupt:  # before the run's own signal handling was in place (while importing)
        sys.stderr.write("agentcore-probe: interrupted\n")
        if getattr(ns, "command", None) == "run" and getattr(ns, "format", None) == "json" and ns.url:
            _interrupted_report(ns.url)  # a scheduler reading stdout still gets a report
        return 130


def _interrupted_report(url: str) -> None:
    from probe.outcome import Detail, RunResult, Step
    from probe.report.json import dumps
    from probe.spec import display_url

    step = Step("start", Outcome.TRANSPORT_ERROR,
                detail=Detail(message="the run was interrupted before it started", rule="run_cut"))
    result = RunResult(url=display_url(url), protocol_version="", outcome=Outcome.TRANSPORT_ERROR, steps=[step],
                       interrupted=True)
    sys.stdout.write(dumps(result.to_dict(verbose=False)))
