"""The demo city's water network: supply zones, their sensors and every reading as a function of time.

One supply zone per district. Each zone has an inlet flow meter and a water-quality station; the
rest of the sensors are pressure loggers (most), sub-zone flow meters and more quality stations.
Two reservoirs and three river gauges on the Zi River complete the network. Each sensor is a
SensorThings *Thing* with one *Datastream* per measurement (a quality station has two), and each
datastream reports every ``period`` seconds at a fixed offset, so the readings that exist up to a
time, and their values, are pure functions of (seed, datastream, time).

- flow follows the daily demand curve (lowest around 02:00-04:00); one zone has a leak that
  shows as raised night flow;
- pressure falls as demand (and head loss) rises, so it is lowest at the demand peaks;
- reservoirs fill at night and draw down by day; river levels drift slowly;
- turbidity and free chlorine stay within limits but for an occasional short excursion;
- the rainstorm scenario raises the river and the reservoirs, muddies the flooded zone's water
  and drops its pressure below 2 bar;
- the trickle of ordinary incidents (trickle.py) breaks a main now and then: a few loggers of one
  zone fall below 2 bar for a while.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from data_adapters.simulator.city import (
    NORTH_DISTRICTS,
    SOUTH_DISTRICTS,
    CityModel,
    District,
    points_in_polygon,
)
from data_adapters.simulator.patterns import local_hours, smooth_noise, uniform, water_demand, zone
from data_adapters.simulator.scenario import Scenario
from data_adapters.simulator.trickle import Trickle

DEFAULT_SENSORS = 60
MAX_SENSORS = 20_000
RIVER_GAUGES = 3
RESERVOIRS = 2
# Past the fixed sensors, new ones follow this cycle: mostly pressure loggers.
EXTRA_CYCLE: tuple[str, ...] = ("pressure", "pressure", "pressure", "pressure", "pressure", "flow",
                                "pressure", "quality")


@dataclass(frozen=True)
class Measurement:
    """What a datastream measures: its name (SenML ``n``), STA unit and reporting period."""

    code: int
    name: str
    label: str
    unit: str            # UCUM, as STA's unitOfMeasurement.symbol
    unit_name: str
    senml_unit: str      # RFC 8428 / RFC 8798 registered unit
    senml_factor: float  # STA value times this is the SenML value
    period_s: int
    decimals: int


PRESSURE, FLOW, TURBIDITY, CHLORINE, RESERVOIR_LEVEL, RIVER_LEVEL = range(6)
MEASUREMENTS: tuple[Measurement, ...] = (
    Measurement(PRESSURE, "pressure", "Water pressure", "bar", "bar", "bar", 1.0, 60, 3),
    Measurement(FLOW, "flow", "Volume flow rate", "m3/h", "cubic metre per hour", "l/s", 1 / 3.6, 60, 1),
    Measurement(TURBIDITY, "turbidity", "Turbidity", "NTU", "nephelometric turbidity unit", "NTU", 1.0,
                300, 2),
    Measurement(CHLORINE, "chlorine", "Free chlorine", "mg/L", "milligram per litre", "kg/m3", 1e-3,
                300, 2),
    Measurement(RESERVOIR_LEVEL, "level", "Reservoir water level", "m", "metre", "m", 1.0, 300, 3),
    Measurement(RIVER_LEVEL, "level", "River stage", "m", "metre", "m", 1.0, 300, 3),
)
# The measurements of each kind of sensor.
KIND_MEASUREMENTS: dict[str, tuple[int, ...]] = {
    "pressure": (PRESSURE,), "flow": (FLOW,), "quality": (TURBIDITY, CHLORINE),
    "reservoir": (RESERVOIR_LEVEL,), "river": (RIVER_LEVEL,),
}
KIND_LABELS = {"pressure": "pressure logger", "flow": "flow meter", "quality": "water quality station",
               "reservoir": "reservoir level sensor", "river": "river level gauge"}
KIND_LETTER = {"pressure": "P", "flow": "F", "quality": "Q"}

# Limits the screens and alert rules care about (GB 5749-2022 for drinking water).
TURBIDITY_LIMIT_NTU = 1.0
CHLORINE_MIN_MGL = 0.05
LOW_PRESSURE_BAR = 2.0
# The leaking zone loses this share of its mean demand around the clock.
LEAK_SHARE = 0.22
DEMAND_PEAK = float(np.max(water_demand(np.linspace(0, 24, 24 * 60, endpoint=False))))
EXCURSION_BUCKET_S = 6 * 3600
EXCURSION_PROBABILITY = 0.12


@dataclass(frozen=True)
class SupplyZone:
    """A district metered area: one per district."""

    index: int
    code: str
    name: str
    district: District


@dataclass(frozen=True)
class Sensor:
    """A sensor station (a SensorThings Thing) at one place."""

    index: int
    id: str
    name: str
    kind: str
    zone: int            # supply zone index, -1 for river gauges and reservoirs
    lon: float
    lat: float


@dataclass(frozen=True)
class Datastream:
    """One measurement of one sensor, reported every ``period_s`` seconds at ``offset_s``."""

    index: int
    sensor: int
    measurement: int
    period_s: int
    offset_s: int


class WaterNetwork:
    """The sensors of the city's water network and their readings at any time."""

    def __init__(self, city: CityModel, seed: int = 1, sensors: int = DEFAULT_SENSORS,
                 scenario: Scenario | None = None, trickle: Trickle | None = None) -> None:
        minimum = RIVER_GAUGES + RESERVOIRS + 2 * len(city.districts)
        if not minimum <= sensors <= MAX_SENSORS:
            raise ValueError(f"sensors must be from {minimum} to {MAX_SENSORS}")
        self.city, self.seed, self.scenario, self.trickle = city, seed, scenario, trickle
        self.tz = zone(city.timezone)
        self.zones = _zones(city)
        self.sensors: list[Sensor] = []
        self._place(sensors)
        self.datastreams: list[Datastream] = []
        for sensor in self.sensors:
            for code in KIND_MEASUREMENTS[sensor.kind]:
                period = MEASUREMENTS[code].period_s
                index = len(self.datastreams)
                offset = int(uniform(seed, 50, index, 0)[0] * period)
                self.datastreams.append(Datastream(index, sensor.index, code, period, offset))
        self._arrays()
        flooded = scenario.district.name if scenario else None
        self.flooded_zone = next((z.index for z in self.zones if z.district.name == flooded), -1)
        # The leak: a zone picked by the seed, never the flooded one (two stories at once confuse).
        candidates = [z.index for z in self.zones if z.index != self.flooded_zone]
        self.leak_zone = candidates[int(uniform(seed, 51, 0, 0)[0] * len(candidates))]

    # -- construction ----------------------------------------------------------------------------
    def _place(self, count: int) -> None:
        """Create the sensors: fixed ones first, then the extra ones by the cycle, zone by zone."""
        city, seed = self.city, self.seed
        nodes = np.array(city.nodes)
        in_zone = [np.flatnonzero(points_in_polygon(nodes[:, 0], nodes[:, 1], z.district.polygon))
                   for z in self.zones]
        numbers: dict[tuple[int, str], int] = {}

        def add(kind: str, zone_index: int, name: str | None = None, where: tuple[float, float] | None = None,
                sensor_id: str | None = None, in_zone_of: int | None = None) -> None:
            """Add a sensor of ``zone_index`` (-1: none), placed in the district of ``in_zone_of``."""
            index = len(self.sensors)
            place = zone_index if in_zone_of is None else in_zone_of
            if where is None:
                candidates = in_zone[place] if len(in_zone[place]) else np.arange(len(nodes))
                node = candidates[int(uniform(seed, 52, index, 0)[0] * len(candidates))]
                # A few tens of metres off the junction: loggers sit on hydrants and valves.
                dx, dy = (uniform(seed, 53, index, k)[0] * 160.0 - 80.0 for k in (0, 1))
                x, y = city.to_xy(nodes[node, 0], nodes[node, 1])
                lon, lat = city.to_lonlat(float(x) + dx, float(y) + dy)
                where = (round(float(lon), 6), round(float(lat), 6))
                district = self.zones[place].district.polygon
                if len(in_zone[place]) and not points_in_polygon(where[0], where[1], district):
                    where = (float(nodes[node, 0]), float(nodes[node, 1]))  # the offset left the zone
            if sensor_id is None:
                code = self.zones[zone_index]
                number = numbers[(zone_index, kind)] = numbers.get((zone_index, kind), 0) + 1
                sensor_id = f"{code.code}-{KIND_LETTER[kind]}{number:03d}"
                name = name or f"{code.name} {KIND_LABELS[kind]} {number}"
            self.sensors.append(Sensor(index, sensor_id, name or sensor_id, kind, zone_index, *where))

        river = np.array(city.river)
        for k, side in enumerate(("west", "centre", "east")):
            lon, lat = river[int((0.2 + 0.3 * k) * (len(river) - 1))]
            add("river", -1, f"{city.river_name} gauge ({side})", (float(lon), float(lat)), f"ZR-G{k + 1}")
        south = [z.index for z in self.zones if z.district.name not in ("Ziyang", "Changchun")] or [0]
        for k in range(RESERVOIRS):
            z = south[k % len(south)]
            add("reservoir", -1, f"{self.zones[z].name} service reservoir", None, f"RES-{k + 1}", z)
        for z in self.zones:
            add("flow", z.index, f"{z.name} zone inlet meter")
            add("quality", z.index)
        extra = count - len(self.sensors)
        for k in range(extra):
            # 8 kinds in the cycle, 5 zones: coprime, so every zone gets every kind.
            add(EXTRA_CYCLE[k % len(EXTRA_CYCLE)], k % len(self.zones))

    def _arrays(self) -> None:
        """Per-sensor and per-datastream parameters as numpy arrays (one lookup per reading)."""
        seed = self.seed
        n = len(self.sensors)
        ids = np.arange(n)

        def u(stream: int) -> np.ndarray:
            return uniform(seed, stream, ids, 0)

        self.s_zone = np.array([s.zone for s in self.sensors], dtype=np.int64)
        inlet = np.array([s.kind == "flow" and s.name.endswith("inlet meter") for s in self.sensors])
        # Pressure: static head at zero demand, and how much the peak's head loss takes off.
        self.p_static = 4.2 + 0.6 * u(60)
        self.p_loss = 0.7 + 0.6 * u(61)
        self.p_target = 1.3 + 0.5 * u(62)          # where the scenario's pressure drop settles
        # Flow: a zone inlet carries the zone (800-1600 m3/h mean), a sub-zone meter 40-200.
        self.f_mean = np.where(inlet, 800.0 + 800.0 * u(63), 40.0 + 160.0 * u(63))
        self.r_mid = 3.6 + 0.8 * u(64)             # reservoir mid level (of 6 m)
        self.r_swing = 0.35 + 0.3 * u(65)
        self.g_base = 2.6 + 0.8 * u(66)            # river stage in m
        self.g_rise = 2.2 + 0.8 * u(67)
        # The flood wave travels downstream (west to east): each gauge sees it 5 min after the last.
        gauge = np.cumsum([s.kind == "river" for s in self.sensors]) - 1
        self.g_lag = 300.0 * np.maximum(gauge, 0)
        self.turbidity = 0.15 + 0.3 * u(68)
        self.chlorine = 0.35 + 0.35 * u(69)
        self.ds_sensor = np.array([d.sensor for d in self.datastreams], dtype=np.int64)
        self.ds_code = np.array([d.measurement for d in self.datastreams], dtype=np.int64)
        self.ds_period = np.array([d.period_s for d in self.datastreams], dtype=np.int64)
        self.ds_offset = np.array([d.offset_s for d in self.datastreams], dtype=np.int64)

    # -- readings ------------------------------------------------------------------------------
    def values(self, ds: Any, times: Any) -> np.ndarray:
        """The reading of each datastream index in ``ds`` at the matching time in ``times``."""
        ds = np.asarray(ds, dtype=np.int64)
        times = np.asarray(times, dtype=np.float64)
        out = np.zeros(ds.shape, dtype=np.float64)
        hours = local_hours(times, self.tz)
        codes = self.ds_code[ds]
        for measurement in MEASUREMENTS:
            mask = codes == measurement.code
            if mask.any():
                sensor = self.ds_sensor[ds[mask]]
                value = self._value(measurement.code, sensor, times[mask], hours[mask])
                out[mask] = np.round(value, measurement.decimals)
        return out

    def _level(self, effect: str, times: np.ndarray) -> np.ndarray:
        if self.scenario is None:
            return np.zeros_like(times)
        return self.scenario.level(effect, times)

    def _value(self, code: int, sensor: np.ndarray, t: np.ndarray, hours: np.ndarray) -> np.ndarray:
        seed = self.seed
        zone_of = self.s_zone[sensor]
        flooded = (zone_of == self.flooded_zone) & (self.flooded_zone >= 0)
        demand = water_demand(hours)
        if code == PRESSURE:
            loss = (demand / DEMAND_PEAK) ** 1.85
            leak = np.where(zone_of == self.leak_zone, 0.15, 0.0)
            p = (self.p_static[sensor] - self.p_loss[sensor] * loss - leak
                 + 0.04 * smooth_noise(seed, 70, sensor, t, 600.0))
            drop = np.where(flooded, self._level("pressure_drop", t), 0.0)
            low = self.p_target[sensor] + 0.05 * smooth_noise(seed, 78, sensor, t, 300.0)
            p = (1.0 - drop) * p + drop * low
            # The trickle's water main breaks (none while a scenario plays).
            return p if self.trickle is None else self.trickle.pressure(self, sensor, t, p)
        if code == FLOW:
            mean = self.f_mean[sensor]
            flow = mean * demand * (1.0 + 0.05 * smooth_noise(seed, 71, sensor, t, 900.0))
            flow = flow + np.where(zone_of == self.leak_zone, LEAK_SHARE * mean, 0.0)
            # The flooded zone's booster station is down while its pressure is low.
            drop = np.where(flooded, self._level("pressure_drop", t), 0.0)
            return flow * (1.0 - 0.35 * drop)
        if code == TURBIDITY:
            spike = self._excursions(sensor, t, 72)
            rain = np.where(flooded, 2.6 * self._level("turbidity", t), 0.0)
            return np.maximum(0.05, self.turbidity[sensor] + 0.04 * smooth_noise(seed, 73, sensor, t, 1800.0)
                              + 1.8 * spike + rain)
        if code == CHLORINE:
            dip = self._excursions(sensor, t, 74)
            return np.maximum(0.02, self.chlorine[sensor] + 0.04 * smooth_noise(seed, 75, sensor, t, 1800.0)
                              - 0.42 * dip)
        if code == RESERVOIR_LEVEL:
            # Pumps fill at night (cheap power), demand draws down by day: fullest around 06:00.
            daily = np.cos(2.0 * np.pi * (hours - 6.0) / 24.0)
            return np.minimum(5.9, self.r_mid[sensor] + self.r_swing[sensor] * daily
                              + 0.02 * smooth_noise(seed, 76, sensor, t, 1200.0)
                              + 0.9 * self._level("reservoir", t))
        # River stage: slow drift, and in the rainstorm a flood wave that reaches the west gauge first.
        return (self.g_base[sensor] + 0.25 * smooth_noise(seed, 77, sensor, t, 6 * 3600.0)
                + self.g_rise[sensor] * self._level("river", t - self.g_lag[sensor]))

    def _excursions(self, sensor: np.ndarray, t: np.ndarray, stream: int) -> np.ndarray:
        """0..1: a short excursion (20-60 min, a sine bump) now and then, at most one per 6 h."""
        bucket = np.floor(t / EXCURSION_BUCKET_S).astype(np.int64)
        happens = uniform(self.seed, stream, sensor, bucket) < EXCURSION_PROBABILITY
        length = 1200.0 + 2400.0 * uniform(self.seed, stream + 100, sensor, bucket)
        begin = uniform(self.seed, stream + 200, sensor, bucket) * (EXCURSION_BUCKET_S - length)
        x = (t - bucket * EXCURSION_BUCKET_S - begin) / length
        return np.where(happens & (x > 0) & (x < 1), np.sin(np.pi * np.clip(x, 0, 1)), 0.0)

    def latest_times(self, now: float) -> np.ndarray:
        """The time of each datastream's last reading at or before ``now`` (whole seconds)."""
        t = int(math.floor(now))
        return t - (t - self.ds_offset) % self.ds_period

    # -- SenML ---------------------------------------------------------------------------------
    def senml(self, now: float) -> bytes:
        """The newest reading of every datastream, with each sensor's position, as a SenML pack."""
        times = self.latest_times(now)
        values = self.values(np.arange(len(self.datastreams)), times)
        pack: list[dict[str, Any]] = []
        by_sensor: dict[int, list[int]] = {}
        for d in self.datastreams:
            by_sensor.setdefault(d.sensor, []).append(d.index)
        for sensor in self.sensors:
            streams = by_sensor[sensor.index]
            base = int(max(times[k] for k in streams))
            first = True
            for k in streams:
                m = MEASUREMENTS[self.datastreams[k].measurement]
                record: dict[str, Any] = {"n": m.name, "u": m.senml_unit,
                                          "v": round(float(values[k]) * m.senml_factor, 7)}
                if int(times[k]) != base:
                    record["t"] = int(times[k]) - base
                if first:
                    record = {"bn": f"{sensor.id}/", "bt": base, **record}
                    first = False
                pack.append(record)
            pack.append({"n": "lat", "u": "lat", "v": sensor.lat})
            pack.append({"n": "lon", "u": "lon", "v": sensor.lon})
        return json.dumps(pack, separators=(",", ":")).encode()


def zone_codes(names: Sequence[str]) -> list[str]:
    """A short unique code per district name (HE for Heshan): sensor ids start with it."""
    codes: list[str] = []
    for k, name in enumerate(names):
        code = name[:2].upper()
        codes.append(f"{code}{k}" if code in codes else code)
    return codes


def zone_prefixes() -> dict[str, str]:
    """Sensor-name prefix -> supply zone of the demo city (a SenML feed's ``zones`` table)."""
    names = [name for name, _ in NORTH_DISTRICTS + SOUTH_DISTRICTS]
    return {f"{code}-": name for code, name in zip(zone_codes(names), names, strict=True)}


def _zones(city: CityModel) -> list[SupplyZone]:
    """One supply zone per district."""
    codes = zone_codes([d.name for d in city.districts])
    pairs = zip(codes, city.districts, strict=True)
    return [SupplyZone(k, code, d.name, d) for k, (code, d) in enumerate(pairs)]
