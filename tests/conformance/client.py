"""The conformance suite's client command: map its calling convention onto `probe run`.

The suite (`@modelcontextprotocol/conformance client --command CMD --scenario NAME`) starts a
test server per scenario and runs `CMD <server-url>` with MCP_CONFORMANCE_SCENARIO set to the
scenario's name and, for scenarios that need more (client credentials), MCP_CONFORMANCE_CONTEXT
set to a JSON object. This script turns that into one `python -m probe run` invocation and
exits with the probe's exit code; the suite counts a non-zero exit as a failure, so every
scenario runs with `--expect` set to the outcome a correct probe reports against that server.

Secrets stay off the command line: the context's client secret is handed to the probe through
an environment variable, as a user would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

SECRET_ENV = "CONFORMANCE_OAUTH_CLIENT_SECRET"


def probe_args(scenario: str, url: str, context: dict[str, object]) -> list[str]:
    """The `probe run` arguments that exercise `scenario` against the suite's server at `url`."""
    common = [url, "--no-iam", "--no-color", "-v"]
    if scenario == "initialize":
        # The test server answers tools/list with no tools: a correct probe says empty_tools.
        return [*common, "--expect", "empty_tools"]
    if scenario == "tools_call":
        return [*common, "--call", "add_numbers", "--args", '{"a": 2, "b": 3}', "--expect", "ok"]
    if scenario == "sse-retry":
        # The server answers the call on a GET stream the client must open after the POST stream closes.
        return [*common, "--call", "test_reconnection", "--args", "{}", "--expect", "ok"]
    if scenario == "auth/client-credentials-basic":
        # Only the client id and secret are given: the token endpoint must be discovered
        # (RFC 9728 protected resource metadata, then RFC 8414 authorization server metadata).
        return [*common, "--oauth-discover", "--oauth-client-id", str(context["client_id"]),
                "--oauth-client-secret-env", SECRET_ENV, "--call", "test-tool", "--args", "{}", "--expect", "ok"]
    raise SystemExit(f"client.py: scenario {scenario!r} is not one the probe takes part in")


def main(argv: list[str]) -> int:
    """Run the probe for the scenario named in the environment against the URL in argv."""
    if len(argv) != 1:
        print("usage: client.py SERVER_URL (run by the conformance suite)", file=sys.stderr)
        return 2
    scenario = os.environ.get("MCP_CONFORMANCE_SCENARIO", "")
    context = json.loads(os.environ.get("MCP_CONFORMANCE_CONTEXT") or "{}")
    env = dict(os.environ)
    env.pop("MCP_CONFORMANCE_CONTEXT", None)
    if "client_secret" in context:
        env[SECRET_ENV] = str(context["client_secret"])
    command = [sys.executable, "-m", "probe", "run", *probe_args(scenario, argv[0], context)]
    return subprocess.run(command, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
