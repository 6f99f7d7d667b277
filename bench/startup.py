"""Start-up and list+call cost of agentcore-probe, side by side with the MCP Inspector CLI.

Usage:  python bench/startup.py [--runs N] [--inspector PATH]

Serves one in-process MCP server (the official SDK's server side) on 127.0.0.1, then runs,
interleaved so machine noise hits every contender alike:
  - `agentcore-probe --help`
  - `agentcore-probe run URL --call TOOL` (initialize + tools/list + tools/call, one process)
  - the Inspector CLI doing the same two requests (tools/list, then tools/call: two processes),
    when found (`--inspector`, $INSPECTOR_BIN, or ./node_modules/.bin/mcp-inspector;
    install with `npm install @modelcontextprotocol/inspector`).
Prints medians and the ratios measured in this one run; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path


def serve() -> tuple[str, object]:
    import mcp_types as types
    import uvicorn
    from mcp.server.lowlevel import Server
    from mcp.server.transport_security import TransportSecuritySettings

    async def list_tools(ctx: object, params: object) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[types.Tool(name="Bench___echo", inputSchema={"type": "object"})])

    async def call_tool(ctx: object, params: types.CallToolRequestParams) -> types.CallToolResult:
        return types.CallToolResult(content=[types.TextContent(type="text", text="echo")])

    app = Server("bench", on_list_tools=list_tools, on_call_tool=call_tool).streamable_http_app(
        json_response=True, transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    return f"http://127.0.0.1:{port}/mcp", server


def timed(argv: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{argv[0]} failed ({proc.returncode}): {proc.stderr.decode()[-300:]}")
    return elapsed


def find_inspector(given: str | None) -> str | None:
    for candidate in (given, os.environ.get("INSPECTOR_BIN"), "node_modules/.bin/mcp-inspector"):
        if candidate and Path(candidate).exists():
            return str(Path(candidate).resolve())
    return shutil.which("mcp-inspector")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--inspector")
    args = ap.parse_args()
    url, _server = serve()
    probe = [sys.executable, "-m", "probe"]
    inspector = find_inspector(args.inspector)
    contenders: dict[str, list[list[str]]] = {
        "agentcore-probe --help": [[*probe, "--help"]],
        "agentcore-probe run (list+call)": [[*probe, "run", url, "--call", "Bench___echo", "--no-color"]],
    }
    if inspector:
        base = [inspector, "--cli", url, "--transport", "http", "--method"]
        contenders["inspector --cli (list, then call)"] = [
            [*base, "tools/list"], [*base, "tools/call", "--tool-name", "Bench___echo"]]
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for cmds in contenders.values():  # warm caches once, untimed
        for c in cmds:
            timed(c)
    for _ in range(args.runs):
        for name, cmds in contenders.items():
            times[name].append(sum(timed(c) for c in cmds))
    med = {name: statistics.median(v) for name, v in times.items()}
    print(f"{args.runs} interleaved runs each, medians (min-max):")
    for name, v in times.items():
        print(f"  {name:<36} {med[name] * 1000:7.0f} ms  ({min(v) * 1000:.0f}-{max(v) * 1000:.0f})")
    run = med["agentcore-probe run (list+call)"]
    if inspector:
        insp = med["inspector --cli (list, then call)"]
        print(f"ratio probe list+call / inspector list+call: {run / insp:.2f} (goal: < 0.50)")
    else:
        print("Inspector CLI not found: no ratio (see --inspector)")
    print(f"ratio probe --help / probe list+call: {med['agentcore-probe --help'] / run:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
