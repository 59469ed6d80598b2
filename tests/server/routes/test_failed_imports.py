"""The failed-imports admin API on both databases: a truncated video the watch folder refused is listed with
its reason, retried back into the watch folder (then imported once it is whole), or deleted; path tricks and
non-admins are refused."""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from kdrama_tui.config import Settings
from kdrama_tui.server.app import create_app
from kdrama_tui.services.container import Services, build_services
from tests.support.ingest import make_clip


@pytest.fixture
async def env(settings: Settings, aiohttp_client: Any,
              tmp_path: Path) -> AsyncIterator[tuple[Services, TestClient, dict[str, str], Path]]:
    watch = tmp_path / "watch"
    settings.ingest.watch_dirs = [str(watch)]
    settings.security.bcrypt_rounds = 4
    svc = await build_services(settings)
    try:
        http = await aiohttp_client(create_app(svc))
        admin = await svc.accounts.create_user("root", "root@example.com", "password123", "admin")
        key, _ = await svc.accounts.issue_api_key(admin.id)
        yield svc, http, {"X-API-Key": key}, watch
    finally:
        await svc.close()


BROKEN = b"\x1aE\xdf\xa3 not really a Matroska file " * 2000


async def _refuse(svc: Services, watch: Path, name: str) -> Path:
    """A corrupt video (a Matroska magic number, then garbage) in ``watch/Show/name``, imported and refused."""
    target = watch / "Show" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(BROKEN)
    outcome = await svc.ingester.importer.import_file(target, root=watch, failed_root=watch)
    assert outcome.status == "failed"
    return target


async def _json(response: Any, status: int) -> Any:
    text = await response.text()
    assert response.status == status, text
    return json.loads(text) if text else None


async def test_a_refused_video_is_listed_retried_and_imported_once_whole(env: Any, tmp_path: Path) -> None:
    svc, http, admin, watch = env
    good = make_clip(tmp_path / "good.mkv")
    target = await _refuse(svc, watch, "Crash Landing on You E01.mkv")
    listed = await _json(await http.get("/api/admin/failed-imports", headers=admin), 200)
    [item] = listed["items"]
    assert item["id"] == "Show/Crash Landing on You E01.mkv" and item["folder"] == 0
    assert item["reason"] and item["size"] == len(BROKEN)
    retried = await _json(await http.post("/api/admin/failed-imports/retry", json={"folder": 0, "id": item["id"]},
                                          headers=admin), 202)
    assert Path(retried["moved_to"]) == target and target.exists()
    assert (await _json(await http.get("/api/admin/failed-imports", headers=admin), 200))["items"] == []
    # The admin fixed the file in place; the watcher (here: one import) takes it.
    shutil.copyfile(good, target)
    outcome = await svc.ingester.importer.import_file(target, root=watch, failed_root=watch)
    assert outcome.status == "ingested"


async def test_delete_removes_the_file_and_its_reason(env: Any, tmp_path: Path) -> None:
    svc, http, admin, watch = env
    await _refuse(svc, watch, "Broken.mkv")
    response = await http.delete("/api/admin/failed-imports", params={"folder": "0", "id": "Show/Broken.mkv"},
                                 headers=admin)
    assert response.status == 204
    assert not list((watch / "failed").rglob("Broken*"))
    again = await http.delete("/api/admin/failed-imports", params={"id": "Show/Broken.mkv"}, headers=admin)
    assert again.status == 404


@pytest.mark.parametrize("bad", ["../../etc/passwd", "/etc/passwd", "Show/../../x.mkv"])
async def test_path_tricks_and_unknown_folders_are_refused(env: Any, tmp_path: Path, bad: str) -> None:
    _svc, http, admin, _watch = env
    (tmp_path / "x.mkv").write_bytes(b"keep me")
    response = await http.post("/api/admin/failed-imports/retry", json={"folder": 0, "id": bad}, headers=admin)
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "invalid_path"
    response = await http.delete("/api/admin/failed-imports", params={"id": bad}, headers=admin)
    assert response.status == 400
    assert (tmp_path / "x.mkv").read_bytes() == b"keep me"
    unknown = await http.post("/api/admin/failed-imports/retry", json={"folder": 3, "id": "a.mkv"}, headers=admin)
    assert unknown.status == 404


async def test_a_retry_never_overwrites_a_file_in_the_watch_folder(env: Any, tmp_path: Path) -> None:
    svc, http, admin, watch = env
    target = await _refuse(svc, watch, "Twice.mkv")
    target.write_bytes(b"a newer copy the admin dropped")
    response = await http.post("/api/admin/failed-imports/retry", json={"folder": 0, "id": "Show/Twice.mkv"},
                               headers=admin)
    assert response.status == 409
    assert target.read_bytes() == b"a newer copy the admin dropped"
    assert (await _json(await http.get("/api/admin/failed-imports", headers=admin), 200))["items"]
