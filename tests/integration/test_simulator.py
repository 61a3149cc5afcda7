"""The demo city's transport simulator: geography, GTFS, GTFS-Realtime, the HTTP server, the process."""

from __future__ import annotations

import io
import json
import os
import select
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from itertools import pairwise

import numpy as np
import pandas as pd
import pytest
from google.transit import gtfs_realtime_pb2 as rt

from app.model.geo import valid_position
from app.store.embedded import free_port
from data_adapters.simulator import CityModel, Fleet, SimulatorServer, TransitNetwork
from data_adapters.simulator.city import haversine_m
from data_adapters.simulator.transit import DELAY_MAX_S, DELAY_MIN_S, MAX_VEHICLES_PER_ROUTE
from tests.support.paths import REPO

NOW = 1_767_225_600.0 + 3600.0  # 2026-01-01 09:00 in Yiyang: morning rush
MAX_SPEED_MPS = 35 / 3.6
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def build(seed: int, vehicles: int, routes: int | None = None) -> tuple[CityModel, TransitNetwork, Fleet]:
    """A fresh city, network and fleet (nothing shared with other builds)."""
    city = CityModel.generate(seed)
    network = TransitNetwork.generate(city, routes=routes, seed=seed, vehicles=vehicles)
    return city, network, Fleet(network, seed=seed)


@pytest.fixture(scope="module")
def demo() -> tuple[CityModel, TransitNetwork, Fleet]:
    """One 300-vehicle city shared by the read-only tests."""
    return build(5, 300)


@pytest.fixture(scope="module")
def gtfs(demo: tuple[CityModel, TransitNetwork, Fleet]) -> dict[str, pd.DataFrame]:
    """The demo city's static feed read back with pandas, every column as text."""
    archive = zipfile.ZipFile(io.BytesIO(demo[1].to_gtfs_zip()))
    return {name.removesuffix(".txt"): pd.read_csv(archive.open(name), dtype=str, keep_default_na=False)
            for name in archive.namelist()}


def decode(payload: bytes) -> rt.FeedMessage:
    """A FeedMessage parsed with gtfs-realtime-bindings."""
    feed = rt.FeedMessage()
    feed.ParseFromString(payload)
    return feed


def seconds(gtfs_time: str) -> int:
    """HH:MM:SS (hours may pass 24) as seconds after midnight."""
    h, m, s = (int(part) for part in gtfs_time.split(":"))
    return h * 3600 + m * 60 + s


# -- the city ---------------------------------------------------------------------------------------
def test_city_is_seeded_centred_and_has_river_and_districts() -> None:
    """Seeded: a ~12 km square around Yiyang with a river across, named districts, a tilted grid."""
    city = CityModel.generate(1)
    assert CityModel.generate(1) == city
    assert CityModel.generate(2).roads != city.roads
    west, south, east, north = city.bbox
    assert west < 112.36 < east and south < 28.55 < north
    width = haversine_m(west, 28.55, east, 28.55)
    height = haversine_m(112.36, south, 112.36, north)
    assert 11_000 < width < 13_000 and 11_000 < height < 13_000
    # The river runs from the west edge to the east edge.
    assert city.river[0][0] == pytest.approx(west) and city.river[-1][0] == pytest.approx(east)
    assert all(south < lat < north for _, lat in city.river)
    assert {"Heshan", "Ziyang", "Gaoxin"} <= {d.name for d in city.districts}
    for district in city.districts:
        assert district.polygon[0] == district.polygon[-1]
    assert all(city.district_at(lon, lat) is not None for lon, lat in city.nodes)
    # Main roads every ~800 m: about 15 each way, and not an axis-aligned sheet of graph paper.
    assert 20 <= len(city.roads) <= 60 and len(city.road_names) == len(city.roads)
    segments = [(a, b) for road in city.roads for a, b in pairwise(road)]
    lengths = [float(haversine_m(a[0], a[1], b[0], b[1])) for a, b in segments]
    assert 600 < float(np.median(lengths)) < 1000
    # Angle of each segment off the nearest axis, in the local metric frame.
    east_scale = np.cos(np.radians(28.55))
    headings = [np.degrees(np.arctan2(b[1] - a[1], (b[0] - a[0]) * east_scale)) for a, b in segments]
    off_axis = [abs((h + 45) % 90 - 45) for h in headings]
    assert float(np.median(off_axis)) > 2.0 and float(np.std(off_axis)) > 0.5


def test_center_is_configurable() -> None:
    """Another centre moves the whole city there."""
    city = CityModel.generate(1, center=(121.47, 31.23))
    west, south, east, north = city.bbox
    assert west < 121.47 < east and south < 31.23 < north


# -- GTFS static ------------------------------------------------------------------------------------
def test_same_seed_gives_identical_zip_and_positions() -> None:
    """Same seed: identical zip bytes, and identical positions at an instant whatever ran before."""
    _, net_a, fleet_a = build(7, 120)
    _, net_b, fleet_b = build(7, 120)
    _, net_c, _ = build(8, 120)
    assert net_a.to_gtfs_zip() == net_b.to_gtfs_zip()
    assert net_a.to_gtfs_zip() != net_c.to_gtfs_zip()
    a, b = fleet_a.step(NOW), fleet_b.step(NOW)
    assert np.array_equal(a.lat, b.lat) and np.array_equal(a.lon, b.lon)
    assert np.array_equal(a.delay, b.delay)
    assert fleet_a.vehicle_positions(NOW) == fleet_b.vehicle_positions(NOW)
    # A pure function of time: stepping elsewhere first changes nothing.
    fleet_b.step(NOW + 5000)
    assert np.array_equal(fleet_b.step(NOW).lat, a.lat)


def test_zip_is_valid_gtfs(gtfs: dict[str, pd.DataFrame]) -> None:
    """The zip reads back with pandas, its files agree, and trips have 8-40 stops 400-600 m apart."""
    required = {"agency", "stops", "routes", "trips", "shapes", "stop_times", "calendar"}
    assert required <= set(gtfs)
    routes, trips, stops = gtfs["routes"], gtfs["trips"], gtfs["stops"]
    stop_times, shapes = gtfs["stop_times"], gtfs["shapes"]
    assert gtfs["agency"].loc[0, "agency_timezone"] == "Asia/Shanghai"
    assert routes["route_id"].is_unique and stops["stop_id"].is_unique and trips["trip_id"].is_unique
    assert set(trips["route_id"]) <= set(routes["route_id"])
    assert set(routes["route_id"]) <= set(trips["route_id"])
    assert set(stop_times["stop_id"]) <= set(stops["stop_id"])
    assert set(stop_times["trip_id"]) == set(trips["trip_id"])
    assert set(trips["shape_id"]) <= set(shapes["shape_id"])
    assert set(trips["service_id"]) <= set(gtfs["calendar"]["service_id"])
    assert set(gtfs["frequencies"]["trip_id"]) == set(trips["trip_id"])
    assert (routes["route_type"] == "3").all()
    assert routes["route_short_name"].tolist() == [str(n) for n in range(1, len(routes) + 1)]
    assert all(" - " in name or name.endswith(" Local") for name in routes["route_long_name"])
    lat, lon = stops["stop_lat"].astype(float), stops["stop_lon"].astype(float)
    assert lat.between(28.4, 28.7).all() and lon.between(112.2, 112.5).all()
    for _, points in shapes.groupby("shape_id"):
        assert len(points) >= 2
        assert (np.diff(points["shape_pt_sequence"].astype(int)) > 0).all()
        assert (np.diff(points["shape_dist_traveled"].astype(float)) >= 0).all()
    for _, trip in stop_times.groupby("trip_id"):
        assert 8 <= len(trip) <= 40
        arrivals = trip["arrival_time"].map(seconds).to_numpy()
        departures = trip["departure_time"].map(seconds).to_numpy()
        assert (departures >= arrivals).all() and (arrivals[1:] > departures[:-1]).all()
        gaps = np.diff(trip["shape_dist_traveled"].astype(float))
        assert gaps.min() > 350 and gaps.max() < 700 and 430 < gaps.mean() < 600
        # Urban bus: 15-35 km/h average, dwell included.
        speed_kmh = gaps.sum() / (arrivals[-1] - departures[0]) * 3.6
        assert 15 < speed_kmh < 35


def test_more_vehicles_make_more_routes_and_keep_the_first_ones() -> None:
    """Past ~60 vehicles per route the network grows new routes and keeps the old ones."""
    city = CityModel.generate(4)
    network = TransitNetwork.generate(city, routes=3, seed=4, vehicles=50)
    first = [route.shape.copy() for route in network.routes]
    fleet = Fleet(network, vehicles=1000)
    assert len(fleet) == 1000 == sum(r.vehicles for r in network.routes)
    assert len(network.active_routes) >= 1000 / MAX_VEHICLES_PER_ROUTE
    assert max(r.vehicles for r in network.routes) <= MAX_VEHICLES_PER_ROUTE
    assert all(np.array_equal(a, r.shape) for a, r in zip(first, network.routes[:3], strict=True))


def test_fewer_vehicles_than_routes_serve_only_some_routes() -> None:
    """With fewer buses than routes, each bus gets its own route and the feed lists only those."""
    _, network, fleet = build(2, 5)
    assert len(fleet) == 5 and len(network.active_routes) == 5 < len(network.routes)
    routes = pd.read_csv(zipfile.ZipFile(io.BytesIO(network.to_gtfs_zip())).open("routes.txt"), dtype=str)
    assert sorted(routes["route_id"]) == sorted(r.route_id for r in network.active_routes)
    assert len(decode(fleet.vehicle_positions(NOW)).entity) == 5


# -- the fleet --------------------------------------------------------------------------------------
def test_vehicles_stay_in_the_city_and_move_plausibly(demo: tuple[CityModel, TransitNetwork, Fleet]) -> None:
    """Through a day buses stay in the city, never pass 35 km/h over 10 s, and most move."""
    city, _, fleet = demo
    west, south, east, north = city.bbox
    for now in NOW + np.arange(0, 86_400, 4 * 3600 + 123):
        before, after = fleet.step(now), fleet.step(now + 10)
        for state in (before, after):
            assert ((state.lon >= west) & (state.lon <= east)).all()
            assert ((state.lat >= south) & (state.lat <= north)).all()
        moved = haversine_m(before.lon, before.lat, after.lon, after.lat)
        assert moved.max() < MAX_SPEED_MPS * 10 + 5
        assert (moved > 1).mean() > 0.5
        assert (before.speed <= MAX_SPEED_MPS).all() and (before.speed >= 0).all()


def test_vehicle_positions_feed(demo: tuple[CityModel, TransitNetwork, Fleet],
                                gtfs: dict[str, pd.DataFrame]) -> None:
    """VehiclePositions: one entity per bus, valid positions, trips and stops of the static feed."""
    _, network, fleet = demo
    feed = decode(fleet.vehicle_positions(NOW))
    assert feed.header.gtfs_realtime_version == "2.0"
    assert feed.header.incrementality == rt.FeedHeader.FULL_DATASET
    assert feed.header.timestamp == int(NOW)
    assert len(feed.entity) == len(fleet) == 300
    ids = [e.vehicle.vehicle.id for e in feed.entity]
    assert len(set(ids)) == 300
    frequencies = gtfs["frequencies"].set_index("trip_id")
    trips = gtfs["trips"].set_index("trip_id")
    columns = gtfs["stop_times"][["trip_id", "stop_sequence", "stop_id"]].values
    sequences = {(t, int(q)): s for t, q, s in columns}
    for entity in feed.entity:
        vp = entity.vehicle
        assert valid_position(vp.position.latitude, vp.position.longitude)
        assert 0 <= vp.position.bearing < 360 and 0 <= vp.position.speed <= MAX_SPEED_MPS
        assert vp.timestamp == int(NOW) and vp.vehicle.label and vp.HasField("occupancy_status")
        trip = vp.trip
        assert trips.loc[trip.trip_id, "route_id"] == trip.route_id
        assert int(trips.loc[trip.trip_id, "direction_id"]) == trip.direction_id
        # The trip is one of the departures frequencies.txt promises, on a nearby service day.
        window = frequencies.loc[trip.trip_id]
        start = seconds(trip.start_time)
        assert seconds(window["start_time"]) <= start < seconds(window["end_time"])
        assert (start - seconds(window["start_time"])) % int(window["headway_secs"]) == 0
        assert trip.start_date in ("20251231", "20260101")
        assert sequences[(trip.trip_id, vp.current_stop_sequence)] == vp.stop_id
    statuses = {e.vehicle.current_status for e in feed.entity}
    assert rt.VehiclePosition.STOPPED_AT in statuses and rt.VehiclePosition.IN_TRANSIT_TO in statuses


def test_trip_updates_feed(demo: tuple[CityModel, TransitNetwork, Fleet],
                           gtfs: dict[str, pd.DataFrame]) -> None:
    """TripUpdates: bounded delays and one next-stop arrival in the near future per bus."""
    _, _, fleet = demo
    feed = decode(fleet.trip_updates(NOW))
    assert len(feed.entity) == 300
    stops = set(gtfs["stops"]["stop_id"])
    delays = []
    for entity in feed.entity:
        tu = entity.trip_update
        assert DELAY_MIN_S <= tu.delay <= DELAY_MAX_S
        assert tu.vehicle.id and tu.timestamp == int(NOW)
        assert len(tu.stop_time_update) == 1
        stu = tu.stop_time_update[0]
        assert stu.stop_id in stops and stu.stop_sequence >= 1
        assert stu.arrival.delay == tu.delay
        assert int(NOW) <= stu.arrival.time < int(NOW) + 3 * 3600
        delays.append(tu.delay)
    assert len(set(delays)) > 100


def test_delays_wander_and_revert(demo: tuple[CityModel, TransitNetwork, Fleet]) -> None:
    """Delays change without jumps, forget their past within hours, and recover after incidents."""
    fleet = demo[2]
    samples = np.array([fleet.delays(t) for t in NOW + np.arange(0, 12 * 3600, 60)])  # one a minute
    assert samples.min() >= DELAY_MIN_S and samples.max() <= DELAY_MAX_S
    # No jumps: a bus falls behind at most as fast as time passes (it stands still, never reverses)
    # and catches up at most ~25 % faster than scheduled.
    per_minute = np.diff(samples, axis=0)
    assert per_minute.max() < 60 and per_minute.min() > -0.3 * 60
    first_hour = samples[:60]
    assert ((first_hour.max(axis=0) - first_hour.min(axis=0)) >= 30).mean() > 0.9
    anomaly = samples - samples.mean(axis=0)

    def correlation(lag: int) -> float:
        a, b = anomaly[:-lag], anomaly[lag:]
        return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))

    # A slow walk (close from minute to minute) that forgets where it was (mean reversion):
    # a random walk without reversion would stay correlated over hours.
    assert correlation(1) > 0.9
    assert abs(correlation(180)) < 0.35
    # Incidents happen, and every bus that fell far behind catches up again.
    late = np.flatnonzero((samples[:6 * 60] > 300).any(axis=0))
    assert late.size > 0
    assert all((samples[6 * 60:, v] < 150).any() for v in late)


def test_alerts_are_mostly_empty_with_bilingual_detours(
        demo: tuple[CityModel, TransitNetwork, Fleet]) -> None:
    """Alerts are usually empty; a detour has a period, a known route and en + zh texts."""
    _, network, fleet = demo
    route_ids = {r.route_id for r in network.active_routes}
    feeds = [decode(fleet.alerts(t)) for t in NOW + np.arange(0, 2 * 86_400, 600)]
    assert all(f.header.gtfs_realtime_version == "2.0" for f in feeds)
    with_alerts = [f for f in feeds if f.entity]
    assert 0 < len(with_alerts) < len(feeds) / 2
    for feed in with_alerts:
        for entity in feed.entity:
            alert = entity.alert
            assert alert.effect == rt.Alert.DETOUR
            period = alert.active_period[0]
            assert period.start < period.end and feed.header.timestamp < period.end
            assert {e.route_id for e in alert.informed_entity} <= route_ids
            for text in (alert.header_text, alert.description_text):
                assert {t.language for t in text.translation} == {"en", "zh"}
                assert all(t.text for t in text.translation)


def test_twenty_thousand_vehicle_positions_build() -> None:
    """VehiclePositions for 20,000 buses: every bus once, routes within their size (the time it
    takes is printed, a figure for people, not a pass mark: `cityops bench` measures speed)."""
    _, network, fleet = build(1, 20_000)
    assert max(r.vehicles for r in network.routes) <= MAX_VEHICLES_PER_ROUTE
    timings = []
    for k in range(3):
        started = time.perf_counter()
        payload = fleet.vehicle_positions(NOW + k)
        timings.append(time.perf_counter() - started)
    print(f"VehiclePositions for 20,000 buses: {min(timings) * 1000:.0f} ms (best of 3)")
    feed = decode(payload)
    assert len(feed.entity) == 20_000 == len({e.vehicle.vehicle.id for e in feed.entity})


# -- the server -------------------------------------------------------------------------------------
def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, bytes, str]:
    """(status, content type, body, ETag) of a GET, HTTP errors included."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with OPENER.open(request, timeout=10) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read(), \
                response.headers.get("ETag", "")
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read(), error.headers.get("ETag", "")


def test_server_serves_every_endpoint_on_loopback() -> None:
    """The server serves each feed with its type, 404s the rest, caches ~1 s, and stops."""
    clock = [NOW]
    with SimulatorServer(vehicles=40, seed=2, clock=lambda: clock[0], cache_s=0.3) as server:
        base = server.url
        assert base.startswith("http://127.0.0.1:") and base.endswith("/")
        status, kind, body, etag = fetch(base + "gtfs/static.zip")
        assert status == 200 and kind == "application/zip"
        assert "stop_times.txt" in zipfile.ZipFile(io.BytesIO(body)).namelist()
        assert fetch(base + "gtfs/static.zip", {"If-None-Match": etag})[0] == 304
        for path, kind_of in (("vehicle-positions", "vehicle"), ("trip-updates", "trip_update")):
            status, kind, body, _ = fetch(f"{base}gtfs-rt/{path}.pb?ignored=1")
            assert status == 200 and kind == "application/x-protobuf"
            feed = decode(body)
            assert len(feed.entity) == 40 and all(e.HasField(kind_of) for e in feed.entity)
        status, kind, body, _ = fetch(base + "gtfs-rt/alerts.pb")
        assert status == 200 and kind == "application/x-protobuf"
        assert decode(body).header.gtfs_realtime_version == "2.0"
        status, kind, body, _ = fetch(base + "healthz")
        assert status == 200 and json.loads(body)["vehicles"] == 40
        for missing in ("nope", "gtfs-rt/", "gtfs/static.zip/x"):
            assert fetch(base + missing)[0] == 404

        # Within the cache window pollers share one payload; after it, the clock moves the feed.
        first = fetch(base + "gtfs-rt/vehicle-positions.pb")[2]
        clock[0] += 30
        assert fetch(base + "gtfs-rt/vehicle-positions.pb")[2] == first
        time.sleep(0.35)
        later = decode(fetch(base + "gtfs-rt/vehicle-positions.pb")[2])
        assert later.header.timestamp == int(NOW) + 30
    with pytest.raises(urllib.error.URLError):
        OPENER.open(base + "healthz", timeout=2)


def test_module_runs_until_sigterm() -> None:
    """python -m data_adapters.simulator prints its ready line, serves, and exits 0 on SIGTERM."""
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "0"}
    command = [sys.executable, "-m", "data_adapters.simulator", "--port", str(port), "--vehicles", "30",
               "--seed", "3"]
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    assert process.stdout is not None
    try:
        ready, _, _ = select.select([process.stdout], [], [], 15)
        assert ready, "no ready line within 15 s"
        assert process.stdout.readline().strip() == f"simulator serving http://127.0.0.1:{port}/"
        status, _, body, _ = fetch(f"http://127.0.0.1:{port}/healthz")
        assert status == 200 and json.loads(body)["vehicles"] == 30
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
