"""`iam fix`: the least-privilege inline policy, printed by default, written only on `--apply`.

Writing to a production role is the one thing this tool does that changes an account,
so the rules are strict: one inline policy of a name fixed per gateway (running twice
writes nothing more), exact ARNs only (never a wildcard), and a refusal, with the reason,
wherever an inline Allow cannot help: a service-linked role, a permissions boundary or an
explicit Deny, a conditional Deny the check cannot settle. The check has already tried
the policy against the role (its decisions with the policy added), so a boundary that
would block the very pairs granted is caught before anything is written. A blocked
Lambda grant is only left out (policy evaluation is fixed, the rest said); a blocked
policy-evaluation pair refuses the whole fix. Nothing is written either when our own
inline policy exists but cannot be read: rewriting it blind could revoke what it grants.
After a write the check runs again and its result is the verdict.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from probe.iam import needs
from probe.iam.check import EXIT_UNREADABLE, IamCheck, check_gateway
from probe.iam.gateway import aws_failures, client, describe_error, error_code, make_session
from probe.iam.roles import decode_document, role_name_and_path

if TYPE_CHECKING:
    import boto3

FixAction = Literal["nothing_to_do", "printed", "applied", "unchanged", "refused", "failed"]

EXIT_OK = 0
EXIT_STILL_MISSING = 3
EXIT_STILL_UNKNOWN = 4
EXIT_REFUSED = 5

# IAM is eventually consistent: a fresh inline policy may take seconds to show in a
# simulation. The check is repeated after these pauses while our own pairs still fail.
SETTLE_DELAYS_S: tuple[float, ...] = (2.0, 5.0)


@dataclass
class IamFix:
    """What `iam fix` found, decided and did."""

    before: IamCheck
    apply: bool
    action: FixAction = "printed"
    policy: dict[str, Any] | None = None
    refusal: str | None = None
    wrote: bool = False
    after: IamCheck | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def policy_name(self) -> str:
        return self.before.policy_name

    @property
    def command(self) -> str | None:
        if self.policy is None or not self.before.role_arn:
            return None
        role_name = role_name_and_path(self.before.role_arn)[0]
        return needs.put_role_policy_command(role_name, self.policy_name, profile=self.before.profile)

    @property
    def not_granted(self) -> list[dict[str, Any]]:
        """Lambda grants left out of a written (or printed) policy because an inline Allow cannot help."""
        if self.action not in ("printed", "applied", "unchanged"):
            return []
        return [b for b in self.before.remediation_blocked if b["kind"] == "lambda"]

    @property
    def changes(self) -> list[str]:
        """What to change instead, for what the fix refused or left out."""
        if self.action == "refused" or self.not_granted:
            return list(self.before.remediation_changes)
        return []

    @property
    def exit_code(self) -> int:
        """0 nothing to do, printed, or applied and verified; 3/4 still missing/undecided after
        writing; 5 refused; 2 the gateway could not be read or the write failed."""
        if self.action == "refused":
            return EXIT_REFUSED
        if self.action == "failed":
            return EXIT_UNREADABLE
        if self.action in ("applied", "unchanged") and self.after is not None:
            return {"ok": EXIT_OK, "missing_permissions": EXIT_STILL_MISSING}.get(
                self.after.verdict, EXIT_STILL_UNKNOWN
            )
        return EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        return {
            "gateway_id": self.before.gateway_id,
            "region": self.before.region,
            "gateway_arn": self.before.gateway_arn,
            "role_arn": self.before.role_arn,
            "apply": self.apply,
            "action": self.action,
            "wrote": self.wrote,
            "policy_name": self.policy_name,
            "policy": self.policy,
            "policy_file": needs.POLICY_FILE if self.policy else None,
            "command": self.command,
            "refusal": self.refusal,
            "not_granted": self.not_granted,
            "changes": self.changes,
            "errors": list(self.errors),
            "exit_code": self.exit_code,
            "before": self.before.to_dict(),
            "after": self.after.to_dict() if self.after else None,
        }


def fix_gateway(
    *,
    gateway_id: str,
    region: str,
    apply: bool = False,
    profile: str | None = None,
    session: boto3.Session | None = None,
    settle_delays: Sequence[float] = SETTLE_DELAYS_S,
) -> IamFix:
    """Check, decide what (if anything) to write, and with `apply` write it and check again.

    Never raises for AWS trouble. Without `apply` nothing is written, whatever else happens.
    """
    failures = aws_failures()
    try:
        session = session or make_session(profile)
    except failures as exc:
        before = IamCheck(gateway_id=gateway_id, region=region, profile=profile)
        before.errors.append(describe_error("session", exc))
        return IamFix(before=before, apply=apply, action="failed", errors=list(before.errors))
    before = check_gateway(gateway_id=gateway_id, region=region, profile=profile, session=session)
    fix = IamFix(before=before, apply=apply)
    if not before.gateway_read:
        fix.action = "failed"
        fix.errors.append("the gateway could not be read, so there is nothing exact to grant")
        return fix
    if before.verdict == "ok" and not before.lambda_missing:
        fix.action = "nothing_to_do"
        return fix
    fix.refusal = refusal_reason(before)
    if fix.refusal:
        fix.action = "refused"
        return fix

    iam = client(session, "iam")
    role_name = role_name_and_path(before.role_arn or "")[0]
    existing, unreadable = _existing_policy(iam, role_name, before.policy_name)
    if unreadable:
        fix.action = "refused"
        fix.refusal = (
            f"the inline policy {before.policy_name} is already on the role but could not be read ({unreadable}); "
            "it is replaced whole on write, so writing without knowing what it grants could revoke an earlier "
            "grant. Allow iam:GetRolePolicy on the role and run again"
        )
        return fix
    try:
        fix.policy = needs.remediation_policy(
            before.gateway_arn, before.policy_engine_arn, _lambda_arns_to_grant(before, existing)
        )
    except needs.WildcardRefused as exc:
        fix.refusal = str(exc)
        fix.action = "refused"
        return fix
    if fix.policy is None:  # nothing exact to grant (e.g. only undecidable Lambda pairs without ARNs)
        fix.action = "nothing_to_do"
        return fix
    if not apply:
        fix.action = "printed"
        return fix

    if existing is not None and _same(existing, fix.policy):
        fix.action = "unchanged"  # the document is already there: writing it again changes nothing
    else:
        try:
            iam.put_role_policy(
                RoleName=role_name, PolicyName=before.policy_name, PolicyDocument=json.dumps(fix.policy)
            )
        except failures as exc:
            fix.action = "failed"
            fix.errors.append(describe_error("iam:PutRolePolicy", exc))
            return fix
        fix.wrote = True
        fix.action = "applied"
    fix.after = _recheck(gateway_id, region, profile, session, settle_delays)
    return fix


def refusal_reason(check: IamCheck) -> str | None:
    """Why an inline Allow cannot repair this role, or None when it can (the check decided it)."""
    if not check.role_arn:
        return "the gateway names no execution role"
    return check.remediation_refusal


def _existing_policy(iam: Any, role_name: str, name: str) -> tuple[dict[str, Any] | None, str | None]:
    """Our own inline policy as it stands now, and why it could not be read (None: it could).

    Absent is a clean answer (nothing to carry over); any other failure is not.
    """
    try:
        answer = iam.get_role_policy(RoleName=role_name, PolicyName=name)
        return decode_document(answer["PolicyDocument"]), None
    except aws_failures() as exc:
        if error_code(exc) in ("NoSuchEntity", "NoSuchEntityException"):
            return None, None
        return None, describe_error(f"iam:GetRolePolicy({name})", exc)
    except (ValueError, KeyError) as exc:
        return None, f"iam:GetRolePolicy({name}): unreadable document ({type(exc).__name__})"


def _lambda_arns_to_grant(check: IamCheck, existing: dict[str, Any] | None) -> list[str]:
    """The missing Lambda ARNs, plus those our earlier write granted that are still targets.

    Rewriting the policy replaces it whole, so grants it made before must be carried over
    or the fix for one pair would revoke another.
    """
    targets = [d["resource"] for d in check.lambda_pairs]
    wanted = list(check.lambda_to_grant)
    for statement in (existing or {}).get("Statement") or []:
        if isinstance(statement, dict) and statement.get("Sid") == needs.SID_LAMBDA:
            resources = statement.get("Resource") or []
            resources = [resources] if isinstance(resources, str) else resources
            wanted += [r for r in resources if r in targets]
    return list(dict.fromkeys(wanted))


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _recheck(
    gateway_id: str, region: str, profile: str | None, session: boto3.Session, delays: Sequence[float]
) -> IamCheck:
    after = check_gateway(gateway_id=gateway_id, region=region, profile=profile, session=session)
    for delay in delays:
        if after.verdict != "missing_permissions" or any(m["reason"] != "implicit_deny" for m in after.missing):
            break
        time.sleep(delay)
        after = check_gateway(gateway_id=gateway_id, region=region, profile=profile, session=session)
    return after
