"""``AdminClient``: the dashboard's only way to the system, over the HTTP admin API.

The same client serves the all-in-one process (it talks to its own server on loopback with the in-memory
local admin token) and ``kdrama-tui console`` attached to a server elsewhere (an API key, or a login that
yields JWTs). Every failure, from a refused connection to a 409, becomes one :class:`ApiError` with a
message fit for a notification.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from kdrama_tui.tui.results import ApiKey, Comment, Job, Upload, User, VideoDetail, VideoPage

DEFAULT_URL = "http://127.0.0.1:8080"


class ApiError(Exception):
    """A failed call: HTTP status (0 when the server was not reached), the API's error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message


class AdminClient:
    def __init__(self, base_url: str = DEFAULT_URL, *, api_key: str | None = None,
                 access_token: str | None = None, refresh_token: str | None = None,
                 timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.access_token = access_token
        self.refresh_token = refresh_token
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._refresh_lock = asyncio.Lock()

    # ---- plumbing ----------------------------------------------------------------------------------
    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # No total timeout on the session: the event stream lives as long as the dashboard does.
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, connect=10))
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    def _auth_headers(self) -> dict[str, str]:
        if self.api_key:
            return {"X-API-Key": self.api_key}
        if self.access_token:
            return {"Authorization": f"Bearer {self.access_token}"}
        return {}

    @staticmethod
    async def _error_from(response: aiohttp.ClientResponse) -> ApiError:
        text = await response.text(errors="replace")
        code, message = "http_error", text.strip()[:300] or response.reason or f"HTTP {response.status}"
        try:
            body = json.loads(text)
            error = body.get("error") if isinstance(body, dict) else None
            if isinstance(error, dict):
                code = str(error.get("code") or code)
                message = str(error.get("message") or message)
        except ValueError:
            pass
        return ApiError(response.status, code, message)

    def _unreachable(self, exc: BaseException) -> ApiError:
        if isinstance(exc, TimeoutError):
            return ApiError(0, "timeout", f"{self.base_url} did not answer within {self.timeout:g} s")
        return ApiError(0, "unreachable", f"cannot reach {self.base_url}: {exc}")

    async def request(self, method: str, path: str, *, json_body: Any = None,
                      params: dict[str, Any] | None = None, retry_auth: bool = True,
                      time_limit: float | None = None) -> Any:
        """Call the API; the decoded JSON (None for 204), or ApiError."""
        query = {k: str(v) for k, v in (params or {}).items() if v is not None}
        used_token = self.access_token
        try:
            async with self.session.request(
                    method, self.base_url + path, json=json_body, params=query, headers=self._auth_headers(),
                    timeout=aiohttp.ClientTimeout(total=time_limit or self.timeout)) as response:
                if response.status == 401 and retry_auth and await self._refresh(used_token):
                    return await self.request(method, path, json_body=json_body, params=params, retry_auth=False,
                                              time_limit=time_limit)
                if response.status >= 400:
                    raise await self._error_from(response)
                if response.status == 204:
                    return None
                try:
                    return await response.json(content_type=None)
                except ValueError:
                    raise ApiError(response.status, "bad_response", f"{path} did not answer JSON") from None
        except ApiError:
            raise
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise self._unreachable(exc) from None

    async def _refresh(self, expired: str | None) -> bool:
        """Swap an expired access token for a new pair; False when there is nothing to refresh with."""
        if self.api_key or not self.refresh_token:
            return False
        async with self._refresh_lock:
            if self.access_token != expired:
                return True  # another call refreshed while this one waited: rotating again would be waste
            old = self.refresh_token
            try:
                pair = await self.request("POST", "/api/auth/refresh", json_body={"refresh_token": old},
                                          retry_auth=False)
            except ApiError:
                return False
            self.access_token = pair.get("access_token")
            self.refresh_token = pair.get("refresh_token")
            return bool(self.access_token)

    # ---- auth ----------------------------------------------------------------------------------------
    async def login(self, login: str, password: str) -> None:
        """Password login (POST /api/auth/login): the client then carries the JWT pair."""
        field = "email" if "@" in login else "username"
        try:
            pair = await self.request("POST", "/api/auth/login", json_body={field: login, "password": password},
                                      retry_auth=False)
        except ApiError as exc:
            if exc.status in (404, 405):
                raise ApiError(exc.status, "login_unavailable",
                               "this server has no password login; sign in with an API key") from None
            raise
        self.api_key = None
        self.access_token = pair.get("access_token")
        self.refresh_token = pair.get("refresh_token")

    async def logout(self) -> None:
        if self.refresh_token:
            with contextlib.suppress(ApiError):  # the session ends on this side either way
                await self.request("POST", "/api/auth/logout", json_body={"refresh_token": self.refresh_token},
                                   retry_auth=False)
        self.access_token = self.refresh_token = None

    # ---- dashboard -----------------------------------------------------------------------------------
    async def stats(self) -> dict[str, Any]:
        return await self.request("GET", "/api/admin/stats")

    async def settings(self) -> dict[str, Any]:
        return await self.request("GET", "/api/admin/settings")

    async def logs(self, level: str = "INFO", limit: int = 500, after: int = 0) -> list[dict[str, Any]]:
        body = await self.request("GET", "/api/admin/logs", params={"level": level, "limit": limit, "after": after})
        return body["items"]

    async def recent_events(self, history: int = 50) -> list[dict[str, Any]]:
        return (await self.request("GET", "/api/admin/events", params={"history": history}))["items"]

    async def stream(self, *, history: int = 50, after: int = 0, boot: str | None = None,
                     logs: str | None = "INFO") -> AsyncIterator[dict[str, Any]]:
        """Live events (and log records) from /api/admin/events until the connection ends."""
        params: dict[str, Any] = {"history": history, "after": after}
        if boot:
            params["boot"] = boot
        if logs:
            params["logs"] = logs
        url = f"{self.base_url}/api/admin/events"
        query = {k: str(v) for k, v in params.items()}
        for attempt in (1, 2):
            used_token = self.access_token
            try:
                async with self.session.ws_connect(url, params=query, headers=self._auth_headers(),
                                                   heartbeat=30.0) as ws:
                    async for message in ws:
                        if message.type != aiohttp.WSMsgType.TEXT:
                            break  # CLOSE, CLOSING, ERROR: the stream is over
                        try:
                            item = json.loads(message.data)
                        except ValueError:
                            continue
                        if isinstance(item, dict):
                            yield item
                return
            except aiohttp.WSServerHandshakeError as exc:
                if exc.status == 401 and attempt == 1 and await self._refresh(used_token):
                    continue
                code = {401: "unauthorized", 403: "forbidden"}.get(exc.status, "http_error")
                text = {401: "the server did not accept these credentials",
                        403: "admin rights required"}.get(exc.status, f"event stream refused: {exc.message}")
                raise ApiError(exc.status, code, text) from None
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                raise self._unreachable(exc) from None

    # ---- users ---------------------------------------------------------------------------------------
    async def me(self) -> dict[str, Any]:
        return await self.request("GET", "/api/me")

    async def users(self) -> list[User]:
        return User.many((await self.request("GET", "/api/admin/users"))["items"])

    async def create_user(self, username: str, email: str, password: str, role: str = "user") -> dict[str, Any]:
        return await self.request("POST", "/api/admin/users", json_body={
            "username": username, "email": email, "password": password, "role": role})

    async def update_user(self, user_id: int, **changes: Any) -> dict[str, Any]:
        return await self.request("PATCH", f"/api/admin/users/{int(user_id)}", json_body=changes)

    # ---- API keys ------------------------------------------------------------------------------------
    async def api_keys(self, user_id: int | None = None) -> list[ApiKey]:
        return ApiKey.many((await self.request("GET", "/api/admin/api-keys", params={"user_id": user_id}))["items"])

    async def issue_api_key(self, user_id: int, name: str = "", expires_days: float | None = None
                            ) -> dict[str, Any]:
        """``{"key": plaintext (shown once), "api_key": {...}}``."""
        return await self.request("POST", "/api/admin/api-keys", json_body={
            "user_id": int(user_id), "name": name, "expires_days": expires_days})

    async def revoke_api_key(self, key_id: int) -> None:
        await self.request("DELETE", f"/api/admin/api-keys/{int(key_id)}")

    # ---- uploads -------------------------------------------------------------------------------------
    async def uploads(self) -> list[Upload]:
        return Upload.many((await self.request("GET", "/api/admin/uploads"))["items"])

    async def abort_upload(self, upload_id: int) -> None:
        await self.request("DELETE", f"/api/admin/uploads/{int(upload_id)}")

    # ---- videos --------------------------------------------------------------------------------------
    async def videos(self, *, q: str | None = None, status: str | None = None, page: int = 1,
                     per_page: int = 100) -> VideoPage:
        """A page of videos, newest first (admins see every video)."""
        return VideoPage.from_json(await self.request("GET", "/api/videos", params={
            "q": q or None, "status": status or None, "page": page, "per_page": per_page}))

    async def video_detail(self, video_id: int) -> VideoDetail:
        return VideoDetail.from_json(await self.request("GET", f"/api/admin/videos/{int(video_id)}"))

    async def update_video(self, video_id: int, **changes: Any) -> dict[str, Any]:
        return await self.request("PATCH", f"/api/videos/{int(video_id)}", json_body=changes)

    async def delete_video(self, video_id: int) -> None:
        await self.request("DELETE", f"/api/videos/{int(video_id)}")

    async def playback(self, video_id: int) -> dict[str, Any]:
        return await self.request("GET", f"/api/videos/{int(video_id)}/playback")

    async def retry_transcode(self, video_id: int) -> dict[str, Any]:
        return await self.request("POST", f"/api/videos/{int(video_id)}/transcode")

    # ---- jobs ----------------------------------------------------------------------------------------
    async def jobs(self, status: str | None = None, limit: int = 500) -> list[Job]:
        """Jobs in queue order (running, queued by priority and age, then finished); ``status`` filters."""
        return Job.many((await self.request("GET", "/api/jobs",
                                            params={"status": status or None, "limit": limit}))["items"])

    async def set_job_priority(self, job_id: int, priority: int) -> dict[str, Any]:
        return await self.request("PATCH", f"/api/jobs/{int(job_id)}", json_body={"priority": int(priority)})

    async def cancel_job(self, job_id: int) -> dict[str, Any]:
        return await self.request("POST", f"/api/jobs/{int(job_id)}/cancel")

    # ---- backups -------------------------------------------------------------------------------------
    async def backups(self) -> dict[str, Any]:
        """``{"items", "running", "cloud_configured", "cloud_ready", "schedule", "warning"}``."""
        return await self.request("GET", "/api/admin/backups")

    async def run_backup(self, cloud: bool = False) -> dict[str, Any]:
        return await self.request("POST", "/api/admin/backups", json_body={"cloud": cloud})

    async def restore_backup(self, name: str) -> dict[str, Any]:
        return await self.request("POST", "/api/admin/backups/restore", json_body={"name": name},
                                  time_limit=600.0)  # a large backup is fetched and verified first

    # ---- comments ------------------------------------------------------------------------------------
    async def comments(self, state: str = "pending") -> list[Comment]:
        """Comments of every video with their video's title and author: pending, approved or all."""
        return Comment.many((await self.request("GET", "/api/admin/comments", params={"state": state}))["items"])

    async def moderate_comment(self, comment_id: int, approved: bool) -> dict[str, Any]:
        return await self.request("PATCH", f"/api/comments/{int(comment_id)}", json_body={"is_approved": approved})

    async def delete_comment(self, comment_id: int) -> None:
        await self.request("DELETE", f"/api/comments/{int(comment_id)}")

    # ---- series --------------------------------------------------------------------------------------
    async def series_page(self, *, q: str | None = None, limit: int = 100, offset: int = 0) -> dict[str, Any]:
        """``{"items", "total", "limit", "offset"}`` in title order (admins see every series)."""
        return await self.request("GET", "/api/series", params={"q": q or None, "limit": limit, "offset": offset})

    async def series_detail(self, series_id: int) -> dict[str, Any]:
        """A series with ``seasons: [{number, episodes: [...]}]`` in order."""
        return await self.request("GET", f"/api/series/{int(series_id)}")

    async def create_series(self, fields: dict[str, Any]) -> dict[str, Any]:
        return await self.request("POST", "/api/series", json_body=fields)

    async def update_series(self, series_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        return await self.request("PATCH", f"/api/series/{int(series_id)}", json_body=changes)

    async def delete_series(self, series_id: int) -> None:
        await self.request("DELETE", f"/api/series/{int(series_id)}")

    async def attach_episode(self, series_id: int, placement: dict[str, Any]) -> dict[str, Any]:
        """``placement``: video_id, season, episode, optional episode_end; 409 when the number is taken."""
        return await self.request("POST", f"/api/series/{int(series_id)}/episodes", json_body=placement)

    async def detach_episode(self, series_id: int, video_id: int) -> None:
        await self.request("DELETE", f"/api/series/{int(series_id)}/episodes/{int(video_id)}")

    async def renumber_episodes(self, series_id: int, moves: list[dict[str, Any]]) -> dict[str, Any]:
        """Only the episode fields change (no re-transcode); all or nothing, swaps allowed."""
        return await self.request("POST", f"/api/series/{int(series_id)}/renumber", json_body={"episodes": moves})

    async def set_segments(self, video_id: int, segments: list[dict[str, Any]]) -> dict[str, Any]:
        return await self.request("PUT", f"/api/videos/{int(video_id)}/segments", json_body={"segments": segments})

    async def set_season_segments(self, series_id: int, season: int, segments: list[dict[str, Any]]
                                  ) -> dict[str, Any]:
        return await self.request("PUT", f"/api/series/{int(series_id)}/seasons/{int(season)}/segments",
                                  json_body={"segments": segments})

    async def unmatched(self, limit: int = 200, offset: int = 0) -> dict[str, Any]:
        """Imported files not placed in a series: ``{"items": [{video, reason, source_name, show_title,
        season, episode, recorded_at}], "total"}``, oldest first."""
        return await self.request("GET", "/api/admin/unmatched", params={"limit": limit, "offset": offset})
