"""Retention with an injected clock: exactly the expired copies go, the newest good one never does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kdrama_tui.config import Settings, load_settings
from kdrama_tui.events import EventBus
from kdrama_tui.services.backup.names import expired, parse_name
from kdrama_tui.services.backup.service import BackupService
from tests.support.s3 import S3Bucket

NOW = datetime(2024, 3, 30, 3, 0, 0, tzinfo=UTC)  # 30 days earlier is leap day 2024-02-29


def _name(when: datetime, kind: str = "backup", cloud: bool = False) -> str:
    return f"kdrama-{kind}-{when.strftime('%Y%m%dT%H%M%SZ')}.tar" + (".gz.enc" if cloud else "")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = load_settings(env={"KDRAMA_DATA_DIR": str(tmp_path / "data")})
    settings.backup_dir.mkdir(parents=True)
    return settings


def _service(settings: Settings, now: datetime) -> BackupService:
    return BackupService(settings, EventBus(), clock=lambda: now)


def _local(settings: Settings, *moments: datetime, kind: str = "backup") -> list[str]:
    names = [_name(m, kind) for m in moments]
    for name in names:
        (settings.backup_dir / name).write_bytes(b"backup")
    return names


def _left(settings: Settings) -> set[str]:
    return {p.name for p in settings.backup_dir.iterdir() if p.name.startswith("kdrama-")}


async def test_local_retention_boundaries(settings: Settings) -> None:
    day = timedelta(days=1)
    keep = _local(settings, NOW - 30 * day,  # exactly 30 days (on leap day): not older than 30 days
                  NOW - 29 * day, NOW, NOW + day)  # a clock that jumped back: future backups are kept
    drop = _local(settings, NOW - 30 * day - timedelta(seconds=1), NOW - 31 * day, NOW - 400 * day)
    drop += _local(settings, NOW - 31 * day, kind="prerestore")
    keep += _local(settings, NOW - 2 * day, kind="prerestore")
    (settings.backup_dir / "unrelated.tar").write_bytes(b"x")  # not ours: never touched

    removed = await _service(settings, NOW).prune()
    assert sorted(removed) == sorted(drop)
    assert _left(settings) == set(keep)
    assert (settings.backup_dir / "unrelated.tar").exists()
    assert await _service(settings, NOW).prune() == []  # idempotent


async def test_the_last_good_backup_is_never_pruned(settings: Settings) -> None:
    day = timedelta(days=1)
    newest, *older = _local(settings, NOW - 40 * day, NOW - 50 * day, NOW - 60 * day)
    _local(settings, NOW - 35 * day, kind="prerestore")  # newer, but not a backup of ours: it does not count
    removed = await _service(settings, NOW).prune()
    assert _left(settings) == {newest}
    assert set(removed) == {*older, _name(NOW - 35 * day, "prerestore")}


async def test_retention_counts_days_not_local_calendar_days(settings: Settings) -> None:
    # Across a DST change (Europe, 2024-03-31) a day is still 24 h of UTC time: names are in UTC.
    now = datetime(2024, 4, 30, 1, 30, tzinfo=UTC)
    kept = _local(settings, now - timedelta(days=30))
    gone = _local(settings, now - timedelta(days=30, minutes=1), now - timedelta(days=45))
    assert sorted(await _service(settings, now).prune()) == sorted(gone)
    assert _left(settings) == set(kept)


async def test_cloud_retention_boundaries(settings: Settings, s3_bucket: S3Bucket) -> None:
    s = settings.storage
    s.endpoint_url, s.access_key, s.secret_key = s3_bucket.server.endpoint_url, "k", "s"
    settings.backup.cloud_bucket = s3_bucket.name
    day = timedelta(days=1)
    keep = [_name(m, cloud=True) for m in (NOW - 365 * day, NOW - 100 * day, NOW)]
    drop = [_name(m, cloud=True) for m in (NOW - 365 * day - timedelta(seconds=1), NOW - 366 * day,
                                           NOW - 800 * day)]
    for name in keep + drop:
        s3_bucket.put(name, b"enc")
    s3_bucket.put("someone-elses/file.txt", b"x")
    _local(settings, NOW - 5 * day)

    removed = await _service(settings, NOW).prune()
    assert sorted(removed) == sorted(drop)
    assert set(s3_bucket.keys()) == {*keep, "someone-elses/file.txt"}

    # Only very old cloud copies left: the newest one stays.
    for name in keep:
        s3_bucket.client.delete_object(Bucket=s3_bucket.name, Key=name)
    old = [_name(m, cloud=True) for m in (NOW - 500 * day, NOW - 600 * day)]
    for name in old:
        s3_bucket.put(name, b"enc")
    assert await _service(settings, NOW).prune() == [old[1]]
    assert set(s3_bucket.keys()) == {old[0], "someone-elses/file.txt"}


def test_names_round_trip_and_strangers_are_ignored() -> None:
    info = parse_name("kdrama-backup-20240229T030000Z-2.tar.gz.enc", "cloud", 10)
    assert info is not None and info.encrypted and info.created_at == datetime(2024, 2, 29, 3, tzinfo=UTC)
    for name in ("kdrama-backup-2024.tar", "kdrama-backup-20240229T030000Z.tar.tmp", "x.tar",
                 ".kdrama-backup-20240229T030000Z.tar.1234.tmp", "kdrama-backup-20240229T030000Z.zip"):
        assert parse_name(name, "local", 1) is None
    assert expired([], 30, NOW) == []
