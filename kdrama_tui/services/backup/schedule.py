"""When backups are due: the daily slot (``backup.daily_at``, local time) and the weekly one
(``backup.weekly_on`` at the same time).

A run is due when the last run happened before the latest slot that has passed, so a slot missed while
the process was down is caught up at the next start, once (not once per missed day). Slots are computed in
local wall-clock time for each date, so they follow DST changes; comparisons are between aware datetimes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _at(daily_at: str) -> time:
    hours, minutes = daily_at.split(":")
    return time(int(hours), int(minutes))


def _slot(day: date, at: time, tz: tzinfo | None) -> datetime:
    naive = datetime.combine(day, at)
    # No tz: the system's local time, with the offset in force on that date (DST-aware via mktime).
    local = naive.replace(tzinfo=tz) if tz is not None else naive.astimezone()
    # In UTC: an ambiguous local time (the repeated hour) never compares equal across zones (PEP 495).
    return local.astimezone(UTC)


def _local_date(now: datetime, tz: tzinfo | None) -> date:
    return (now.astimezone(tz) if tz is not None else now.astimezone()).date()


def latest_daily_slot(now: datetime, daily_at: str, tz: tzinfo | None = None) -> datetime:
    """The most recent daily slot at or before ``now``."""
    at, today = _at(daily_at), _local_date(now, tz)
    slot = _slot(today, at, tz)
    return slot if slot <= now else _slot(today - timedelta(days=1), at, tz)


def latest_weekly_slot(now: datetime, daily_at: str, weekly_on: str, tz: tzinfo | None = None) -> datetime:
    """The most recent weekly slot (``weekly_on`` at ``daily_at``) at or before ``now``."""
    at, today = _at(daily_at), _local_date(now, tz)
    back = (today.weekday() - WEEKDAYS.index(weekly_on.lower())) % 7
    slot = _slot(today - timedelta(days=back), at, tz)
    return slot if slot <= now else _slot(today - timedelta(days=back + 7), at, tz)


def is_due(last_run: datetime | None, latest_slot: datetime) -> bool:
    return last_run is None or last_run < latest_slot
