"""Where bus stops can go: named candidate sites on every road segment, and picking them along a path."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from data_adapters.simulator.city import CityModel
from data_adapters.simulator.transit.model import Stop

# Stop candidates sit at these fractions of every road segment (about 270 m apart on an
# 800 m grid); a route serves every other one, which gives the 400-600 m stop spacing of a city bus.
STOP_FRACTIONS: tuple[float, ...] = (1 / 6, 1 / 2, 5 / 6)
LANDMARKS: tuple[str, ...] = (
    "Yiyang Railway Station", "Yiyang South Station", "Central Hospital", "Hunan City University",
    "Yiyang Normal School", "Municipal Government", "Olympic Sports Centre", "Huilongshan Park",
    "Long-distance Bus Station", "Wanda Plaza", "No. 1 Middle School", "Maternal and Child Hospital",
    "Taohualun Market", "Gaoxin Industrial Park", "Zijiang Bridge North", "Qiushui Lake",
    "Traditional Chinese Medicine Hospital", "Yiyang Library", "Xinhua Bookstore", "Exhibition Centre",
)


@dataclass
class StopCandidate:
    """A place a stop may be, in metres east and north of the city centre."""

    stop_id: str
    name: str
    x: float
    y: float

    def to_stop(self, city: CityModel) -> Stop:
        """The stop at this site, in (rounded) lon, lat."""
        lon, lat = city.to_lonlat(self.x, self.y)
        return Stop(self.stop_id, self.name, round(float(lat), 6), round(float(lon), 6))


# (distance along a path in metres, the candidate there)
Placed = tuple[float, StopCandidate]


@dataclass
class StopSites:
    """Every road segment's stop candidates, with the metric node positions and segment lengths."""

    node_xy: np.ndarray                              # (nodes, 2) metres
    candidates: dict[int, list[StopCandidate]]       # by edge index, from its lower node
    edge_of: dict[tuple[int, int], int]
    edge_length: dict[tuple[int, int], float]

    @classmethod
    def build(cls, city: CityModel, seed: int) -> StopSites:
        """The sites of ``city``; which segments carry a landmark's name depends on ``seed``."""
        xs, ys = city.to_xy(np.array([n[0] for n in city.nodes]), np.array([n[1] for n in city.nodes]))
        node_xy = np.column_stack([xs, ys])
        landmark_of = _landmarks(city, seed)
        candidates: dict[int, list[StopCandidate]] = {}
        for e, (a, b) in enumerate(city.edges):
            names = _site_names(city, a, b, landmark_of.get(e))
            pa, pb = node_xy[a], node_xy[b]
            candidates[e] = [StopCandidate(f"S{e:04d}{k}", names[k], *(pa + f * (pb - pa)))
                             for k, f in enumerate(STOP_FRACTIONS)]
        edge_of = {(a, b): e for e, (a, b) in enumerate(city.edges)}
        edge_length = {(a, b): float(np.hypot(*(node_xy[a] - node_xy[b]))) for a, b in city.edges}
        return cls(node_xy, candidates, edge_of, edge_length)

    def along(self, path: list[int]) -> list[Placed]:
        """Every candidate on ``path`` (a node sequence), in order, with its distance along it."""
        xy = self.node_xy
        placed: list[Placed] = []
        travelled = 0.0
        for a, b in pairwise(path):
            length = float(np.hypot(*(xy[b] - xy[a])))
            edge = self.edge_of[(min(a, b), max(a, b))]
            cands = self.candidates[edge] if a < b else self.candidates[edge][::-1]
            fracs = STOP_FRACTIONS if a < b else tuple(1 - f for f in reversed(STOP_FRACTIONS))
            placed += [(travelled + f * length, c) for f, c in zip(fracs, cands, strict=True)]
            travelled += length
        return placed

    def pick(self, path: list[int], rng: random.Random) -> list[Placed]:
        """Stops along ``path`` as (distance along it, candidate), about 400-600 m apart."""
        return space_out(self.along(path), rng)


def space_out(placed: list[Placed], rng: random.Random) -> list[Placed]:
    """From the first candidate on, each next one closest to a random 450-560 m gap (never under 380 m)."""
    picked = [placed[0]]
    for k in range(1, len(placed)):
        target = rng.uniform(450.0, 560.0)
        gap = placed[k][0] - picked[-1][0]
        if gap < 380.0:
            continue
        later = placed[k + 1][0] - picked[-1][0] if k + 1 < len(placed) else math.inf
        if abs(gap - target) <= abs(later - target):
            picked.append(placed[k])
    return picked


def _landmarks(city: CityModel, seed: int) -> dict[int, str]:
    """The road segments (edge index) named after a landmark: a seeded few, one landmark each."""
    rng = random.Random(f"{seed}/landmarks")
    edges = list(range(len(city.edges)))
    rng.shuffle(edges)
    return dict(zip(edges, LANDMARKS, strict=False))  # fewer landmarks than edges


def _site_names(city: CityModel, a: int, b: int, landmark: str | None) -> tuple[str, str, str]:
    """Names of the three sites of segment a-b: its road at each cross street, and a landmark midway."""
    (ia, ja), (ib, jb) = city.node_lines[a], city.node_lines[b]
    if ja == jb:
        road, cross_a, cross_b = city.row_names[ja], city.column_names[ia], city.column_names[ib]
    else:
        road, cross_a, cross_b = city.column_names[ia], city.row_names[ja], city.row_names[jb]
    return (f"{road} / {cross_a}",
            landmark or f"{road} ({_short(cross_a)}-{_short(cross_b)})",
            f"{road} / {cross_b}")


def _short(road: str) -> str:
    return road.removesuffix(" Rd").removesuffix(" Ave")
