"""`agentcore-probe policy explain|lint`: which Cedar policy decides, and which policies can never work.

`explain` reads the gateway and its engine's policies, rebuilds the Cedar request the
gateway builds for a principal (the probe's own credentials, or `--principal`), and says
which policies decide it (`probe.cedar.explain`). `lint` checks the engine's policies (or
a `.cedar` file) against the schema AgentCore derives from the gateway's tools
(`probe.cedar.lint`). Reads go through `probe.cedar.read` (best effort, one line per
failure); nothing here changes anything in AWS.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

EXPLAIN_EXIT = {"permit": 0, "listable": 0, "forbid": 20, "default_deny": 20, "hidden": 20, "cannot_tell": 4}
EXIT_USAGE = 2
EXIT_FINDINGS = 1

class _Usage(Exception):
    """One line for stderr; exit 2."""


def _fail(message: str) -> int:
    sys.stderr.write(f"agentcore-probe: error: {' '.join(str(message).split())}\n")
    return EXIT_USAGE


def _need_gateway(ns: argparse.Namespace) -> tuple[str, str]:
    if not ns.gateway_id:
        raise _Usage("--gateway-id is required")
    region = ns.region
    if not region:
        from probe.iam.gateway import make_session

        region = make_session(ns.profile).region_name
    if not region:
        raise _Usage("--region is required (no default region is configured)")
    return ns.gateway_id, region


# --- explain -------------------------------------------------------------------------------------


def explain_main(ns: argparse.Namespace) -> int:
    return _guarded(_explain, ns)


def _guarded(command: Callable[[argparse.Namespace], int], ns: argparse.Namespace) -> int:
    """A usage problem or a missing cedarpy is one line and exit 2, for every policy command."""
    from probe.cedar import CedarUnavailable

    try:
        return command(ns)
    except (_Usage, CedarUnavailable) as exc:
        return _fail(str(exc))


def _explain(ns: argparse.Namespace) -> int:
    from probe.cedar import require_cedarpy
    from probe.cedar.explain import explain_call, explain_listing
    from probe.cedar.read import read_policy_facts
    from probe.spec import SpecError, parse_arguments

    chosen = [f for f, on in (("--principal", ns.principal), ("--bearer-token-env", ns.bearer_token_env),
                              ("--bearer-token-file", ns.bearer_token_file), ("--sigv4", ns.sigv4)) if on]
    if len(chosen) > 1:
        raise _Usage(f"choose one principal: got {' and '.join(chosen)}")
    if ns.listing and ns.args is not None:
        raise _Usage("--listing explains tools/list, where the input is unknown: drop --args")
    try:
        arguments = parse_arguments(ns.args)
    except SpecError as exc:
        raise _Usage(str(exc)) from None
    principal, principal_note = _chosen_principal(ns)
    require_cedarpy()
    gateway_id, region = _need_gateway(ns)
    facts = read_policy_facts(gateway_id, region, ns.profile)
    if facts.gateway_arn is None:
        raise _Usage(f"cannot read the gateway: {'; '.join(facts.errors)}")
    if not facts.engine_arn:
        return _emit(ns, {"kind": "permit", "tool": ns.tool, "gateway_arn": facts.gateway_arn,
                          "summary": "no policy engine is attached: no policy decides this gateway's calls"},
                     ["no policy engine is attached: no policy decides this gateway's calls"], 0)
    if facts.policies is None:
        raise _Usage(f"cannot read the engine's policies: {'; '.join(facts.errors)}")
    notes: list[str] = []
    if principal is None and principal_note is None:
        principal, principal_note = _default_principal(ns, facts.authorizer_type, region)
    if principal_note:
        notes.append(principal_note)
    if facts.engine_mode and facts.engine_mode != "ENFORCE":
        notes.append(f"the engine is attached in {facts.engine_mode}: the gateway logs this decision but does not "
                     "enforce it")
    if facts.tools is None:
        notes.append("the gateway's tools could not be read: context.input is typed from the JSON values")
    elif ns.tool not in facts.schemas:
        notes.append(f"no target of the gateway lists {ns.tool}: context.input is typed from the JSON values")
    notes += [f"could not read: {err}" for err in facts.errors]
    if ns.listing:
        e = explain_listing(facts.policies, facts.gateway_arn, ns.tool, principal)
    else:
        e = explain_call(facts.policies, facts.gateway_arn, ns.tool, principal, arguments, facts.schemas.get(ns.tool))
    lines = e.lines()
    if e.kind == "forbid":
        for p in e.policies:
            lines += [f"  {p.label}:"] + [f"    {ln}" for ln in p.statement.strip().splitlines()]
    lines += [f"  note: {n}" for n in notes]
    doc = e.to_dict()
    doc["engine_arn"], doc["engine_mode"], doc["read_notes"] = facts.engine_arn, facts.engine_mode, notes
    return _emit(ns, doc, lines, EXPLAIN_EXIT[e.kind])


def _chosen_principal(ns: argparse.Namespace) -> tuple[Any, str | None]:
    """The principal the options name; (None, None) when none is named."""
    from probe.cedar.principal import bearer_claims, parse_principal, principal_from_claims

    if ns.principal:
        try:
            return parse_principal(ns.principal), None
        except ValueError as exc:
            raise _Usage(str(exc)) from None
    if ns.bearer_token_env or ns.bearer_token_file:
        import os

        if ns.bearer_token_env and ns.bearer_token_env not in os.environ:
            raise _Usage(f"environment variable {ns.bearer_token_env} (from --bearer-token-env) is not set")
        claims = bearer_claims(ns.bearer_token_env, ns.bearer_token_file)
        principal = principal_from_claims(claims)
        if principal is None:
            where = ns.bearer_token_env or ns.bearer_token_file
            raise _Usage(f"the token in {where} is not a JWT with a `sub` claim: pass --principal instead")
        return principal, None
    return None, None


def _default_principal(ns: argparse.Namespace, authorizer: str | None, region: str) -> tuple[Any, str | None]:
    from probe.cedar.read import caller_principal

    if ns.sigv4 or authorizer == "AWS_IAM":
        principal, error = caller_principal(region, ns.profile)
        if principal is None:
            return None, f"the probe's IAM identity is not known ({error})"
        return principal, None
    if authorizer == "CUSTOM_JWT":
        return None, "the principal is not known: pass --bearer-token-env/--bearer-token-file or --principal"
    return None, None


def _emit(ns: argparse.Namespace, doc: dict[str, Any], lines: list[str], code: int) -> int:
    from probe.report.escape import terminal_safe

    if ns.format == "json":
        doc["exit_code"] = code
        sys.stdout.write(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    else:
        sys.stdout.write("\n".join(terminal_safe(ln, True, limit=None) for ln in lines) + "\n")
    return code


# --- lint ------------------------------------------------------------------------------------------


def lint_main(ns: argparse.Namespace) -> int:
    return _guarded(_lint, ns)


def _lint(ns: argparse.Namespace) -> int:
    from probe.cedar import require_cedarpy
    from probe.cedar.lint import lint, load_policies_file, load_tools_json

    require_cedarpy()
    if not ns.file and ns.tools:
        raise _Usage("--tools goes with --file (against a gateway, its own tools are read)")
    if not ns.file and not ns.gateway_id:
        raise _Usage("give --gateway-id ID --region R, or --file POLICIES.cedar [--tools TOOLS.json]")
    errors: list[str] = []
    tools = None
    if ns.tools:
        try:
            tools = load_tools_json(_read(ns.tools, "--tools"))
        except ValueError as exc:
            raise _Usage(f"--tools {ns.tools}: {exc}") from None
    authorizer = ns.authorizer
    gateway_arn = ns.gateway_arn
    if ns.gateway_id:
        from probe.cedar.read import read_policy_facts

        gateway_id, region = _need_gateway(ns)
        facts = read_policy_facts(gateway_id, region, ns.profile, tools=tools is None)
        if facts.gateway_arn is None:
            raise _Usage(f"cannot read the gateway: {'; '.join(facts.errors)}")
        gateway_arn, authorizer = facts.gateway_arn, authorizer or facts.authorizer_type
        tools = tools if tools is not None else facts.tools
        errors += facts.errors
        policies = facts.policies
        if not ns.file:
            if not facts.engine_arn:
                raise _Usage(f"gateway {gateway_id} has no policy engine attached: nothing to lint (or pass --file)")
            if policies is None:
                raise _Usage(f"cannot read the engine's policies: {'; '.join(facts.errors)}")
    if ns.file:
        try:
            policies = load_policies_file(_read(ns.file, "--file"))
        except ValueError as exc:
            raise _Usage(f"--file {ns.file}: {exc}") from None
    assert policies is not None
    if gateway_arn is None:
        gateway_arn = _named_gateway(policies) or "arn:aws:bedrock-agentcore:::gateway/unknown"
    findings = lint(policies, tools or [], gateway_arn, authorizer)
    notes = [f"could not read: {e}" for e in errors]
    if not tools:
        notes.append("no tools known: the schema checks (types, attributes, actions) were skipped")
    code = EXIT_FINDINGS if findings else 0
    if ns.format == "json":
        doc = {"gateway_arn": gateway_arn, "policies": len(policies), "tools": len(tools or []),
               "findings": [f.to_dict() for f in findings], "notes": notes, "exit_code": code}
        sys.stdout.write(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        return code
    from probe.report.escape import terminal_safe

    out = [terminal_safe(f.line(), True, limit=None) for f in findings]
    out.append(f"{len(findings)} finding{'s' if len(findings) != 1 else ''} in {len(policies)} "
               f"polic{'y' if len(policies) == 1 else 'ies'} ({len(tools or [])} tools)")
    out += [f"note: {n}" for n in notes]
    sys.stdout.write("\n".join(out) + "\n")
    return code


def _named_gateway(policies: Any) -> str | None:
    from probe.cedar.model import parse_statement
    from probe.cedar.schema import named_gateway

    for p in policies:
        try:
            arn = named_gateway(parse_statement(p.statement)[0])
        except ValueError:
            continue
        if arn:
            return arn
    return None


def _read(path: str, flag: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as exc:
        raise _Usage(f"cannot read {flag} {path}: {exc.strerror or type(exc).__name__}") from None
    except UnicodeDecodeError:
        raise _Usage(f"{flag} {path} is not UTF-8 text") from None
