"""The official SDK's own server failing: what any MCP server (not only AgentCore) answers.

The lab covers AgentCore's shapes; this covers the SDK's generic failure path, so
`server_error` is proven against a real MCP server over loopback, not only raw sockets.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import pytest

from probe.cli import main


@pytest.fixture(scope="module")
def failing_server() -> Iterator[str]:
    import logging

    import mcp_types as types
    import uvicorn
    from mcp.server.lowlevel import Server

    async def list_tools(ctx: object, params: object) -> types.ListToolsResult:
        raise RuntimeError("the tool catalogue is unavailable")

    logging.getLogger("mcp").setLevel(logging.CRITICAL)  # the handler's traceback is expected here
    app = Server("failing", on_list_tools=list_tools).streamable_http_app(json_response=True)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/mcp"
    server.should_exit = True
    thread.join(5)


def test_sdk_internal_error_is_server_error_and_retried(failing_server, capsys) -> None:
    code = main(["run", failing_server, "--format", "json", "--retries", "1", "--max-retry-time", "20"])
    report = json.loads(capsys.readouterr().out)
    assert (code, report["outcome"]) == (60, "server_error")
    step = report["steps"][-1]
    assert step["method"] == "tools/list"
    assert step["attempts"] == 2
    assert "the tool catalogue is unavailable" in step["message"]
