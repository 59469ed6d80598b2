"""Viewer pages: the catalog grid at ``/`` (a series is one card), ``/series/{id}`` and the player at
``/watch/{id}``, server-rendered. What a viewer has watched lives in their browser (static/watchstate.js).

Templates autoescape everything (titles, descriptions and comments are user text); the player's
settings go to the page as JSON in a non-executed script element. hls.js is served from this origin (never
a CDN): out of ``node_modules/hls.js/dist`` that ``npm ci`` installs in a checkout, or out of the copy
that an installed package carries in ``static/vendor/hls.js`` (setup.py puts it there at build time).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from aiohttp import web

from kdrama_tui.errors import DomainError, ValidationError
from kdrama_tui.models import Video
from kdrama_tui.server.keys import services
from kdrama_tui.server.requests import int_param
from kdrama_tui.services.catalog.service import ANONYMOUS
from kdrama_tui.services.container import Services

HERE = Path(__file__).resolve().parent.parent  # server/: static/ and templates/ sit beside routes/
STATIC_DIR = HERE / "static"
_CHECKOUT_HLSJS = HERE.parents[1] / "node_modules" / "hls.js" / "dist"
HLSJS_DIR = _CHECKOUT_HLSJS if _CHECKOUT_HLSJS.is_dir() else STATIC_DIR / "vendor" / "hls.js"

# hls.js runs its transmuxer in a worker made from a blob: URL, feeds <video> through MediaSource blobs and
# gives its subtitle <track>s an empty data: source.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "media-src 'self' blob: data:; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; "
       "base-uri 'none'; frame-ancestors 'self'; form-action 'self'")
PAGE_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "same-origin"}


def _duration(seconds: Any) -> str:
    try:
        total = int(seconds)
    except (TypeError, ValueError):
        return ""
    hours, rest = divmod(max(0, total), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


_env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                          undefined=jinja2.StrictUndefined)
_env.filters["duration"] = _duration


def render(template: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any) -> web.Response:
    context.setdefault("q", None)
    body = _env.get_template(template).render(**context)
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8",
                        headers={**PAGE_HEADERS, **(headers or {})})


def message(status: int, state: str, heading: str, text: str) -> web.Response:
    return render("message.html", status=status, state=state, heading=heading, text=text,
                  headers={"Cache-Control": "no-store"})


async def catalog_page(request: web.Request) -> web.Response:
    """The catalog: a grid of posters with search and genre/year filters."""
    svc = services(request)
    query = request.query
    q, genre = query.get("q", "").strip()[:200], query.get("genre", "").strip()
    try:
        year = int_param(query.get("year"), "year", 0, 1800, 2200) or None
        page = int_param(query.get("page"), "page", 1, 1, 100_000)
    except ValidationError:
        year, page = None, 1
    result = await svc.series.catalog_page(ANONYMOUS, q=q or None, genre=genre or None, year=year, page=page,
                                           per_page=24)
    facets = await svc.catalog.facets(ANONYMOUS)

    def page_url(number: int) -> str:
        params = {k: v for k, v in {"q": q, "genre": genre, "year": year or "", "page": number}.items() if v}
        return "/?" + urlencode(params)

    return render("catalog.html", q=q, genre=genre, year=year, result=result, facets=facets, page_url=page_url,
                  headers={"Cache-Control": "no-cache"})


async def watch_page(request: web.Request) -> web.Response:
    """The player page. A private video plays only with a valid ?token= (from the playback API)."""
    svc = services(request)
    raw = request.match_info["id"]
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        return message(404, "missing", "Not found", "There is no such video.")
    video_id = int(raw)
    access = await svc.playback.access(video_id)
    token = request.query.get("token") or None
    if access is None:
        return message(404, "missing", "Not found", "There is no such video.")
    if not access.is_public:
        if token is None:
            return message(403, "private", "This video is private",
                           "Only its owner can share it, with a link that carries a playback token.")
        try:
            svc.playback.tokens.verify(token, video_id)
        except DomainError:
            return message(403, "private", "This video is private",
                           "The link has expired or is not valid for this video. Ask its owner for a new one.")
    if not access.playable:
        return message(404 if access.status == "failed" else 200, "not-ready", "Not ready yet",
                       "This video is still being processed. Try again in a few minutes.")
    video = await svc.catalog.find(video_id)
    if video is None:
        return message(404, "missing", "Not found", "There is no such video.")
    urls = svc.playback.urls(access, token=token)  # the viewer's own link, not a new token
    series = await _series_of(svc, video)
    comments = await svc.comments.list(video_id, ANONYMOUS, token=token, limit=100)
    config = {
        "videoId": video_id, "hlsUrl": urls["hls_url"], "subtitles": urls["subtitles"],
        "thumbnailsVtt": urls["thumbnails_vtt_url"], "duration": access.duration_seconds,
        "viewsUrl": f"/api/videos/{video_id}/views", "seriesId": video.series_id if series else None,
        "segments": await svc.series.segments(video_id), "series": series,
        "commentsUrl": f"/api/videos/{video_id}/comments" + (f"?token={token}" if token else ""),
    }
    return render("watch.html", video=video, playback=urls, comments=comments, config=config, series=series,
                  comment_max_length=svc.settings.streaming.comment_max_length,
                  headers={"Cache-Control": "private, no-store" if token else "no-cache"})


async def _series_of(svc: Services, video: Video) -> dict[str, Any] | None:
    """The series of an episode as the series page shows it (its public, ready episodes), or None."""
    if video.series_id is None:
        return None
    try:
        return await svc.series.detail(video.series_id, ANONYMOUS)
    except DomainError:
        return None


async def series_page(request: web.Request) -> web.Response:
    """A series: poster, names, synopsis, and its seasons' episodes (watched marks come from the browser)."""
    svc = services(request)
    raw = request.match_info["id"]
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        return message(404, "missing", "Not found", "There is no such series.")
    try:
        series = await svc.series.detail(int(raw), ANONYMOUS)
    except DomainError:
        return message(404, "missing", "Not found", "There is no such series.")
    return render("series.html", series=series, headers={"Cache-Control": "no-cache"})


async def hlsjs_missing(request: web.Request) -> web.Response:
    """hls.js is not installed: say how to install it instead of a bare 404."""
    return web.Response(status=503, text="hls.js is missing: run `npm ci` in the project folder "
                        "(scripts/setup.sh does), or install a package built after it",
                        headers={"Cache-Control": "no-store"})


def setup(app: web.Application) -> None:
    app.router.add_get("/", catalog_page)
    app.router.add_get("/watch/{id}", watch_page)
    app.router.add_get("/series/{id}", series_page)
    if HLSJS_DIR.is_dir():
        app.router.add_static("/static/vendor/hls.js/", HLSJS_DIR)
    else:
        app.router.add_get("/static/vendor/hls.js/{name:.*}", hlsjs_missing)
    app.router.add_static("/static/", STATIC_DIR)
