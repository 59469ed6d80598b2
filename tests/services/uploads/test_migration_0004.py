"""Migration 0004 keeps existing uploads and their chunks (the SQLite rebuild must not cascade-delete them)
and enforces the new columns' rules on both databases."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kdrama_tui.db import Database, open_database
from kdrama_tui.db.migrate import applied_versions, apply_migrations, available_migrations
from kdrama_tui.errors import UniqueViolation, ValidationError
from kdrama_tui.repositories import repos_of


async def migrate_up_to(db: Database, last: str) -> None:
    await applied_versions(db)
    for migration in available_migrations():
        if migration.version > last:
            break
        async with db.transaction() as tx:
            await tx.execute_script(migration.sql[db.dialect])
            await tx.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (:v, :n, :t)",
                             {"v": migration.version, "n": migration.name, "t": datetime.now(UTC)})


async def test_existing_uploads_and_chunks_survive(database_url: str) -> None:
    db = await open_database(database_url, migrate=False)
    try:
        await migrate_up_to(db, "0003")
        user = await db.fetch_one("INSERT INTO users (username, email, password_hash) VALUES ('old', 'o@x.io', 'h') "
                                  "RETURNING id")
        assert user is not None
        created = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
        for status, uploaded in (("uploading", [0, 2]), ("completed", [0, 1, 2])):
            row = await db.fetch_one(
                "INSERT INTO uploads (user_id, filename, total_size, total_chunks, uploaded_chunks, status, "
                "created_at) VALUES (:u, 'a.mkv', 25, 3, :chunks, :s, :c) RETURNING id",
                {"u": user["id"], "chunks": uploaded, "s": status, "c": created})
            assert row is not None
            for n in uploaded:
                await db.execute(
                    "INSERT INTO upload_chunks (upload_id, chunk_number, chunk_size, checksum, status) "
                    "VALUES (:id, :n, 9, :sum, 'verified')", {"id": row["id"], "n": n, "sum": f"{n:064d}"})
        assert await apply_migrations(db) == [m.version for m in available_migrations() if m.version > "0003"]

        uploads = await repos_of(db).uploads.list(order_by="id")
        assert [(u.status, u.uploaded_chunks) for u in uploads] == [("uploading", [0, 2]), ("completed", [0, 1, 2])]
        for upload in uploads:
            assert upload.protocol == "chunk" and upload.metadata == {} and upload.chunk_size == 9
            assert upload.bytes_received == 9 * len(upload.uploaded_chunks)
            assert 22 <= len(upload.token) <= 64 and upload.updated_at == created
        assert uploads[0].expires_at == created and uploads[1].expires_at is None
        assert len({u.token for u in uploads}) == 2
        chunks = await repos_of(db).upload_chunks.list(order_by="id")
        assert [(c.upload_id, c.chunk_number) for c in chunks] == \
            [(uploads[0].id, 0), (uploads[0].id, 2), (uploads[1].id, 0), (uploads[1].id, 1), (uploads[1].id, 2)]

        for status in ("assembling", "aborted", "expired"):
            assert await repos_of(db).uploads.update(uploads[0].id, {"status": status}) is not None
        with pytest.raises(ValidationError):
            await repos_of(db).uploads.update(uploads[0].id, {"status": "paused"})
        with pytest.raises(ValidationError):
            await repos_of(db).uploads.update(uploads[0].id, {"protocol": "ftp"})
        with pytest.raises(UniqueViolation):
            await repos_of(db).uploads.update(uploads[0].id, {"token": uploads[1].token})
        big = await repos_of(db).upload_chunks.update(chunks[0].id, {"chunk_size": 5 * 1024**3})
        assert big is not None and big.chunk_size == 5 * 1024**3  # BIGINT on both databases
        await repos_of(db).uploads.delete(uploads[1].id)  # the cascade to chunks still points at the new table
        assert await repos_of(db).upload_chunks.count({"upload_id": uploads[1].id}) == 0
        if db.dialect == "sqlite":
            assert await db.fetch_all("PRAGMA foreign_key_check") == []
            assert [r["integrity_check"] for r in await db.fetch_all("PRAGMA integrity_check")] == ["ok"]
    finally:
        await db.close()
