"""The demo city's geography: a seeded street grid around a centre, a river across it, districts.

Everything is generated in a local metric frame (x east, y north, metres from the centre) and
exposed in WGS84 as ``(lon, lat)`` pairs, the GeoJSON order. The grid is irregular on purpose
(uneven block sizes, jittered intersections, a few degrees of rotation) so the map does not
look like graph paper, and only some north-south roads cross the river, on bridges.
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, NamedTuple, Sequence

import numpy as np

from app.model.geo import point_in_ring

EARTH_RADIUS_M = 6_371_008.8
METRES_PER_DEGREE = math.pi * EARTH_RADIUS_M / 180.0


class LonLat(NamedTuple):
    """A WGS84 position in GeoJSON order."""

    lon: float
    lat: float


class BBox(NamedTuple):
    """A WGS84 bounding box in GeoJSON order."""

    west: float
    south: float
    east: float
    north: float


YIYANG = LonLat(112.36, 28.55)

# Real road names of Yiyang and plausible ones in the same style; shuffled per seed.
ROAD_NAMES: tuple[str, ...] = (
    "Yiyang Ave", "Taohualun Rd", "Kangfu Rd", "Longzhou Rd", "Yingbin Rd", "Jinshan Rd",
    "Huilongshan Rd", "Xianfeng Rd", "Qiaonan Rd", "Yunshu Rd", "Dongxing Rd", "Chaoyang Rd",
    "Jiankang Rd", "Heping Rd", "Wuyi Rd", "Xinhua Rd", "Baima Rd", "Zhiyuan Rd", "Longling Rd",
    "Yongfu Rd", "Shuguang Rd", "Baihua Rd", "Xingfu Rd", "Jinhua Rd", "Qingfeng Rd", "Fuqian Rd",
    "Guihua Rd", "Meishan Rd", "Lianhua Rd", "Zhuyuan Rd", "Hongxing Rd", "Changchun Rd",
    "Gaoxin Ave", "Ziyang Ave", "Tianfeng Rd", "Wenchang Rd", "Jinyin Rd", "Xiangyang Rd",
    "Caihong Rd", "Binjiang Rd", "Tongda Rd", "Yuanjia Rd", "Shijia Rd", "Lujia Rd",
)

# (name, Chinese name) north of the river west to east, then south of it west to east.
NORTH_DISTRICTS: tuple[tuple[str, str], ...] = (("Ziyang", "资阳"), ("Changchun", "长春"))
SOUTH_DISTRICTS: tuple[tuple[str, str], ...] = (
    ("Huilongshan", "会龙山"), ("Heshan", "赫山"), ("Gaoxin", "高新"))


@dataclass(frozen=True)
class District:
    """A named area of the city; ``polygon`` is a closed, counter-clockwise ring of (lon, lat)."""

    name: str
    name_zh: str
    polygon: list[tuple[float, float]]


@dataclass
class CityModel:
    """The generated city. Every coordinate is ``(lon, lat)``.

    ``roads`` are polylines through intersections (``nodes``); ``edges`` are the drivable road
    segments between two nodes, which is what bus routes follow. ``node_lines[n]`` is the
    (column, row) of node n in the street lattice, so ``road_names`` can be found for a node.
    """

    seed: int
    center: LonLat
    bbox: BBox
    roads: list[list[tuple[float, float]]]
    road_names: list[str]
    river: list[tuple[float, float]]
    districts: list[District]
    nodes: list[tuple[float, float]]
    node_lines: list[tuple[int, int]]
    edges: list[tuple[int, int]]
    column_names: dict[int, str]
    row_names: dict[int, str]
    name: str = "Yiyang"
    river_name: str = "Zi River"
    timezone: str = "Asia/Shanghai"
    _adjacency: dict[int, list[int]] = field(default_factory=dict, repr=False)

    @classmethod
    def generate(cls, seed: int = 1, center: LonLat | tuple[float, float] = YIYANG,
                 size_m: float = 12_000.0, block_m: float = 800.0) -> "CityModel":
        """A city of ``size_m`` x ``size_m`` around ``center`` (lon, lat), main roads every ~``block_m``."""
        return generate_city(seed, center, size_m, block_m)

    # -- projection ---------------------------------------------------------------------------
    def to_lonlat(self, x: Any, y: Any) -> tuple[Any, Any]:
        """Local metres (scalars or numpy arrays) to (lon, lat)."""
        return _to_lonlat(self.center, x, y)

    def to_xy(self, lon: Any, lat: Any) -> tuple[Any, Any]:
        """(lon, lat) (scalars or numpy arrays) to local metres east and north of the centre."""
        kx = METRES_PER_DEGREE * math.cos(math.radians(self.center.lat))
        return ((np.asarray(lon) - self.center.lon) * kx,
                (np.asarray(lat) - self.center.lat) * METRES_PER_DEGREE)

    # -- queries ------------------------------------------------------------------------------
    def neighbours(self, node: int) -> list[int]:
        """The nodes one road segment away from ``node``."""
        if not self._adjacency:
            for a, b in self.edges:
                self._adjacency.setdefault(a, []).append(b)
                self._adjacency.setdefault(b, []).append(a)
        return self._adjacency.get(node, [])

    def district_at(self, lon: float, lat: float) -> District | None:
        """The district containing (lon, lat), or None outside the city."""
        for district in self.districts:
            if point_in_ring(lon, lat, district.polygon):
                return district
        return None

    def to_geojson(self) -> dict[str, Any]:
        """Roads, the river and the districts as a GeoJSON FeatureCollection (for an offline basemap)."""
        features: list[dict[str, Any]] = []
        for district in self.districts:
            features.append(_feature("Polygon", [[list(p) for p in district.polygon]],
                                     {"layer": "district", "name": district.name,
                                      "name_zh": district.name_zh}))
        features.append(_feature("LineString", [list(p) for p in self.river],
                                 {"layer": "river", "name": self.river_name}))
        for name, road in zip(self.road_names, self.roads, strict=True):
            features.append(_feature("LineString", [list(p) for p in road],
                                     {"layer": "road", "name": name}))
        return {"type": "FeatureCollection", "features": features}


def _feature(kind: str, coordinates: Any, properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "geometry": {"type": kind, "coordinates": coordinates},
            "properties": properties}


def _to_lonlat(center: LonLat, x: Any, y: Any) -> tuple[Any, Any]:
    kx = METRES_PER_DEGREE * math.cos(math.radians(center.lat))
    return center.lon + np.asarray(x) / kx, center.lat + np.asarray(y) / METRES_PER_DEGREE


def _pair(center: LonLat, x: float, y: float) -> tuple[float, float]:
    lon, lat = _to_lonlat(center, x, y)
    return (round(float(lon), 7), round(float(lat), 7))



def points_in_polygon(lon: Any, lat: Any, ring: Sequence[tuple[float, float]]) -> np.ndarray:
    """Even-odd test of many points (numpy arrays of lon and lat) against a closed ring."""
    x, y = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    inside = np.zeros(np.broadcast(x, y).shape, dtype=bool)
    for (x1, y1), (x2, y2) in pairwise(ring):
        if y1 == y2:
            continue  # a horizontal edge never crosses the ray
        crosses = (y1 > y) != (y2 > y)
        inside ^= crosses & (x < x1 + (y - y1) * (x2 - x1) / (y2 - y1))
    return inside


def haversine_m(lon1: Any, lat1: Any, lon2: Any, lat2: Any) -> Any:
    """Great-circle distance in metres (numpy-friendly)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(a))


# -- generation -----------------------------------------------------------------------------------
def generate_city(seed: int = 1, center: LonLat | tuple[float, float] = YIYANG,
                  size_m: float = 12_000.0, block_m: float = 800.0) -> CityModel:
    """Generate the city deterministically from ``seed`` (see :meth:`CityModel.generate`)."""
    rng = random.Random(seed)
    center = LonLat(float(center[0]), float(center[1]))
    half = size_m / 2.0

    # The river: a meander slightly north of the centre, y as a function of x across the city.
    river_x = np.linspace(-half, half, int(size_m // 150) + 1)
    y0, a1, a2 = rng.uniform(300, 1500), rng.uniform(400, 800), rng.uniform(100, 250)
    a3, l3 = rng.uniform(40, 90), rng.uniform(1200, 1800)
    l1, l2 = rng.uniform(7000, 11000), rng.uniform(2500, 4000)
    f1, f2, f3 = (rng.uniform(0, 2 * math.pi) for _ in range(3))
    # Three incommensurate waves: a meander that does not look like one sine.
    river_y = (y0 + a1 * np.sin(2 * math.pi * river_x / l1 + f1)
               + a2 * np.sin(2 * math.pi * river_x / l2 + f2)
               + a3 * np.sin(2 * math.pi * river_x / l3 + f3))

    def river_at(x: float) -> float:
        return float(np.interp(x, river_x, river_y))

    # The lattice spans more than the city so that, once rotated, it still covers every corner.
    angle = math.radians(rng.choice((-1, 1)) * rng.uniform(4, 12))
    span = int(math.ceil(half * 1.5 / block_m))
    columns = _line_offsets(rng, span, block_m)
    rows = _line_offsets(rng, span, block_m)
    cos_a, sin_a = math.cos(angle), math.sin(angle)
    margin = 60.0
    points: dict[tuple[int, int], tuple[float, float]] = {}
    for i, cx in enumerate(columns):
        for j, ry in enumerate(rows):
            jx, jy = cx + rng.uniform(-60, 60), ry + rng.uniform(-60, 60)
            x, y = jx * cos_a - jy * sin_a, jx * sin_a + jy * cos_a
            if abs(x) <= half - margin and abs(y) <= half - margin:
                points[(i, j)] = (x, y)

    # Only a few north-south lines bridge the river, as in a real city.
    bridge_phase = rng.randrange(3)

    def crosses_river(p: tuple[float, float], q: tuple[float, float]) -> bool:
        return (p[1] > river_at(p[0])) != (q[1] > river_at(q[0]))

    segments: list[tuple[tuple[int, int], tuple[int, int]]] = []
    for (i, j) in sorted(points):
        for (di, dj) in ((1, 0), (0, 1)):
            other = (i + di, j + dj)
            if other not in points:
                continue
            if crosses_river(points[(i, j)], points[other]) and not (dj == 1 and i % 3 == bridge_phase):
                continue
            segments.append(((i, j), other))

    keep = _largest_component(segments)
    lattice = sorted(keep)
    index = {key: n for n, key in enumerate(lattice)}
    edges = [(index[a], index[b]) for a, b in segments if a in keep and b in keep]

    names = list(ROAD_NAMES)
    rng.shuffle(names)
    used_columns = sorted({i for i, _ in lattice})
    used_rows = sorted({j for _, j in lattice})
    name_iter = iter(names)

    def next_name(n: int) -> str:
        return next(name_iter, f"Road No. {n + 1}")

    column_names = {i: next_name(k) for k, i in enumerate(used_columns)}
    row_names = {j: next_name(len(used_columns) + k) for k, j in enumerate(used_rows)}

    edge_set = {(lattice[a], lattice[b]) for a, b in edges}
    roads: list[list[tuple[float, float]]] = []
    road_names: list[str] = []
    for j in used_rows:
        for run in _runs([i for i in used_columns if (i, j) in keep],
                         lambda i, j=j: ((i, j), (i + 1, j)), edge_set):
            roads.append([_pair(center, *points[(i, j)]) for i in run])
            road_names.append(row_names[j])
    for i in used_columns:
        for run in _runs([j for j in used_rows if (i, j) in keep],
                         lambda j, i=i: ((i, j), (i, j + 1)), edge_set):
            roads.append([_pair(center, *points[(i, j)]) for j in run])
            road_names.append(column_names[i])

    river = [_pair(center, float(x), float(y)) for x, y in zip(river_x, river_y, strict=True)]
    districts = _districts(rng, center, half, river_at)
    west, south = _to_lonlat(center, -half, -half)
    east, north = _to_lonlat(center, half, half)
    return CityModel(
        seed=seed, center=center,
        bbox=BBox(float(west), float(south), float(east), float(north)),
        roads=roads, road_names=road_names, river=river, districts=districts,
        nodes=[_pair(center, *points[key]) for key in lattice], node_lines=lattice,
        edges=edges, column_names=column_names, row_names=row_names)


def _line_offsets(rng: random.Random, span: int, block_m: float) -> list[float]:
    """Positions of 2*span+1 parallel roads, blocks of uneven size, centred on 0."""
    gaps = [rng.uniform(0.85, 1.15) * block_m for _ in range(2 * span)]
    positions = [0.0]
    for gap in gaps:
        positions.append(positions[-1] + gap)
    middle = positions[span]
    return [p - middle for p in positions]


def _largest_component(segments: list[tuple[tuple[int, int], tuple[int, int]]]) -> set[tuple[int, int]]:
    """The nodes of the biggest connected part, so every stop can reach every other one."""
    adjacency: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for a, b in segments:
        adjacency.setdefault(a, []).append(b)
        adjacency.setdefault(b, []).append(a)
    best: set[tuple[int, int]] = set()
    seen: set[tuple[int, int]] = set()
    for start in sorted(adjacency):
        if start in seen:
            continue
        component, stack = {start}, [start]
        while stack:
            for nxt in adjacency[stack.pop()]:
                if nxt not in component:
                    component.add(nxt)
                    stack.append(nxt)
        seen |= component
        if len(component) > len(best):
            best = component
    return best


def _runs(indices: list[int], segment_of: Any, edge_set: set[Any]) -> list[list[int]]:
    """Split a lattice line into the stretches joined by existing segments (at least 2 nodes each)."""
    runs: list[list[int]] = []
    current: list[int] = []
    for k in indices:
        if current and segment_of(current[-1]) in edge_set and current[-1] + 1 == k:
            current.append(k)
            continue
        if len(current) >= 2:
            runs.append(current)
        current = [k]
    if len(current) >= 2:
        runs.append(current)
    return runs


def _districts(rng: random.Random, center: LonLat, half: float, river_at: Any) -> list[District]:
    """Districts tiling the city square: split north and south of the river by wavy boundaries."""
    north_splits = [rng.uniform(-1500, 1500)]
    south_splits = [rng.uniform(-3500, -1500), rng.uniform(1000, 3000)]
    river_pts = [(x, river_at(x)) for x in np.linspace(-half, half, int(2 * half // 150) + 1)]

    def boundary(x: float, y_from: float, y_to: float) -> list[tuple[float, float]]:
        ys = np.linspace(y_from, y_to, 5)
        wobble = [0.0] + [rng.uniform(-250, 250) for _ in range(3)] + [0.0]
        return [(x + w, float(y)) for w, y in zip(wobble, ys, strict=True)]

    districts: list[District] = []
    for names, splits, edge_y in ((NORTH_DISTRICTS, north_splits, half),
                                  (SOUTH_DISTRICTS, south_splits, -half)):
        cuts = [-half] + splits + [half]
        borders = {x: boundary(x, river_at(x), edge_y) for x in splits}
        for (name, name_zh), (left, right) in zip(names, pairwise(cuts), strict=True):
            ring: list[tuple[float, float]] = [(left, river_at(left))]
            ring += [p for p in river_pts if left < p[0] < right]
            ring += borders[right] if right in borders else [(right, river_at(right)), (right, edge_y)]
            ring += list(reversed(borders[left])) if left in borders else [(left, edge_y)]
            if ring[-1] != ring[0]:
                ring.append(ring[0])
            if _signed_area(ring) < 0:
                ring.reverse()
            districts.append(District(name, name_zh, [_pair(center, x, y) for x, y in ring]))
    return districts


def _signed_area(ring: Sequence[tuple[float, float]]) -> float:
    return 0.5 * sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in pairwise(ring))


def shortest_path(city: CityModel, start: int, goal: int, weights: dict[tuple[int, int], float],
                  turn_penalty_m: float) -> list[int]:
    """Cheapest node path from ``start`` to ``goal``, each change of direction costing extra.

    The turn penalty is what makes bus routes run along a few long roads instead of a staircase.
    """
    def heading(a: int, b: int) -> tuple[int, int]:
        (ia, ja), (ib, jb) = city.node_lines[a], city.node_lines[b]
        return (ib - ia, jb - ja)

    best: dict[tuple[int, int], float] = {(start, -1): 0.0}
    previous: dict[tuple[int, int], tuple[int, int]] = {}
    queue: list[tuple[float, int, int]] = [(0.0, start, -1)]
    while queue:
        cost, node, came_from = heapq.heappop(queue)
        if node == goal:
            path, state = [node], (node, came_from)
            while state in previous:
                state = previous[state]
                path.append(state[0])
            return path[::-1]
        if cost > best.get((node, came_from), math.inf):
            continue
        for nxt in city.neighbours(node):
            if nxt == came_from:
                continue
            step = weights[(min(node, nxt), max(node, nxt))]
            if came_from >= 0 and heading(came_from, node) != heading(node, nxt):
                step += turn_penalty_m
            state = (nxt, node)
            if cost + step < best.get(state, math.inf):
                best[state] = cost + step
                previous[state] = (node, came_from)
                heapq.heappush(queue, (cost + step, nxt, node))
    return []
