"""A fictional label website ("Northern Lights Records") to put behind the proxy.

The proxy needs a realistic upstream for demos, integration tests and
benchmarks: HTML pages (one carrying the label's own robots meta tag, so meta
merging can be shown), real media files (MP3 preview, PNG cover), the label's
own robots.txt and sitemap, and a large streamed download. Assets are loaded
with importlib.resources so the site works from an installed wheel.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from importlib.resources import files
from importlib.resources.abc import Traversable
from string import Template

from aiohttp import web
from aiohttp.typedefs import Handler

_PKG = "proxy.demo"
_CHUNK = 64 * 1024
_MIB = 1024 * 1024
_LARGE_DEFAULT_MB = 10
_LARGE_MAX_MB = 50

# path -> (template name, page title, extra <head> markup)
_PAGES: dict[str, tuple[str, str, str]] = {
    "/": ("home", "Northern Lights Records", ""),
    "/artists/": ("artists", "Artists | Northern Lights Records", ""),
    "/releases/aurora-ep": (
        "release",
        "Aurora EP | Northern Lights Records",
        # The label's own robots meta tag, kept so meta merging can be shown.
        '<meta name="robots" content="max-image-preview:large">\n',
    ),
    "/press/": ("press", "Press | Northern Lights Records", ""),
}
_STATIC: dict[str, tuple[str, str]] = {
    "/static/site.css": ("site.css", "text/css"),
    "/media/aurora-preview.mp3": ("media/aurora-preview.mp3", "audio/mpeg"),
    "/media/aurora-cover.png": ("media/aurora-cover.png", "image/png"),
}


def _static_dir() -> Traversable:
    return files(_PKG).joinpath("static")


def _template(name: str) -> Template:
    path = _static_dir().joinpath("templates", name)
    return Template(path.read_text(encoding="utf-8"))


def _large_chunk(index: int) -> bytes:
    """Chunk `index` of /large/demo.bin: deterministic and position-dependent.

    Each 64 KiB chunk is a SHA-256 counter stream seeded by its index, so a
    client can recompute any chunk to detect truncation, reordering or
    corruption by an intermediary.
    """
    seed = index.to_bytes(8, "big")
    blocks = (hashlib.sha256(seed + n.to_bytes(4, "big")).digest() for n in range(_CHUNK // 32))
    return b"".join(blocks)


MediaStamp = Callable[[str, str, bytes], bytes]
"""(route, content type, body) -> body: what `optout demo` does to the cover and preview."""


class _Site:
    """Holds the pre-rendered pages and assets; its methods are the handlers."""

    def __init__(self, media: MediaStamp | None = None) -> None:
        base = _template("base.html")
        self.pages: dict[str, bytes] = {}
        for path, (name, title, head_extra) in _PAGES.items():
            self.pages[path] = self._render(base, name, title, head_extra)
        self.not_found = self._render(base, "not_found", "Not found | Northern Lights Records", "")
        self.robots = _template("robots.txt")
        self.assets: dict[str, tuple[bytes, str]] = {
            route: (_static_dir().joinpath(*rel.split("/")).read_bytes(), ctype)
            for route, (rel, ctype) in _STATIC.items()
        }
        if media is not None:
            for route, (body, ctype) in self.assets.items():
                if route.startswith("/media/"):
                    self.assets[route] = (media(route, ctype, body), ctype)

    @staticmethod
    def _render(base: Template, name: str, title: str, head_extra: str) -> bytes:
        body = _template(f"{name}.html").template
        html = base.substitute(title=title, head_extra=head_extra, body=body)
        return html.encode("utf-8")

    async def page(self, request: web.Request) -> web.Response:
        return web.Response(
            body=self.pages[request.path], content_type="text/html", charset="utf-8"
        )

    async def asset(self, request: web.Request) -> web.Response:
        body, ctype = self.assets[request.path]
        return web.Response(
            body=body,
            content_type=ctype,
            headers={"Cache-Control": "public, max-age=3600"},
        )

    async def robots_txt(self, request: web.Request) -> web.Response:
        text = self.robots.substitute(base=f"{request.scheme}://{request.host}")
        return web.Response(text=text, content_type="text/plain", charset="utf-8")

    async def sitemap(self, request: web.Request) -> web.Response:
        base = f"{request.scheme}://{request.host}"
        urls = "".join(f"  <url><loc>{base}{path}</loc></url>\n" for path in _PAGES)
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
            f"{urls}</urlset>\n"
        )
        return web.Response(text=xml, content_type="application/xml", charset="utf-8")

    async def large(self, request: web.Request) -> web.StreamResponse:
        raw = request.query.get("mb", str(_LARGE_DEFAULT_MB))
        if not raw.isdigit() or not 1 <= int(raw) <= _LARGE_MAX_MB:
            raise web.HTTPBadRequest(text=f"mb must be an integer 1..{_LARGE_MAX_MB}\n")
        size = int(raw) * _MIB
        resp = web.StreamResponse(headers={"Content-Type": "audio/mpeg"})
        resp.content_length = size
        await resp.prepare(request)
        if request.method != "HEAD":
            for index in range(size // _CHUNK):
                await resp.write(_large_chunk(index))
        await resp.write_eof()
        return resp

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok", content_type="text/plain")

    @web.middleware
    async def html_404(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPNotFound:
            return web.Response(
                status=404,
                body=self.not_found,
                content_type="text/html",
                charset="utf-8",
            )


def make_app(media: MediaStamp | None = None) -> web.Application:
    """Build the demo label site; all assets are read (and `media` stamped) once, here."""
    site = _Site(media)
    app = web.Application(middlewares=[site.html_404])
    for path in _PAGES:
        app.router.add_get(path, site.page)
    for path in _STATIC:
        app.router.add_get(path, site.asset)
    app.router.add_get("/robots.txt", site.robots_txt)
    app.router.add_get("/sitemap.xml", site.sitemap)
    app.router.add_get("/large/demo.bin", site.large)
    app.router.add_get("/healthz", site.healthz)
    return app


async def serve(host: str, port: int, media: MediaStamp | None = None) -> web.AppRunner:
    """Start the site on host:port (0 picks a free port; see bound_port).

    The caller owns the returned runner and must `await runner.cleanup()`.
    """
    runner = web.AppRunner(make_app(media))
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner


def bound_port(runner: web.AppRunner) -> int:
    """The TCP port the runner's first site is listening on."""
    addresses = runner.addresses
    if not addresses:
        raise RuntimeError("runner is not listening; call serve() first")
    return int(addresses[0][1])
