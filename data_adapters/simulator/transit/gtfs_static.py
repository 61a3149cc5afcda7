"""The network as a GTFS static feed: its text tables, and the byte-stable zip archive that holds them."""

from __future__ import annotations

import csv
import io
import zipfile
from typing import Any, Callable, Iterable, Sequence

from data_adapters.simulator.city import CityModel
from data_adapters.simulator.patterns import DAY_S
from data_adapters.simulator.transit.clock import gtfs_time
from data_adapters.simulator.transit.model import Route, Stop

AGENCY_ID = "YYBUS"
ZIP_TIMESTAMP = (2024, 1, 1, 0, 0, 0)

# file name -> (header, rows)
Tables = dict[str, tuple[list[str], Iterable[list[Any]]]]


def gtfs_tables(city: CityModel, routes: Sequence[Route], stop: Callable[[str], Stop]) -> Tables:
    """The GTFS files of ``routes`` (with the stops they serve, looked up by ``stop``), in archive order."""
    used = sorted({s for r in routes for s in r.stop_ids})
    return {
        "agency.txt": (["agency_id", "agency_name", "agency_url", "agency_timezone", "agency_lang",
                        "agency_phone"],
                       [[AGENCY_ID, f"{city.name} Public Transport (CityOps demo)",
                         "https://cityops.invalid/demo", city.timezone, "zh", ""]]),
        "stops.txt": (["stop_id", "stop_name", "stop_lat", "stop_lon", "location_type"],
                      [[s.stop_id, s.name, f"{s.lat:.6f}", f"{s.lon:.6f}", 0] for s in map(stop, used)]),
        "routes.txt": (["route_id", "agency_id", "route_short_name", "route_long_name", "route_type",
                        "route_color", "route_text_color"],
                       [[r.route_id, AGENCY_ID, r.short_name, r.long_name, 3, r.color, r.text_color]
                        for r in routes]),
        "trips.txt": (["route_id", "service_id", "trip_id", "trip_headsign", "direction_id", "shape_id"],
                      [[r.route_id, "daily", r.trip_id(d), r.headsigns[d], d, r.trip_id(d)]
                       for r in routes for d in (0, 1)]),
        "shapes.txt": (["shape_id", "shape_pt_lat", "shape_pt_lon", "shape_pt_sequence",
                        "shape_dist_traveled"], _shape_rows(routes)),
        "stop_times.txt": (["trip_id", "arrival_time", "departure_time", "stop_id", "stop_sequence",
                            "shape_dist_traveled", "timepoint"], _stop_time_rows(routes)),
        "frequencies.txt": (["trip_id", "start_time", "end_time", "headway_secs", "exact_times"],
                            [[r.trip_id(d), gtfs_time(r.window_start_s(d)),
                              gtfs_time(r.window_start_s(d) + DAY_S), r.headway_s, 1]
                             for r in routes for d in (0, 1)]),
        "calendar.txt": (["service_id", "monday", "tuesday", "wednesday", "thursday", "friday",
                          "saturday", "sunday", "start_date", "end_date"],
                         [["daily", 1, 1, 1, 1, 1, 1, 1, "20240101", "20391231"]]),
    }


def zip_tables(tables: Tables) -> bytes:
    """The tables as CSV files in a zip archive, byte-identical for the same tables."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, (header, rows) in tables.items():
            # A fixed timestamp keeps the archive byte-identical from run to run.
            info = zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, csv_bytes(header, rows))
    return buffer.getvalue()


def csv_bytes(header: list[str], rows: Iterable[list[Any]]) -> bytes:
    """One GTFS text file: UTF-8 CSV with ``\\n`` line ends."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return text.getvalue().encode("utf-8")


def _shape_rows(routes: Sequence[Route]) -> Iterable[list[Any]]:
    """shapes.txt: one shape per trip direction, the inbound one the outbound path reversed."""
    for r in routes:
        total = r.length_m
        for d in (0, 1):
            order = range(len(r.shape)) if d == 0 else range(len(r.shape) - 1, -1, -1)
            for seq, k in enumerate(order, start=1):
                dist = r.shape_dist[k] if d == 0 else total - r.shape_dist[k]
                yield [r.trip_id(d), f"{r.shape[k, 1]:.6f}", f"{r.shape[k, 0]:.6f}", seq, f"{dist:.1f}"]


def _stop_time_rows(routes: Sequence[Route]) -> Iterable[list[Any]]:
    """stop_times.txt: the template trips, timed from the start of their frequency window."""
    for r in routes:
        for d in (0, 1):
            start = r.window_start_s(d)
            for seq, (stop, arr, dep, dist) in enumerate(
                    zip(r.stop_ids_of(d), r.arrivals[d], r.departures[d], r.stop_dist_of(d), strict=True),
                    start=1):
                yield [r.trip_id(d), gtfs_time(start + arr), gtfs_time(start + dep),
                       stop, seq, f"{dist:.1f}", 1]
