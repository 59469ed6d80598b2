from kdrama_tui.db import Database


async def test_smoke(db: Database) -> None:
    u = await db.repos.users.create({"username": "a", "email": "a@x.io", "password_hash": "h"})
    assert (await db.repos.users.find_by_username("a")).id == u.id
    v = await db.repos.videos.create({"title": "T", "uploader_user_id": u.id})
    f = await db.repos.video_files.create({"video_id": v.id, "file_type": "transcoded_360p", "storage_provider": "s3",
                                           "file_path": "x", "file_size": 1, "checksum": "c", "language": "ko"})
    assert f.language == "ko"
