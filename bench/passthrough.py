"""The floor a Python proxy can reach: a bare aiohttp passthrough, no monitoring, no parsing.

Serves POST /v1/{path} with aiohttp's web server on uvloop and relays the body to the upstream
over a pooled keep-alive session, passing the status and body back (an SSE answer chunk by
chunk, as it arrives). A baseline for the benchmark, not a product.
Usage: python -m bench.passthrough --port P --upstream URL
"""

from __future__ import annotations

import argparse

import aiohttp
import uvloop
from aiohttp import web


def make_app(upstream: str) -> web.Application:
    app = web.Application()

    async def start(app: web.Application) -> None:
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=4.0)
        app["session"] = aiohttp.ClientSession(connector=connector, auto_decompress=False)

    async def stop(app: web.Application) -> None:
        await app["session"].close()

    async def relay(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        session: aiohttp.ClientSession = request.app["session"]
        async with session.post(
            f"{upstream}/{request.match_info['path']}",
            data=body,
            headers={"Content-Type": "application/json"},
        ) as resp:
            if resp.content_type != "text/event-stream":
                return web.Response(
                    body=await resp.read(), status=resp.status, content_type="application/json"
                )
            out = web.StreamResponse(status=resp.status)
            out.content_type = "text/event-stream"
            await out.prepare(request)
            async for chunk in resp.content.iter_any():  # relayed as it arrives
                await out.write(chunk)
            await out.write_eof()
            return out

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    app.router.add_post("/v1/{path:.*}", relay)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="bare aiohttp passthrough proxy (baseline)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="e.g. http://127.0.0.1:9101/v1")
    args = parser.parse_args(argv)
    uvloop.install()
    web.run_app(make_app(args.upstream.rstrip("/")), host="127.0.0.1", port=args.port,
                access_log=None, print=None)  # fmt: skip


if __name__ == "__main__":
    main()
