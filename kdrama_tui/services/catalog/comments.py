"""Comments under videos.

Anyone may comment without an account. Moderation rule: comments from anonymous visitors start
**pending** (``is_approved = false``) and appear once an admin approves them; comments from a signed-in
account start approved. An admin hides a comment by setting ``is_approved`` back to false. Content is
stored as the visitor typed it (minus NUL and surrounding blanks) and escaped wherever it is shown.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from kdrama_tui.db import Database
from kdrama_tui.errors import NotFound, TooManyRequests, ValidationError
from kdrama_tui.events import EventBus
from kdrama_tui.models import Comment
from kdrama_tui.repositories import repos_of
from kdrama_tui.services.catalog.ratelimit import SlidingWindow
from kdrama_tui.services.catalog.service import Viewer
from kdrama_tui.services.playback.service import PlaybackService


def clean_content(value: Any, max_length: int) -> str:
    if not isinstance(value, str):
        raise ValidationError("content must be text", code="invalid_comment")
    text = "".join(ch for ch in value if ch in "\n\t" or unicodedata.category(ch) != "Cc").strip()
    if not text:
        raise ValidationError("a comment cannot be empty", code="invalid_comment")
    if len(text) > max_length:
        raise ValidationError(f"a comment can be at most {max_length} characters", code="comment_too_long")
    return text


class CommentService:
    def __init__(self, db: Database, events: EventBus, playback: PlaybackService, *, max_length: int,
                 per_ip_per_minute: int) -> None:
        self.db = db
        self.events = events
        self.playback = playback
        self.max_length = max_length
        self.limiter = SlidingWindow(per_ip_per_minute, 60.0)

    async def _check_visible(self, video_id: int, viewer: Viewer, token: str | None) -> None:
        """Comments belong to whoever can watch: public ready videos, else the owner, an admin, or the
        holder of a valid playback token for this video."""
        access = await self.playback.access(video_id)
        if access is None:
            raise NotFound("video not found")
        if viewer.admin or viewer.user_id == access.owner_id:
            return
        if access.status != "ready":
            raise NotFound("video not found")
        if not access.is_public:
            if token is None:
                raise NotFound("video not found")
            self.playback.tokens.verify(token, video_id)

    async def list(self, video_id: int, viewer: Viewer, *, token: str | None = None, include_pending: bool = False,
                   limit: int = 100, offset: int = 0) -> list[Comment]:
        await self._check_visible(video_id, viewer, token)
        return await repos_of(self.db).comments.find_by_video(
            video_id, approved_only=not (include_pending and viewer.admin), limit=limit, offset=offset)

    async def add(self, video_id: int, viewer: Viewer, content: Any, *, ip: str, token: str | None = None) -> Comment:
        await self._check_visible(video_id, viewer, token)
        text = clean_content(content, self.max_length)
        wait = self.limiter.hit(ip or "unknown")
        if wait:
            raise TooManyRequests("too many comments from this address; try again in a minute", retry_after=wait)
        comment = await repos_of(self.db).comments.create({
            "video_id": video_id, "user_id": viewer.user_id, "content": text,
            "is_approved": viewer.user_id is not None,
        })
        self.events.publish("comment.created", comment_id=comment.id, video_id=video_id,
                            is_approved=comment.is_approved)
        return comment

    async def pending(self, limit: int = 100, offset: int = 0) -> list[Comment]:
        return await repos_of(self.db).comments.pending(limit=limit, offset=offset)

    async def set_approved(self, comment_id: int, approved: Any) -> Comment:
        if not isinstance(approved, bool):
            raise ValidationError("is_approved must be true or false", code="invalid_input")
        comment = await repos_of(self.db).comments.update(comment_id, {"is_approved": approved})
        if comment is None:
            raise NotFound("comment not found")
        self.events.publish("comment.updated", comment_id=comment_id, video_id=comment.video_id,
                            is_approved=approved)
        return comment

    async def delete(self, comment_id: int) -> None:
        comment = await repos_of(self.db).comments.get(comment_id)
        await repos_of(self.db).comments.delete(comment_id)
        self.events.publish("comment.deleted", comment_id=comment_id, video_id=comment.video_id)


def comment_dict(comment: Comment) -> dict[str, Any]:
    return {"id": comment.id, "video_id": comment.video_id, "user_id": comment.user_id,
            "content": comment.content, "is_approved": comment.is_approved,
            "created_at": comment.created_at.isoformat() if comment.created_at else None}
