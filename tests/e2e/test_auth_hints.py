"""The hint of an `auth_failed` says which credentials the gateway wanted, from its answer and our request."""

from __future__ import annotations

import json

from probe.cli import main


def _hint(capsys, *argv: str) -> tuple[int, str]:
    code = main(["run", *argv, "--format", "json", "--retries", "0", "--no-iam"])
    report = json.loads(capsys.readouterr().out)
    assert report["outcome"] == "auth_failed"
    return code, report["steps"][-1]["hint"]


def test_aws_iam_gateway_probed_without_sigv4(lab, capsys) -> None:
    gw = lab.console.create_gateway("signed", authorizer_type="AWS_IAM")
    code, hint = _hint(capsys, lab.gateway_url(gw.gateway_id))
    assert code == 30 and "--sigv4" in hint and "no credentials" in hint


def test_jwt_gateway_probed_without_a_token(lab, capsys) -> None:
    gw = lab.console.create_gateway("tokened", authorizer_type="CUSTOM_JWT")
    code, hint = _hint(capsys, lab.gateway_url(gw.gateway_id))
    assert code == 30 and "bearer token" in hint and "--oauth-discover" in hint and "--sigv4" not in hint


def test_a_refused_token_points_at_the_authorizer(lab, capsys, monkeypatch) -> None:
    gw = lab.console.create_gateway("refusing", authorizer_type="CUSTOM_JWT")
    monkeypatch.setenv("PROBE_BAD_TOKEN", "not-a-valid-token-at-all")
    code, hint = _hint(capsys, lab.gateway_url(gw.gateway_id), "--bearer-token-env", "PROBE_BAD_TOKEN")
    assert code == 30 and "issuer, audience and client id" in hint
