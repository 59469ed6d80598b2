"""Migration 0011 adds transcoding_jobs.ladder to existing queues, on SQLite and PostgreSQL."""

from __future__ import annotations

from kdrama_tui.db import open_database
from kdrama_tui.db.migrate import apply_migrations
from kdrama_tui.repositories import repos_of
from tests.services.uploads.test_migration_0004 import migrate_up_to


async def test_existing_jobs_keep_their_rows_and_gain_an_empty_ladder(database_url: str) -> None:
    db = await open_database(database_url, migrate=False)
    try:
        await migrate_up_to(db, "0010")
        user = await db.fetch_one("INSERT INTO users (username, email, password_hash) VALUES ('old', 'o@x.io', 'h') "
                                  "RETURNING id")
        assert user is not None
        video = await db.fetch_one("INSERT INTO videos (title, uploader_user_id, status) VALUES ('E01', :u, "
                                   "'ready') RETURNING id", {"u": user["id"]})
        assert video is not None
        old = await db.fetch_one("INSERT INTO transcoding_jobs (video_id, status, provider, progress, output_formats) "
                                 "VALUES (:v, 'completed', 'local_server', 100, :f) RETURNING id",
                                 {"v": video["id"], "f": ["360p", "720p"]})
        assert old is not None
        assert "0011" in await apply_migrations(db)
        job = await repos_of(db).jobs.get(old["id"])
        assert (job.status, job.output_formats, job.ladder) == ("completed", ["360p", "720p"], None)
        state = {"path": "copy", "reason": "H.264 High 4", "encoder": "libx264",
                 "renditions": [{"name": "720p", "source": "copy", "ready": True, "progress": 100}]}
        updated = await repos_of(db).jobs.update(job.id, {"ladder": state})
        assert updated is not None and updated.ladder == state
        assert (await repos_of(db).jobs.get(job.id)).ladder == state
    finally:
        await db.close()
