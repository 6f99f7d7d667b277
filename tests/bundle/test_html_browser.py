"""The HTML page of the incident's bundle, opened in a real headless browser (Debian's chromium, Playwright).

CI installs chromium (see .ci/run); without it this test fails with a clear message: a
skipped browser test would let a broken page pass.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from probe.cli import main

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def incident(lab):
    c = lab.console
    engine = c.create_policy_engine("pagerefunds")
    gw = c.create_gateway("pageincident")
    c.attach_engine_from_policy_side(gw.gateway_id, engine.engine_id, "ENFORCE")
    return gw, lab.state.gateway(gw.gateway_id).policy_engine_arn


def test_html_page_shows_outcome_hint_and_missing_pairs(lab, incident, aws_to_lab, tmp_path, capsys) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium) to run the "
                    "HTML report's browser test")
    from playwright.sync_api import sync_playwright

    gw, engine = incident
    bundle = tmp_path / "case"
    assert main(["run", lab.gateway_url(gw.gateway_id), "--gateway-id", gw.gateway_id, "--region", lab.region,
                 "--bundle", str(bundle), "--zip"]) == 21
    page_file = tmp_path / "report.html"
    assert main(["report", f"{bundle}.zip", "--html", str(page_file)]) == 0
    capsys.readouterr()
    html = page_file.read_text()
    assert "<script" not in html and "<link" not in html

    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_file.as_uri())
            outcome = page.locator("#outcome")
            assert outcome.is_visible()
            assert "policy_internal_failure" in outcome.inner_text()
            hint = page.locator("#hint")
            assert hint.is_visible()
            assert "cannot evaluate policies" in hint.inner_text()
            rows = page.locator("#iam tr.missing")
            assert rows.count() == 5
            seen = {(rows.nth(i).locator("td").nth(0).inner_text(), rows.nth(i).locator("td").nth(1).inner_text())
                    for i in range(5)}
            assert seen == {("bedrock-agentcore:AuthorizeAction", gw.arn),
                            ("bedrock-agentcore:AuthorizeAction", engine),
                            ("bedrock-agentcore:PartiallyAuthorizeActions", gw.arn),
                            ("bedrock-agentcore:PartiallyAuthorizeActions", engine),
                            ("bedrock-agentcore:GetPolicyEngine", engine)}
            for i in range(5):
                assert rows.nth(i).is_visible()
            # an exchange opens on click, without script
            first = page.locator("details").first
            assert not first.locator("pre").first.is_visible()
            first.locator("summary").click()
            assert first.locator("pre").first.is_visible()
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        finally:
            browser.close()
    assert (tmp_path / "report.png").stat().st_size > 10_000
    assert requests == [page_file.as_uri()]  # nothing but the file itself: no network
