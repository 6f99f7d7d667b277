"""Reading a role's policy documents for offline evaluation.

What could not be read is kept by name, not dropped: an unread identity policy might
hold the Deny (or the Allow) that decides a pair, so the check must know that its view
is partial and say `unknown` instead of guessing.
"""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from probe.iam.evaluate import PolicySource
from probe.iam.gateway import aws_failures, describe_error

SERVICE_LINKED_PATH = "/aws-service-role/"


class RoleUnreadable(Exception):
    """GetRole failed: without the role there is nothing to evaluate offline."""


@dataclass
class RolePolicies:
    """The role's identity policies and boundary, plus what could not be read."""

    role_arn: str
    role_name: str
    path: str
    identity: list[PolicySource] = field(default_factory=list)
    boundary: PolicySource | None = None
    boundary_arn: str | None = None
    unread_identity: list[str] = field(default_factory=list)  # policy names/ARNs whose document is unknown
    boundary_unread: bool = False
    errors: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.unread_identity and not self.boundary_unread


def role_name_and_path(role_arn: str) -> tuple[str, str]:
    """`arn:aws:iam::A:role/some/path/Name` -> ("Name", "/some/path/")."""
    resource = role_arn.split(":", 5)[-1]
    if resource.startswith("role/"):
        resource = resource[len("role/") :]
    *path_parts, name = resource.split("/")
    path = "/" + "/".join(path_parts) + "/" if path_parts else "/"
    return name, path


def is_service_linked(role_arn: str | None, path: str | None = None) -> bool:
    """A service-linked role's policies belong to the service: nobody may add to them."""
    if path and path.startswith(SERVICE_LINKED_PATH):
        return True
    return bool(role_arn) and role_name_and_path(role_arn or "")[1].startswith(SERVICE_LINKED_PATH)


def decode_document(document: Any) -> dict[str, Any]:
    """A policy document as a dict: boto3 usually decodes it, raw IAM answers are URL-encoded JSON."""
    if isinstance(document, dict):
        return document
    text = str(document)
    try:
        return json.loads(text)
    except ValueError:
        return json.loads(urllib.parse.unquote(text))


def load_role_policies(iam: Any, role_arn: str) -> RolePolicies:
    """Read inline, attached managed (default version) and boundary documents of a role.

    Raises RoleUnreadable when GetRole itself fails; any later failure is recorded and
    the affected document is marked unread.
    """
    failures = aws_failures()
    name, path = role_name_and_path(role_arn)
    try:
        role = iam.get_role(RoleName=name)["Role"]
    except failures as exc:
        raise RoleUnreadable(describe_error("iam:GetRole", exc)) from exc
    result = RolePolicies(role_arn=role.get("Arn") or role_arn, role_name=name, path=role.get("Path") or path)
    _load_inline(iam, result, failures)
    _load_managed(iam, result, failures)
    boundary_arn = (role.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
    if boundary_arn:
        result.boundary_arn = boundary_arn
        try:
            doc = _managed_document(iam, boundary_arn)
            result.boundary = PolicySource(
                kind="boundary", name=_policy_name(boundary_arn), arn=boundary_arn, document=doc
            )
        except (*failures, ValueError) as exc:
            result.errors.append(describe_error(f"boundary {boundary_arn}", exc))
            result.boundary_unread = True
    return result


def read_role_tags(iam: Any, role_arn: str, errors: list[str]) -> dict[str, str] | None:
    """The role's tags (what `aws:PrincipalTag/*` holds for its sessions); None, with one line
    in `errors`, when they cannot be read."""
    failures = aws_failures()
    name = role_name_and_path(role_arn)[0]
    try:
        tags = {
            str(t["Key"]): str(t["Value"])
            for page in iam.get_paginator("list_role_tags").paginate(RoleName=name)
            for t in page.get("Tags") or []
        }
    except (*failures, KeyError, TypeError) as exc:
        errors.append(f"{describe_error('iam:ListRoleTags', exc)} (conditions on aws:PrincipalTag/* stay undecided)")
        return None
    return tags


def _load_inline(iam: Any, result: RolePolicies, failures: tuple[type[BaseException], ...]) -> None:
    try:
        names = [
            n
            for page in iam.get_paginator("list_role_policies").paginate(RoleName=result.role_name)
            for n in page.get("PolicyNames") or []
        ]
    except failures as exc:
        result.errors.append(describe_error("iam:ListRolePolicies", exc))
        result.unread_identity.append("inline policies (not listed)")
        return
    for policy_name in names:
        try:
            answer = iam.get_role_policy(RoleName=result.role_name, PolicyName=policy_name)
            doc = decode_document(answer["PolicyDocument"])
        except (*failures, ValueError, KeyError) as exc:
            result.errors.append(describe_error(f"iam:GetRolePolicy({policy_name})", exc))
            result.unread_identity.append(policy_name)
            continue
        result.identity.append(PolicySource(kind="inline", name=policy_name, arn=None, document=doc))


def _load_managed(iam: Any, result: RolePolicies, failures: tuple[type[BaseException], ...]) -> None:
    try:
        attached = [
            p
            for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=result.role_name)
            for p in page.get("AttachedPolicies") or []
        ]
    except failures as exc:
        result.errors.append(describe_error("iam:ListAttachedRolePolicies", exc))
        result.unread_identity.append("attached managed policies (not listed)")
        return
    for policy in attached:
        arn = policy.get("PolicyArn") or ""
        try:
            doc = _managed_document(iam, arn)
        except (*failures, ValueError, KeyError) as exc:
            result.errors.append(describe_error(f"iam:GetPolicyVersion({arn})", exc))
            result.unread_identity.append(arn)
            continue
        name = policy.get("PolicyName") or _policy_name(arn)
        result.identity.append(PolicySource(kind="managed", name=name, arn=arn, document=doc))


def _managed_document(iam: Any, policy_arn: str) -> dict[str, Any]:
    version = iam.get_policy(PolicyArn=policy_arn)["Policy"]["DefaultVersionId"]
    answer = iam.get_policy_version(PolicyArn=policy_arn, VersionId=version)
    return decode_document(answer["PolicyVersion"]["Document"])


def _policy_name(policy_arn: str) -> str:
    return policy_arn.rsplit("/", 1)[-1]
