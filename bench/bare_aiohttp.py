"""The framework's ceiling, for ``bench/stream.py``: the least an aiohttp server can do to serve a folder.

    python bench/bare_aiohttp.py ROOT PORT

No router beyond one route, no middleware, no checks: ``*.m3u8`` from bytes read at start-up, everything
else by ``FileResponse`` (sendfile), each with the same response headers kdrama-tui sends, so the bytes on
the wire match. What kdrama-tui reaches as a share of this is the cost of its own work (path and token
checks, caching, CORS); what this reaches as a share of nginx is the cost of aiohttp on this machine.
"""

from __future__ import annotations

import sys
from pathlib import Path

from aiohttp import web

HEADERS = {"Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff",
           "Access-Control-Allow-Origin": "*",
           "Access-Control-Expose-Headers": "Content-Length, Content-Range, Accept-Ranges, ETag, Last-Modified"}
PLAYLIST_HEADERS = {**HEADERS, "Content-Type": "application/vnd.apple.mpegurl", "Cache-Control": "public, max-age=5",
                    "Last-Modified": "Thu, 26 Nov 2026 10:00:00 GMT", "ETag": '"0123456789abcdef0123"'}
SEGMENT_HEADERS = {**HEADERS, "Content-Type": "video/iso.segment",
                   "Cache-Control": "public, max-age=31536000, immutable"}


def make_app(root: Path) -> web.Application:
    playlists = {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*.m3u8")}

    async def serve(request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        body = playlists.get(path)
        if body is not None:
            return web.Response(body=body, headers=PLAYLIST_HEADERS)
        return web.FileResponse(root / path, chunk_size=256 * 1024, headers=SEGMENT_HEADERS)

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/{path:.+}", serve)
    return app


if __name__ == "__main__":
    web.run_app(make_app(Path(sys.argv[1])), host="127.0.0.1", port=int(sys.argv[2]), access_log=None, print=None)
