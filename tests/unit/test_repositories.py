from kdrama_tui.db import Database


async def test_smoke(db: Database) -> None:
    u = await db.repos.users.create({"username": "a", "email": "a@x.io", "password_hash": "h"})
    assert (await db.repos.users.find_by_username("a")).id == u.id
