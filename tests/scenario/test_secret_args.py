"""A secret given to a call through ${VAR} (the way the file format asks for it) is redacted everywhere."""

from __future__ import annotations

from probe.cli import main

SCENARIO = """\
version: 1
gateways:
  open: {url: "${OPEN_URL}", auth: none}
probes:
  - name: with-password
    gateway: open
    call: {tool: RefundTarget___get_order, args: {order_id: o-1, password: "${PWSECRET}"}}
    expect: [ok, tool_error, protocol_error]
"""


def test_a_secret_from_the_environment_never_reaches_the_report(lab, tmp_path, monkeypatch, capsys) -> None:
    gw = lab.console.create_gateway("open")
    monkeypatch.setenv("OPEN_URL", lab.gateway_url(gw.gateway_id))
    monkeypatch.setenv("PWSECRET", "PPPSEKRIT-0123")
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    main(["run", "-f", str(path), "-v", "--format", "json", "--no-iam"])
    out, err = capsys.readouterr()
    assert "PPPSEKRIT" not in out + err
    assert "password" in out  # the argument was sent and recorded, its value redacted
