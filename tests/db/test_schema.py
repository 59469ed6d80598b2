"""The schema on both databases matches the design (database-design.md) and the migrations behave."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest

from kdrama_tui import models
from kdrama_tui.db import Database, open_database
from kdrama_tui.db import migrate as migrate_module
from kdrama_tui.db.migrate import Migration, apply_migrations, available_migrations
from kdrama_tui.errors import ValidationError
from kdrama_tui.repositories import repos_of

# Every table of the design, with the columns the design lists (later migrations may add more).
DESIGN_COLUMNS: dict[str, set[str]] = {
    "users": {"id", "username", "email", "password_hash", "role", "is_active", "created_at", "updated_at",
              "last_login_at"},
    "videos": {"id", "title", "description", "year", "genre", "actors", "duration_seconds", "original_filename",
               "uploader_user_id", "status", "is_public", "created_at", "updated_at"},
    "api_keys": {"id", "user_id", "api_key", "is_active", "created_at", "expires_at", "last_used_at"},
    "keys": {"id", "user_id", "public_key", "private_key", "is_active", "created_at", "expires_at"},
    "uploads": {"id", "user_id", "video_id", "filename", "total_size", "total_chunks", "uploaded_chunks", "status",
                "created_at", "completed_at"},
    "upload_chunks": {"id", "upload_id", "chunk_number", "chunk_size", "checksum", "status", "uploaded_at",
                      "verified_at"},
    "transcoding_jobs": {"id", "video_id", "status", "provider", "priority", "input_format", "output_formats",
                         "job_id", "progress", "error_message", "created_at", "started_at", "completed_at"},
    "video_files": {"id", "video_id", "file_type", "storage_provider", "file_path", "file_size", "checksum",
                    "mime_type", "created_at"},
    "user_sessions": {"id", "user_id", "refresh_token", "expires_at", "created_at", "last_used_at"},
    "video_analytics": {"id", "video_id", "user_id", "ip_address", "user_agent", "watch_duration", "viewed_at"},
    "comments": {"id", "video_id", "user_id", "facebook_comment_id", "content", "is_approved", "created_at"},
}

# The dataclass of each table: the code above the repositories must see every column.
MODELS: dict[str, type] = {
    "users": models.User, "videos": models.Video, "api_keys": models.ApiKey, "keys": models.KeyPair,
    "uploads": models.Upload, "upload_chunks": models.UploadChunk, "transcoding_jobs": models.TranscodingJob,
    "video_files": models.VideoFile, "user_sessions": models.UserSession, "video_analytics": models.VideoView,
    "comments": models.Comment, "series": models.Series, "episode_segments": models.EpisodeSegment,
    "unmatched_videos": models.UnmatchedVideo,
}

UNIQUES = {("users", ("username",)), ("users", ("email",)), ("api_keys", ("api_key",)), ("keys", ("user_id",)),
           ("upload_chunks", ("upload_id", "chunk_number")), ("user_sessions", ("refresh_token",)),
           ("ingested_files", ("sha256", "source_path")),  # 0006: one mark per file taken from one place
           ("episode_segments", ("video_id", "type"))}  # 0009: one span of each type per episode

# (table, column) -> (referenced table, referenced column, ON DELETE); reasons in migration 0001's docstring.
FOREIGN_KEYS = {
    ("videos", "uploader_user_id"): ("users", "id", "RESTRICT"),
    ("api_keys", "user_id"): ("users", "id", "CASCADE"),
    ("keys", "user_id"): ("users", "id", "CASCADE"),
    ("uploads", "user_id"): ("users", "id", "CASCADE"),
    ("uploads", "video_id"): ("videos", "id", "SET NULL"),
    ("upload_chunks", "upload_id"): ("uploads", "id", "CASCADE"),
    ("transcoding_jobs", "video_id"): ("videos", "id", "CASCADE"),
    ("transcoding_jobs", "retry_of_id"): ("transcoding_jobs", "id", "SET NULL"),  # 0005: a retry's history
    ("video_files", "video_id"): ("videos", "id", "CASCADE"),
    ("user_sessions", "user_id"): ("users", "id", "CASCADE"),
    ("user_sessions", "replaced_by_id"): ("user_sessions", "id", "SET NULL"),
    ("video_analytics", "video_id"): ("videos", "id", "CASCADE"),
    ("video_analytics", "user_id"): ("users", "id", "SET NULL"),
    ("comments", "video_id"): ("videos", "id", "CASCADE"),
    ("comments", "user_id"): ("users", "id", "SET NULL"),
    ("ingested_files", "video_id"): ("videos", "id", "SET NULL"),  # 0006: the ingest history outlives a video
    ("videos", "series_id"): ("series", "id", "SET NULL"),  # 0009: a deleted series leaves lone videos
    ("episode_segments", "video_id"): ("videos", "id", "CASCADE"),
    ("unmatched_videos", "video_id"): ("videos", "id", "CASCADE"),
}

# The design's indexes, plus those the foreign keys of the optional tables and session families need.
INDEXES = {
    "idx_users_email": ("users", ("email",)), "idx_users_username": ("users", ("username",)),
    "idx_videos_uploader": ("videos", ("uploader_user_id",)), "idx_videos_status": ("videos", ("status",)),
    "idx_videos_created": ("videos", ("created_at",)), "idx_api_keys_user": ("api_keys", ("user_id",)),
    "idx_api_keys_key": ("api_keys", ("api_key",)), "idx_uploads_user": ("uploads", ("user_id",)),
    "idx_uploads_status": ("uploads", ("status",)), "idx_upload_chunks_upload": ("upload_chunks", ("upload_id",)),
    "idx_upload_chunks_status": ("upload_chunks", ("status",)),
    "idx_transcoding_jobs_video": ("transcoding_jobs", ("video_id",)),
    "idx_transcoding_jobs_status": ("transcoding_jobs", ("status",)),
    "idx_transcoding_jobs_priority": ("transcoding_jobs", ("priority",)),
    "idx_video_files_video": ("video_files", ("video_id",)), "idx_video_files_type": ("video_files", ("file_type",)),
    "idx_user_sessions_user": ("user_sessions", ("user_id",)),
    "idx_user_sessions_family": ("user_sessions", ("family_id",)),
    "idx_video_analytics_video": ("video_analytics", ("video_id", "viewed_at")),
    "idx_comments_video": ("comments", ("video_id", "created_at")),
    "idx_videos_source_sha256": ("videos", ("source_sha256",)),  # 0006, UNIQUE: content is in the library once
    "idx_ingested_files_video": ("ingested_files", ("video_id",)),
    # 0009, UNIQUE: one file per episode; also lists a series' episodes in order
    "idx_videos_episode": ("videos", ("series_id", "season_number", "episode_number")),
}


class Introspection:
    """What the database says it has, the same shape for both backends."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def tables(self) -> set[str]:
        if self.db.dialect == "sqlite":
            rows = await self.db.fetch_all("SELECT name FROM sqlite_master WHERE type = 'table' "
                                           "AND name NOT LIKE 'sqlite_%'")
            return {r["name"] for r in rows}
        rows = await self.db.fetch_all("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r["tablename"] for r in rows}

    async def columns(self, table: str) -> set[str]:
        if self.db.dialect == "sqlite":
            return {r["name"] for r in await self.db.fetch_all("SELECT name FROM pragma_table_info(:t)", {"t": table})}
        rows = await self.db.fetch_all("SELECT column_name FROM information_schema.columns "
                                       "WHERE table_schema = 'public' AND table_name = :t", {"t": table})
        return {r["column_name"] for r in rows}

    async def uniques(self) -> set[tuple[str, tuple[str, ...]]]:
        found = set()
        if self.db.dialect == "sqlite":
            for table in await self.tables():
                for index in await self.db.fetch_all("SELECT name, \"unique\" AS u, origin FROM pragma_index_list(:t)",
                                                     {"t": table}):
                    if index["u"] and index["origin"] == "u":
                        cols = await self.db.fetch_all("SELECT name FROM pragma_index_info(:i) ORDER BY seqno",
                                                       {"i": index["name"]})
                        found.add((table, tuple(c["name"] for c in cols)))
            return found
        rows = await self.db.fetch_all(
            "SELECT tc.table_name, tc.constraint_name, kcu.column_name, kcu.ordinal_position "
            "FROM information_schema.table_constraints tc JOIN information_schema.key_column_usage kcu "
            "ON tc.constraint_name = kcu.constraint_name AND tc.table_schema = kcu.table_schema "
            "WHERE tc.constraint_type = 'UNIQUE' AND tc.table_schema = 'public' ORDER BY kcu.ordinal_position")
        grouped: dict[tuple[str, str], list[str]] = {}
        for r in rows:
            grouped.setdefault((r["table_name"], r["constraint_name"]), []).append(r["column_name"])
        return {(table, tuple(cols)) for (table, _), cols in grouped.items()}

    async def foreign_keys(self) -> dict[tuple[str, str], tuple[str, str, str]]:
        found = {}
        if self.db.dialect == "sqlite":
            for table in await self.tables():
                for fk in await self.db.fetch_all("SELECT * FROM pragma_foreign_key_list(:t)", {"t": table}):
                    found[(table, fk["from"])] = (fk["table"], fk["to"], fk["on_delete"])
            return found
        rows = await self.db.fetch_all(
            "SELECT kcu.table_name, kcu.column_name, ccu.table_name AS ref_table, ccu.column_name AS ref_column, "
            "rc.delete_rule FROM information_schema.referential_constraints rc "
            "JOIN information_schema.key_column_usage kcu ON kcu.constraint_name = rc.constraint_name "
            "JOIN information_schema.constraint_column_usage ccu ON ccu.constraint_name = rc.unique_constraint_name "
            "WHERE rc.constraint_schema = 'public'")
        for r in rows:
            found[(r["table_name"], r["column_name"])] = (r["ref_table"], r["ref_column"], r["delete_rule"])
        return found

    async def indexes(self) -> dict[str, tuple[str, tuple[str, ...]]]:
        found = {}
        if self.db.dialect == "sqlite":
            rows = await self.db.fetch_all("SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' "
                                           "AND sql IS NOT NULL")
            for r in rows:
                cols = await self.db.fetch_all("SELECT name FROM pragma_index_info(:i) ORDER BY seqno",
                                               {"i": r["name"]})
                found[r["name"]] = (r["tbl_name"], tuple(c["name"] for c in cols))
            return found
        for r in await self.db.fetch_all("SELECT tablename, indexname, indexdef FROM pg_indexes "
                                         "WHERE schemaname = 'public'"):
            match = re.search(r"\((.*)\)\s*$", r["indexdef"])
            assert match, r["indexdef"]
            found[r["indexname"]] = (r["tablename"], tuple(c.strip() for c in match.group(1).split(",")))
        return found


@pytest.fixture
def schema(db: Database) -> Introspection:
    return Introspection(db)


async def test_every_design_table_and_column_exists(schema: Introspection) -> None:
    tables = await schema.tables()
    assert set(DESIGN_COLUMNS) | {"schema_migrations"} <= tables
    for table, design in DESIGN_COLUMNS.items():
        actual = await schema.columns(table)
        assert design <= actual, f"{table} lacks {design - actual}"
        model_fields = {f.name for f in dataclasses.fields(MODELS[table])}
        assert actual == model_fields, f"{table}: columns and {MODELS[table].__name__} differ: " \
                                       f"{actual ^ model_fields}"


async def test_series_tables_match_their_models(schema: Introspection) -> None:
    for table in ("series", "episode_segments", "unmatched_videos", "videos"):
        model_fields = {f.name for f in dataclasses.fields(MODELS[table])}
        assert await schema.columns(table) == model_fields, table


async def test_unique_constraints(schema: Introspection) -> None:
    uniques = await schema.uniques()
    missing = UNIQUES - uniques
    assert not missing, missing


async def test_foreign_keys_and_their_delete_actions(schema: Introspection) -> None:
    found = await schema.foreign_keys()
    for column, expected in FOREIGN_KEYS.items():
        assert found.get(column) == expected, (column, found.get(column))
    assert set(found) == set(FOREIGN_KEYS), set(found) ^ set(FOREIGN_KEYS)


async def test_indexes(schema: Introspection) -> None:
    found = await schema.indexes()
    for name, expected in INDEXES.items():
        assert found.get(name) == expected, (name, found.get(name))


async def user_row(db: Database, **extra: Any) -> dict[str, Any]:
    return {"username": "u", "email": "u@example.com", "password_hash": "h", **extra}


@pytest.mark.parametrize("role", ["admin", "user"])
async def test_role_check_accepts_the_two_roles(db: Database, role: str) -> None:
    user = await repos_of(db).users.create(await user_row(db, role=role))
    assert user.role == role


@pytest.mark.parametrize("role", ["useruser", "Admin", "", "root"])
async def test_role_check_refuses_anything_else(db: Database, role: str) -> None:
    with pytest.raises(ValidationError):
        await repos_of(db).users.create(await user_row(db, role=role))
    assert await repos_of(db).users.count() == 0


async def test_role_defaults_to_user(db: Database) -> None:
    assert (await repos_of(db).users.create(await user_row(db))).role == "user"


async def test_migrations_are_recorded_and_idempotent(db: Database, database_url: str) -> None:
    versions = [m.version for m in available_migrations()]
    assert versions == sorted(versions) and versions[:3] == ["0001", "0002", "0003"]
    rows = await db.fetch_all("SELECT version, name, applied_at FROM schema_migrations ORDER BY version")
    assert [r["version"] for r in rows] == versions and all(r["applied_at"] for r in rows)
    assert await apply_migrations(db) == []
    again = await open_database(database_url)  # a second start migrates nothing and breaks nothing
    try:
        assert await apply_migrations(again) == []
        assert await again.fetch_value("SELECT COUNT(*) FROM schema_migrations") == len(versions)
    finally:
        await again.close()


async def test_a_migration_failing_half_way_leaves_nothing_applied(db: Database,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    broken = Migration("9999", "broken", {
        "sqlite": "CREATE TABLE half_done (x INTEGER);\nINSERT INTO half_done VALUES (1);\n"
                  "ALTER TABLE users ADD COLUMN half_col TEXT;\nINSERT INTO no_such_table VALUES (1);\n",
        "postgresql": "CREATE TABLE half_done (x INTEGER);\nINSERT INTO half_done VALUES (1);\n"
                      "ALTER TABLE users ADD COLUMN half_col TEXT;\nINSERT INTO no_such_table VALUES (1);\n",
    })
    real = available_migrations()
    monkeypatch.setattr(migrate_module, "available_migrations", lambda: [*real, broken])
    with pytest.raises(Exception, match="no_such_table"):
        await apply_migrations(db)
    schema = Introspection(db)
    assert "half_done" not in await schema.tables()
    assert "half_col" not in await schema.columns("users")
    assert await db.fetch_value("SELECT COUNT(*) FROM schema_migrations WHERE version = '9999'") == 0
    monkeypatch.setattr(migrate_module, "available_migrations", lambda: real)
    assert await apply_migrations(db) == []  # the database still works and is up to date


async def test_sqlite_runs_wal_with_foreign_keys_and_busy_timeout(db: Database) -> None:
    if db.dialect != "sqlite":
        assert await db.fetch_value("SHOW server_encoding") == "UTF8"  # the PostgreSQL side: text is UTF-8
        return
    assert (await db.fetch_value("PRAGMA journal_mode")).lower() == "wal"
    assert await db.fetch_value("PRAGMA foreign_keys") == 1
    assert await db.fetch_value("PRAGMA busy_timeout") == 10000
    assert await db.fetch_value("PRAGMA synchronous") == 2  # FULL, the default setting
    async with db.transaction() as tx:  # the writer connection, not only the reader
        assert await tx.fetch_value("PRAGMA foreign_keys") == 1
        assert await tx.fetch_value("PRAGMA busy_timeout") == 10000
        assert (await tx.fetch_value("PRAGMA journal_mode")).lower() == "wal"
