"""One `agentcore-probe run --call` against two floors doing exactly the same requests, as whole processes.

Usage:  python bench/floors.py [--runs N]

The same requests every time: initialize, notifications/initialized, every tools/list page,
tools/call, against one loopback MCP server (tests/support/latency_server.py, no added
latency). Contenders, interleaved so machine noise hits each alike:
  - stdlib floor: http.client and json only (the least any Python client can do);
  - httpx2 floor: a bare httpx2.AsyncClient script (the least this project's own stack can do);
  - agentcore-probe run URL --call Bench___echo --no-iam.
Prints medians and the ratios measured in this one run; asserts nothing.

The project's bytecode is compiled first (`compileall`), as `pip install` does for a real
install: where PYTHONDONTWRITEBYTECODE is set (as on these machines), an editable checkout
would otherwise recompile every module of the probe on every start, which no installed
probe does, while the floors import only precompiled stdlib and site-packages modules.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.latency_server import LatencyServer  # noqa: E402

sys.path.insert(0, str(REPO / "bench"))
from startup import timed  # noqa: E402  (one way to time a whole process, shared with bench/startup.py)

STDLIB = r'''
import http.client, json, sys
from urllib.parse import urlsplit
u = urlsplit(sys.argv[1]); conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
H = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
def post(msg, extra=None):
    conn.request("POST", u.path, json.dumps(msg), {**H, **(extra or {})}); r = conn.getresponse()
    body = r.read(); return r, (json.loads(body) if body else None)
r, init = post({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25",
               "capabilities": {}, "clientInfo": {"name": "floor", "version": "1"}}})
s = {"mcp-session-id": r.getheader("mcp-session-id") or "", "mcp-protocol-version": "2025-11-25"}
post({"jsonrpc": "2.0", "method": "notifications/initialized"}, s)
cursor, i, tools = None, 2, []
while True:
    _, page = post({"jsonrpc": "2.0", "id": i, "method": "tools/list", "params": {"cursor": cursor} if cursor else {}}, s)
    tools += [t["name"] for t in page["result"]["tools"]]; cursor = page["result"].get("nextCursor"); i += 1
    if not cursor: break
_, out = post({"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": "Bench___echo", "arguments": {}}}, s)
assert out["result"]["isError"] is False
'''

HTTPX2 = r'''
import asyncio, json, sys, httpx2
H = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
async def main(url):
    async with httpx2.AsyncClient(timeout=10) as c:
        r = await c.post(url, content=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "floor", "version": "1"}}}), headers=H)
        s = {**H, "mcp-session-id": r.headers.get("mcp-session-id", ""), "mcp-protocol-version": "2025-11-25"}
        await c.post(url, content=json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}), headers=s)
        cursor, i = None, 2
        while True:
            page = (await c.post(url, content=json.dumps({"jsonrpc": "2.0", "id": i, "method": "tools/list",
                    "params": {"cursor": cursor} if cursor else {}}), headers=s)).json()
            cursor = page["result"].get("nextCursor"); i += 1
            if not cursor: break
        out = (await c.post(url, content=json.dumps({"jsonrpc": "2.0", "id": i, "method": "tools/call",
               "params": {"name": "Bench___echo", "arguments": {}}}), headers=s)).json()
        assert out["result"]["isError"] is False
asyncio.run(main(sys.argv[1]))
'''


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    import compileall

    compileall.compile_dir(str(REPO / "probe"), quiet=1, force=False)
    with tempfile.TemporaryDirectory() as tmp, LatencyServer(latency_s=0.0) as url:
        stdlib, httpx2 = Path(tmp, "stdlib_floor.py"), Path(tmp, "httpx2_floor.py")
        stdlib.write_text(STDLIB)
        httpx2.write_text(HTTPX2)
        contenders = {
            "stdlib floor (http.client)": [sys.executable, str(stdlib), url],
            "httpx2 floor (bare AsyncClient)": [sys.executable, str(httpx2), url],
            "agentcore-probe run --call": [sys.executable, "-m", "probe", "run", url, "--call", "Bench___echo",
                                           "--no-iam", "--no-color"],
        }
        times: dict[str, list[float]] = {name: [] for name in contenders}
        for argv in contenders.values():  # warm the page cache once, untimed
            timed(argv)
        for _ in range(args.runs):
            for name, argv in contenders.items():
                times[name].append(timed(argv))
    med = {name: statistics.median(ts) for name, ts in times.items()}
    print(f"{'contender':<34} {'median':>9} {'min':>9} {'max':>9}   ({args.runs} interleaved runs)")
    for name, ts in times.items():
        print(f"{name:<34} {med[name] * 1000:>7.0f}ms {min(ts) * 1000:>7.0f}ms {max(ts) * 1000:>7.0f}ms")
    probe = med["agentcore-probe run --call"]
    print(f"\nratio to the httpx2 floor: {probe / med['httpx2 floor (bare AsyncClient)']:.2f}  (goal <= 1.2)")
    print(f"ratio to the stdlib floor: {probe / med['stdlib floor (http.client)']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
