"""Drive `orderdesk-mcp serve` with the official Python MCP SDK (`mcp` on PyPI) over
streamable HTTP, and print what the SDK saw as one JSON object on stdout.

Works with both majors of the SDK: 1.x speaks the session era (initialize, Mcp-Session-Id);
2.x probes `server/discover` and speaks the stateless 2026-07-28 revision.

    python mcp_http_client.py URL [--bearer KEY] [--header NAME=VALUE]... [--list]
                              [--call TOOL ARGS_JSON]...

Printed: {"sdk", "protocol_version", "tools"?, "calls": [{tool, isError, structuredContent,
text}]}; or, when the SDK fails to connect or call, {"sdk", "failed": {type, message,
http_status}} with exit code 2 (http_status: the first HTTP error status met). Every run
is bounded in time, so a hang is a failure too.
"""

import argparse
import asyncio
import json
import sys
from importlib.metadata import version

SDK = version("mcp")
MAJOR = int(SDK.split(".")[0])
TIMEOUT_SECONDS = 30


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--bearer")
    parser.add_argument("--header", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--list", action="store_true", help="list the tools")
    parser.add_argument("--call", action="append", nargs=2, default=[], metavar=("TOOL", "ARGS_JSON"))
    return parser.parse_args()


def headers_of(args):
    headers = dict(h.split("=", 1) for h in args.header)
    if args.bearer:
        headers["Authorization"] = f"Bearer {args.bearer}"
    return headers


def status_hooks(out):
    """httpx event hooks that note every HTTP error status the SDK met: 2.x turns a 401 into
    the JSON-RPC error of its body and keeps no status, so the transport is asked instead."""

    async def note(response):
        if response.status_code >= 400:
            out.setdefault("http_errors", []).append(response.status_code)

    return {"response": [note]}


def result_json(tool, result):
    # 1.x names the fields as the wire does; 2.x in snake case.
    is_error = getattr(result, "isError", None) or getattr(result, "is_error", None)
    structured = getattr(result, "structuredContent", getattr(result, "structured_content", None))
    return {
        "tool": tool,
        "isError": bool(is_error),
        "structuredContent": structured,
        "text": [c.text for c in result.content if getattr(c, "type", None) == "text"],
    }


async def run_v1(args, out):
    """mcp 1.x: ClientSession over the session-era transport."""
    import httpx
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async with httpx.AsyncClient(
        headers=headers_of(args), timeout=TIMEOUT_SECONDS, event_hooks=status_hooks(out)
    ) as http:
        async with streamable_http_client(args.url, http_client=http) as (read, write, session_id):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                out["protocol_version"] = init.protocolVersion
                out["session_id"] = session_id() is not None
                if args.list:
                    out["tools"] = [t.name for t in (await session.list_tools()).tools]
                for tool, arguments in args.call:
                    result = await session.call_tool(tool, json.loads(arguments))
                    out["calls"].append(result_json(tool, result))


async def run_v2(args, out):
    """mcp 2.x: the unified Client, which discovers the newest revision the server has."""
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async with httpx2.AsyncClient(
        headers=headers_of(args), timeout=TIMEOUT_SECONDS, event_hooks=status_hooks(out)
    ) as http:
        transport = streamable_http_client(args.url, http_client=http)
        async with Client(transport, mode="auto", cache=None) as client:
            out["protocol_version"] = client.protocol_version
            if args.list:
                out["tools"] = [t.name for t in (await client.list_tools()).tools]
            for tool, arguments in args.call:
                result = await client.call_tool(tool, json.loads(arguments))
                out["calls"].append(result_json(tool, result))


def causes(error):
    """The error and what it wraps (exception groups, causes), depth first."""
    seen, stack = set(), [error]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        stack.extend(getattr(e, "exceptions", ()))
        stack.append(e.__cause__)


def reported(error):
    """The error to report: the SDK's own (an HTTP status error, an MCP error), not the task
    group around it nor the cancellations it caused."""
    leaves = [e for e in causes(error) if not getattr(e, "exceptions", None)]
    for e in leaves:
        if not isinstance(e, (asyncio.CancelledError, GeneratorExit)) and "Cancelled" not in type(e).__name__:
            return e
    return leaves[0] if leaves else error


async def main():
    args = parse_args()
    out = {"sdk": SDK, "calls": []}
    run = run_v1 if MAJOR < 2 else run_v2
    try:
        await asyncio.wait_for(run(args, out), TIMEOUT_SECONDS)
    except BaseException as error:  # the SDK wraps failures in exception groups
        if isinstance(error, KeyboardInterrupt):
            raise
        e = reported(error)
        out["failed"] = {
            "type": type(e).__name__,
            "message": str(e) or repr(e),
            "http_status": (out.get("http_errors") or [None])[0],
        }
        print(json.dumps(out))
        sys.exit(2)
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main())
