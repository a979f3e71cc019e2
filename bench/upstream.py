"""The origin every configuration proxies to: one aiohttp process, no access log.

`/page` is exactly 5,120 bytes of HTML (the optout pipeline buffers HTML, so the
page size matters); `/big.mp3` is 10 MiB of audio/mpeg with a Content-Length,
written in 64 KiB chunks so the proxies see a real streamed download.

Run as `python -m bench.upstream [PORT]`; it prints `PORT` on stdout once bound.
"""

from __future__ import annotations

import asyncio
import os
import sys

from aiohttp import web

PAGE_SIZE = 5 * 1024
BIG_SIZE = 10 * 1024 * 1024
CHUNK = 64 * 1024


def make_page() -> bytes:
    head = b"<!doctype html><html><head><meta charset=utf-8><title>Release</title></head><body>"
    tail = b"</body></html>\n"
    filler = b"<p>Northern Lights Records: new release notes and tracklist.</p>\n"
    body = (filler * (PAGE_SIZE // len(filler) + 1))[: PAGE_SIZE - len(head) - len(tail)]
    page = head + body + tail
    if len(page) != PAGE_SIZE:
        raise RuntimeError(f"page is {len(page)} bytes, not {PAGE_SIZE}")
    return page


def make_app() -> web.Application:
    page = make_page()
    big = memoryview(os.urandom(BIG_SIZE))

    async def serve_page(request: web.Request) -> web.Response:
        return web.Response(body=page, content_type="text/html", charset="utf-8")

    async def serve_big(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "audio/mpeg"})
        response.content_length = BIG_SIZE
        await response.prepare(request)
        for start in range(0, BIG_SIZE, CHUNK):
            await response.write(big[start : start + CHUNK])
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/page", serve_page)
    app.router.add_get("/big.mp3", serve_big)
    return app


async def serve(port: int) -> None:
    runner = web.AppRunner(make_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=1024)
    await site.start()
    print(runner.addresses[0][1], flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    try:
        asyncio.run(serve(port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
