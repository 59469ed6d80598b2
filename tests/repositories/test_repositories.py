"""Repositories on both databases: CRUD for every table, the design's finders, filters, constraints, and
hostile text stored verbatim."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from kdrama_tui.db import Database
from kdrama_tui.errors import ReferenceViolation, UniqueViolation
from kdrama_tui.models import utcnow
from kdrama_tui.repositories import repos_of
from kdrama_tui.repositories.base import BaseRepository

NASTY = [
    "'; DROP TABLE users; --",
    "100% _match_ \\ escape",
    "%",
    "_",
    "\"double\" 'single' `back`",
    "유저 이름 🎬 ünïcödé ﷽",
    ":id :w0 $1 ? %s {0}",
    "line\nbreak\ttab",
]


async def test_smoke(db: Database) -> None:
    u = await repos_of(db).users.create({"username": "a", "email": "a@x.io", "password_hash": "h"})
    assert (await repos_of(db).users.find_by_username("a")).id == u.id
    v = await repos_of(db).videos.create({"title": "T", "uploader_user_id": u.id})
    f = await repos_of(db).video_files.create({"video_id": v.id, "file_type": "transcoded_360p",
                                               "storage_provider": "s3", "file_path": "x",
                                               "file_size": 1, "checksum": "c", "language": "ko"})
    assert f.language == "ko"


class World:
    """Creates valid rows for every table, each with its parents."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.n = 0

    def next(self) -> int:
        self.n += 1
        return self.n

    async def user(self, **kw: Any) -> Any:
        i = self.next()
        return await repos_of(self.db).users.create({"username": f"user{i}", "email": f"user{i}@example.com",
                                                 "password_hash": "$2b$04$hash", **kw})

    async def video(self, **kw: Any) -> Any:
        if "uploader_user_id" not in kw:
            kw["uploader_user_id"] = (await self.user()).id
        return await repos_of(self.db).videos.create({"title": f"Episode {self.next()}", **kw})

    async def api_key(self, **kw: Any) -> Any:
        if "user_id" not in kw:
            kw["user_id"] = (await self.user()).id
        return await repos_of(self.db).api_keys.create({"api_key": f"hash{self.next()}", **kw})

    async def key(self, **kw: Any) -> Any:
        if "user_id" not in kw:
            kw["user_id"] = (await self.user()).id
        return await repos_of(self.db).keys.create({"public_key": "pub", "private_key": "v1.sealed", **kw})

    async def upload(self, **kw: Any) -> Any:
        if "user_id" not in kw:
            kw["user_id"] = (await self.user()).id
        return await repos_of(self.db).uploads.create({"filename": "ep1.mkv", "total_size": 10, "total_chunks": 2,
                                                   "token": secrets.token_urlsafe(24), **kw})

    async def chunk(self, **kw: Any) -> Any:
        if "upload_id" not in kw:
            kw["upload_id"] = (await self.upload()).id
        return await repos_of(self.db).upload_chunks.create({"chunk_number": self.next(), "chunk_size": 5,
                                                         "checksum": "a" * 64, **kw})

    async def job(self, **kw: Any) -> Any:
        if "video_id" not in kw:
            kw["video_id"] = (await self.video()).id
        return await repos_of(self.db).jobs.create({"provider": "local_server", **kw})

    async def video_file(self, **kw: Any) -> Any:
        if "video_id" not in kw:
            kw["video_id"] = (await self.video()).id
        return await repos_of(self.db).video_files.create({"file_type": "original", "storage_provider": "local",
                                                       "file_path": f"originals/{self.next()}/source.mkv",
                                                       "file_size": 10, "checksum": "b" * 64, **kw})

    async def session(self, **kw: Any) -> Any:
        if "user_id" not in kw:
            kw["user_id"] = (await self.user()).id
        return await repos_of(self.db).sessions.create({"refresh_token": f"rt{self.next()}", "family_id": "fam",
                                                    "expires_at": utcnow() + timedelta(days=1), **kw})

    async def view(self, **kw: Any) -> Any:
        if "video_id" not in kw:
            kw["video_id"] = (await self.video()).id
        return await repos_of(self.db).analytics.create({"watch_duration": 30, **kw})

    async def comment(self, **kw: Any) -> Any:
        if "video_id" not in kw:
            kw["video_id"] = (await self.video()).id
        return await repos_of(self.db).comments.create({"content": "좋아요", **kw})


@pytest.fixture
def world(db: Database) -> World:
    return World(db)


# table -> (repository name, factory name, a column to change, its new value)
TABLES: dict[str, tuple[str, str, str, Any]] = {
    "users": ("users", "user", "email", "changed@example.com"),
    "videos": ("videos", "video", "title", "Changed title"),
    "api_keys": ("api_keys", "api_key", "name", "renamed"),
    "keys": ("keys", "key", "is_active", False),
    "uploads": ("uploads", "upload", "uploaded_chunks", [0, 1]),
    "upload_chunks": ("upload_chunks", "chunk", "status", "verified"),
    "transcoding_jobs": ("jobs", "job", "progress", 55),
    "video_files": ("video_files", "video_file", "mime_type", "video/x-matroska"),
    "user_sessions": ("sessions", "session", "user_agent", "Firefox"),
    "video_analytics": ("analytics", "view", "watch_duration", 99),
    "comments": ("comments", "comment", "is_approved", False),
}


@pytest.mark.parametrize("table", sorted(TABLES))
async def test_create_find_update_delete(db: Database, world: World, table: str) -> None:
    repo_name, factory, column, value = TABLES[table]
    repo: BaseRepository[Any] = getattr(repos_of(db), repo_name)
    created = await getattr(world, factory)()
    assert repo.table == table
    assert await repo.find_by_id(created.id) == created
    updated = await repo.update(created.id, {column: value})
    assert getattr(updated, column) == value
    assert await repo.find_by_id(created.id) == updated
    assert await repo.delete(created.id) is True
    assert await repo.find_by_id(created.id) is None
    assert await repo.delete(created.id) is False
    assert await repo.update(created.id, {column: value}) is None


async def test_updated_at_is_maintained(db: Database, world: World) -> None:
    user = await world.user()
    video = await world.video(uploader_user_id=user.id)
    await asyncio.sleep(0.01)
    later_user = await repos_of(db).users.update(user.id, {"role": "admin"})
    later_video = await repos_of(db).videos.update(video.id, {"status": "ready"})
    assert later_user.updated_at > user.updated_at and later_user.created_at == user.created_at
    assert later_video.updated_at > video.updated_at


async def test_user_finders(db: Database, world: World) -> None:
    alice = await world.user(username="alice", email="Alice@Example.com")
    await world.user(username="alicia", email="alicia@example.com")
    assert (await repos_of(db).users.find_by_username("alice")).id == alice.id
    assert await repos_of(db).users.find_by_username("ALICE") is None  # usernames are exact
    assert await repos_of(db).users.find_by_username("ali%") is None
    assert (await repos_of(db).users.find_by_email("alice@example.com")).id == alice.id  # emails ignore case
    assert await repos_of(db).users.find_by_email("a_ice@example.com") is None


async def test_video_finders_and_pagination(db: Database, world: World) -> None:
    owner, other = await world.user(), await world.user()
    mine = [await world.video(uploader_user_id=owner.id, status=s)
            for s in ("ready", "processing", "ready", "failed", "ready")]
    await world.video(uploader_user_id=other.id, status="ready")
    by_owner = await repos_of(db).videos.find_by_uploader(owner.id)
    assert [v.id for v in by_owner] == [v.id for v in reversed(mine)]  # newest first
    page = await repos_of(db).videos.find_by_uploader(owner.id, limit=2, offset=2)
    assert [v.id for v in page] == [mine[2].id, mine[1].id]
    ready = await repos_of(db).videos.find_by_status("ready")
    assert len(ready) == 4 and all(v.status == "ready" for v in ready)
    assert await repos_of(db).videos.find_by_status("uploading") == []
    assert await repos_of(db).videos.count_by_status() == {"ready": 4, "processing": 1, "failed": 1}


async def test_api_key_finders(db: Database, world: World) -> None:
    user = await world.user()
    first = await world.api_key(user_id=user.id, api_key="h1")
    second = await world.api_key(user_id=user.id, api_key="h2")
    await world.api_key(api_key="h3")
    assert (await repos_of(db).api_keys.find_by_key("h2")).id == second.id
    assert await repos_of(db).api_keys.find_by_key("h%") is None
    assert [k.id for k in await repos_of(db).api_keys.find_by_user(user.id)] == [first.id, second.id]


async def test_list_filters_ordering_and_count(db: Database, world: World) -> None:
    user = await world.user()
    jobs = [await world.job(priority=p, status=s) for p, s in ((5, "queued"), (1, "queued"), (9, "failed"))]
    repo = repos_of(db).jobs
    assert [j.id for j in await repo.find_by_status("queued")] == [jobs[1].id, jobs[0].id]  # by priority
    assert await repo.count({"status": ["queued", "failed"]}) == 3
    assert await repo.count({"status": []}) == 0
    assert await repo.count({"error_message": None}) == 3
    assert [j.id for j in await repo.list(order_by="priority DESC", limit=1)] == [jobs[2].id]
    assert [j.id for j in await repo.list(order_by="id", limit=2, offset=1)] == [jobs[1].id, jobs[2].id]
    assert await repos_of(db).uploads.find_by_user(user.id) == []
    for bad in ("id; DROP TABLE users", "nope", "id sideways"):
        with pytest.raises(ValueError):
            await repo.list(order_by=bad)
    with pytest.raises(ValueError):
        await repo.list({"status = 'x' OR 1=1 --": "y"})
    with pytest.raises(ValueError):
        await repo.create({"video_id": jobs[0].video_id, "evil) VALUES (1); --": 1})


async def test_json_columns_round_trip(db: Database, world: World) -> None:
    video = await world.video(actors=NASTY)
    assert (await repos_of(db).videos.get(video.id)).actors == NASTY
    upload = await world.upload()
    assert upload.uploaded_chunks == []
    job = await world.job(output_formats=["720p", "1080p"])
    assert (await repos_of(db).jobs.get(job.id)).output_formats == ["720p", "1080p"]


# ---- constraints --------------------------------------------------------------------------------------------
UniqueCase = Callable[[World], Awaitable[None]]


async def dup_username(w: World) -> None:
    await w.user(username="same")
    await w.user(username="same")


async def dup_email(w: World) -> None:
    await w.user(email="same@example.com")
    await w.user(email="same@example.com")


async def dup_api_key(w: World) -> None:
    await w.api_key(api_key="same")
    await w.api_key(api_key="same")


async def dup_key_per_user(w: World) -> None:
    user = await w.user()
    await w.key(user_id=user.id)
    await w.key(user_id=user.id)


async def dup_chunk(w: World) -> None:
    upload = await w.upload()
    await w.chunk(upload_id=upload.id, chunk_number=0)
    await w.chunk(upload_id=upload.id, chunk_number=0)


async def dup_refresh_token(w: World) -> None:
    await w.session(refresh_token="same")
    await w.session(refresh_token="same")


@pytest.mark.parametrize(("case", "field"), [
    (dup_username, "username"), (dup_email, "email"), (dup_api_key, "api_key"), (dup_key_per_user, "user_id"),
    (dup_chunk, "upload_id"), (dup_refresh_token, "refresh_token"),
])
async def test_unique_violations(world: World, case: UniqueCase, field: str) -> None:
    with pytest.raises(UniqueViolation) as caught:
        await case(world)
    assert caught.value.status == 409 and caught.value.details == {"field": field}


async def test_unique_violation_in_a_transaction_rolls_it_back(db: Database, world: World) -> None:
    await world.user(username="taken")
    with pytest.raises(UniqueViolation):
        async with db.transaction() as tx:
            await repos_of(tx).users.create({"username": "fresh", "email": "fresh@example.com", "password_hash": "h"})
            await repos_of(tx).users.create({"username": "taken", "email": "t2@example.com", "password_hash": "h"})
    assert await repos_of(db).users.find_by_username("fresh") is None


async def test_restrict_keeps_a_user_who_owns_videos(db: Database, world: World) -> None:
    user = await world.user()
    video = await world.video(uploader_user_id=user.id)
    with pytest.raises(ReferenceViolation):
        await repos_of(db).users.delete(user.id)
    assert await repos_of(db).users.find_by_id(user.id) is not None
    await repos_of(db).videos.delete(video.id)
    assert await repos_of(db).users.delete(user.id)


async def test_deleting_a_user_cascades_to_credentials_and_uploads(db: Database, world: World) -> None:
    user = await world.user()
    key = await world.api_key(user_id=user.id)
    pair = await world.key(user_id=user.id)
    session = await world.session(user_id=user.id)
    upload = await world.upload(user_id=user.id)
    chunk = await world.chunk(upload_id=upload.id)
    video = await world.video()
    view = await world.view(video_id=video.id, user_id=user.id)
    comment = await world.comment(video_id=video.id, user_id=user.id)
    assert await repos_of(db).users.delete(user.id)
    for repo, row in ((repos_of(db).api_keys, key), (repos_of(db).keys, pair), (repos_of(db).sessions, session),
                      (repos_of(db).uploads, upload), (repos_of(db).upload_chunks, chunk)):
        assert await repo.find_by_id(row.id) is None, repo.table
    # Views and comments outlive the account, anonymously.
    assert (await repos_of(db).analytics.get(view.id)).user_id is None
    assert (await repos_of(db).comments.get(comment.id)).user_id is None


async def test_deleting_a_video_cascades_and_sets_null(db: Database, world: World) -> None:
    video = await world.video()
    job = await world.job(video_id=video.id)
    file = await world.video_file(video_id=video.id)
    view = await world.view(video_id=video.id)
    comment = await world.comment(video_id=video.id)
    upload = await world.upload(video_id=video.id)
    assert await repos_of(db).videos.delete(video.id)
    for repo, row in ((repos_of(db).jobs, job), (repos_of(db).video_files, file), (repos_of(db).analytics, view),
                      (repos_of(db).comments, comment)):
        assert await repo.find_by_id(row.id) is None, repo.table
    assert (await repos_of(db).uploads.get(upload.id)).video_id is None  # the upload's history stays


async def test_replaced_session_pointer_is_set_null(db: Database, world: World) -> None:
    user = await world.user()
    old = await world.session(user_id=user.id)
    new = await world.session(user_id=user.id)
    await repos_of(db).sessions.update(old.id, {"replaced_by_id": new.id})
    await repos_of(db).sessions.delete(new.id)
    assert (await repos_of(db).sessions.get(old.id)).replaced_by_id is None


@pytest.mark.parametrize(("factory", "column"), [
    ("video", "uploader_user_id"), ("api_key", "user_id"), ("upload", "user_id"), ("chunk", "upload_id"),
    ("job", "video_id"), ("comment", "video_id"), ("upload", "video_id"), ("view", "user_id"),
])
async def test_references_to_missing_rows_are_refused(world: World, factory: str, column: str) -> None:
    with pytest.raises(ReferenceViolation):
        await getattr(world, factory)(**{column: 987654})


# ---- hostile text -------------------------------------------------------------------------------------------
# Every free-text column (enum-like columns are covered by their CHECKs), with its length limit.
TEXT_COLUMNS: dict[str, tuple[str, dict[str, int | None]]] = {
    "users": ("user", {"username": 50, "email": 100, "password_hash": 255}),
    "videos": ("video", {"title": 200, "description": None, "genre": 100, "original_filename": 255}),
    "api_keys": ("api_key", {"api_key": 255, "name": 100, "key_prefix": 16}),
    "keys": ("key", {"public_key": None, "private_key": None, "algorithm": 20}),
    "uploads": ("upload", {"filename": 255}),
    "upload_chunks": ("chunk", {"checksum": 64}),
    "transcoding_jobs": ("job", {"input_format": 20, "job_id": 255, "error_message": None}),
    "video_files": ("video_file", {"file_path": 500, "checksum": 64, "mime_type": 100, "language": 20,
                                   "label": 100}),
    "user_sessions": ("session", {"refresh_token": 255, "family_id": 64, "user_agent": None, "ip_address": 45}),
    "video_analytics": ("view", {"ip_address": 45, "user_agent": None}),
    "comments": ("comment", {"facebook_comment_id": 255, "content": None}),
}


@pytest.mark.parametrize("table", sorted(TEXT_COLUMNS))
async def test_sql_metacharacters_are_stored_and_found_verbatim(db: Database, world: World, table: str) -> None:
    factory, columns = TEXT_COLUMNS[table]
    repo: BaseRepository[Any] = getattr(repos_of(db), TABLES[table][0])
    for n, nasty in enumerate(NASTY):
        values = {}
        for column, limit in columns.items():
            text = f"{n}{nasty}" if column in ("username", "api_key", "refresh_token") else nasty
            if column == "email":
                text = f"{n}{nasty}@example.com"
            values[column] = text[:limit] if limit else text
        row = await getattr(world, factory)(**values)
        stored = await repo.get(row.id)
        for column, value in values.items():
            assert getattr(stored, column) == value, (table, column)
            found = await repo.list({column: value})
            assert row.id in [r.id for r in found], (table, column, value)
    assert await repos_of(db).users.count() >= 1  # "DROP TABLE users" stayed text


async def test_hostile_text_through_the_named_finders(db: Database, world: World) -> None:
    for n, nasty in enumerate(NASTY):
        user = await world.user(username=f"{n}{nasty}"[:50], email=f"{n}{nasty}@example.com")
        assert (await repos_of(db).users.find_by_username(f"{n}{nasty}"[:50])).id == user.id
        assert (await repos_of(db).users.find_by_email(f"{n}{nasty}@example.com")).id == user.id
        key = await world.api_key(api_key=f"{n}{nasty}")
        assert (await repos_of(db).api_keys.find_by_key(f"{n}{nasty}")).id == key.id
    assert await repos_of(db).users.find_by_username("%") is None
    assert await repos_of(db).users.find_by_username("_") is None
    assert await repos_of(db).api_keys.find_by_key("%") is None
