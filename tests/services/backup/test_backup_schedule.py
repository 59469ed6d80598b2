"""The in-process backup schedule: slots in local time (DST included), missed runs caught up once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from kdrama_tui.config import Settings
from kdrama_tui.db import open_database
from kdrama_tui.events import EventBus
from kdrama_tui.services.backup.schedule import is_due, latest_daily_slot, latest_weekly_slot
from kdrama_tui.services.backup.service import BackupService
from kdrama_tui.services.container import build_services

SEOUL = ZoneInfo("Asia/Seoul")
BERLIN = ZoneInfo("Europe/Berlin")


def test_daily_slot_is_today_once_the_time_has_passed() -> None:
    before = datetime(2024, 5, 10, 2, 59, tzinfo=SEOUL)
    after = datetime(2024, 5, 10, 3, 0, tzinfo=SEOUL)
    assert latest_daily_slot(before, "03:00", SEOUL) == datetime(2024, 5, 9, 3, 0, tzinfo=SEOUL)
    assert latest_daily_slot(after, "03:00", SEOUL) == after
    # The same instant given in UTC gives the same slot (slots are in the configured local time).
    assert latest_daily_slot(after.astimezone(UTC), "03:00", SEOUL) == after


def test_weekly_slot() -> None:
    friday = datetime(2024, 5, 10, 12, 0, tzinfo=SEOUL)
    assert latest_weekly_slot(friday, "03:00", "sunday", SEOUL) == datetime(2024, 5, 5, 3, 0, tzinfo=SEOUL)
    sunday_early = datetime(2024, 5, 12, 2, 0, tzinfo=SEOUL)
    assert latest_weekly_slot(sunday_early, "03:00", "sunday", SEOUL) == datetime(2024, 5, 5, 3, 0, tzinfo=SEOUL)
    sunday_late = datetime(2024, 5, 12, 3, 0, tzinfo=SEOUL)
    assert latest_weekly_slot(sunday_late, "03:00", "Sunday", SEOUL) == sunday_late


def test_dst_days_run_once() -> None:
    # Spring forward (Berlin 2024-03-31, 02:00 -> 03:00): a 02:30 slot does not exist; it still runs once.
    spring_slot = latest_daily_slot(datetime(2024, 3, 31, 12, 0, tzinfo=BERLIN), "02:30", BERLIN)
    assert spring_slot.date() == datetime(2024, 3, 31).date()
    assert not is_due(spring_slot + timedelta(minutes=1), latest_daily_slot(
        datetime(2024, 3, 31, 23, 0, tzinfo=BERLIN), "02:30", BERLIN))
    # Fall back (2024-10-27, 03:00 -> 02:00): 02:30 happens twice; after the first run the second is not due.
    first = latest_daily_slot(datetime(2024, 10, 27, 0, 31, tzinfo=UTC), "02:30", BERLIN)  # 02:30 CEST
    assert first == datetime(2024, 10, 27, 0, 30, tzinfo=UTC)
    second_pass = datetime(2024, 10, 27, 1, 31, tzinfo=UTC)  # 02:31 CET, the repeated hour
    assert not is_due(first + timedelta(seconds=5), latest_daily_slot(second_pass, "02:30", BERLIN))
    # And the days around keep their wall-clock time.
    assert latest_daily_slot(datetime(2024, 10, 28, 12, 0, tzinfo=UTC), "02:30", BERLIN) == \
        datetime(2024, 10, 28, 2, 30, tzinfo=BERLIN)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class StopSchedule(Exception):
    pass


async def _run_schedule(service: BackupService, clock: Clock, polls: int, step: timedelta) -> None:
    """Run the schedule loop for ``polls`` iterations, the clock moving ``step`` per poll."""
    count = 0

    async def fake_sleep(_seconds: float) -> None:
        nonlocal count
        count += 1
        clock.now += step
        if count >= polls:
            raise StopSchedule

    with pytest.raises(StopSchedule):
        await service.run_schedule(sleep=fake_sleep)


def _finished(events: EventBus) -> list[dict[str, object]]:
    return [e.data for e in events.recent(200) if e.type == "backup.finished"]


async def test_schedule_runs_daily_and_catches_up_a_missed_run_once(settings: Settings) -> None:
    db = await open_database(settings.database_url)  # created and migrated
    await db.close()
    settings.backup.daily_at = "03:00"
    events = EventBus()
    clock = Clock(datetime(2024, 5, 1, 12, 0, tzinfo=SEOUL))
    service = BackupService(settings, events, clock=clock, tz=SEOUL)

    # First start ever: nothing is owed yet; the first backup comes at the next 03:00.
    await _run_schedule(service, clock, polls=5, step=timedelta(minutes=1))
    assert _finished(events) == []
    clock.now = datetime(2024, 5, 2, 2, 58, tzinfo=SEOUL)
    await _run_schedule(service, clock, polls=4, step=timedelta(minutes=1))  # 02:58 .. 03:01
    assert len(_finished(events)) == 1
    assert service.list_local()[0].created_at == datetime(2024, 5, 2, 3, 0, tzinfo=SEOUL).astimezone(UTC)

    # The process is down for three days; at the next start, one catch-up run, not three.
    clock.now = datetime(2024, 5, 5, 18, 0, tzinfo=SEOUL)
    restarted = BackupService(settings, events, clock=clock, tz=SEOUL)
    await _run_schedule(restarted, clock, polls=30, step=timedelta(minutes=1))
    assert len(_finished(events)) == 2
    assert len(restarted.list_local()) == 2
    assert restarted.due(clock.now) == (False, False)


async def test_a_manual_backup_counts_for_the_day(settings: Settings) -> None:
    db = await open_database(settings.database_url)
    await db.close()
    clock = Clock(datetime(2024, 5, 2, 4, 0, tzinfo=SEOUL))
    service = BackupService(settings, EventBus(), clock=clock, tz=SEOUL)
    assert service.due(clock.now) == (True, False)  # never ran: due (cloud not configured: no weekly)
    await service.run_backup()
    assert service.due(clock.now) == (False, False)
    assert service.due(datetime(2024, 5, 3, 3, 0, tzinfo=SEOUL)) == (True, False)


async def test_weekly_cloud_run_is_due_only_when_cloud_backups_can_run(settings: Settings) -> None:
    clock = Clock(datetime(2024, 5, 12, 4, 0, tzinfo=SEOUL))  # a Sunday after 03:00
    service = BackupService(settings, EventBus(), clock=clock, tz=SEOUL)
    settings.backup.cloud_bucket = "b"
    assert service.due(clock.now)[1] is False  # no encryption key: the weekly run would only fail
    settings.backup.encryption_key = "a long enough backup passphrase"
    assert service.due(clock.now)[1] is True


async def test_the_schedule_starts_with_the_services(settings: Settings) -> None:
    settings.security.bcrypt_rounds = 4
    svc = await build_services(settings)
    try:
        await svc.start_background(queue=False, ingest=False, schedules=True)
        assert "backup.schedule" in {t.get_name() for t in svc._tasks}
    finally:
        await svc.close()
    settings.backup.enabled = False
    svc = await build_services(settings)
    try:
        await svc.start_background(queue=False, ingest=False, schedules=True)
        assert "backup.schedule" not in {t.get_name() for t in svc._tasks}
    finally:
        await svc.close()
