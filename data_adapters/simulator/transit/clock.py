"""Service-day arithmetic of the bus feeds: GTFS times of day and service dates."""

from __future__ import annotations

import datetime as dt

from data_adapters.simulator.patterns import DAY_S

DATE_FORMAT = "%Y%m%d"
_EPOCH = dt.date(1970, 1, 1)


def gtfs_time(seconds: int) -> str:
    """Seconds after midnight as GTFS HH:MM:SS (hours may pass 24 for trips after midnight)."""
    seconds = int(seconds)
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def gtfs_date(day: int) -> str:
    """A service day (local days since the epoch) as GTFS YYYYMMDD."""
    return (_EPOCH + dt.timedelta(days=day)).strftime(DATE_FORMAT)


def trip_times(starts: list[float], days: list[int]) -> tuple[list[str], list[str]]:
    """GTFS start_time and start_date of trips departing at ``starts`` (local seconds since the epoch).

    ``days`` are the service days the trips belong to: a trip after midnight keeps the day before,
    with a start time past 24:00.
    """
    names: dict[int, str] = {}
    start_times, start_dates = [], []
    for start, day in zip(starts, days, strict=True):
        start_times.append(gtfs_time(int(start) - day * DAY_S))
        name = names.get(day)
        if name is None:
            name = names[day] = gtfs_date(day)
        start_dates.append(name)
    return start_times, start_dates
