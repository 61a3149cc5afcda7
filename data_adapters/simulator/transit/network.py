"""TransitNetwork: the demo city's bus routes and stops, grown route by route to carry a fleet."""

from __future__ import annotations

from dataclasses import dataclass, field

from data_adapters.simulator.city import CityModel
from data_adapters.simulator.transit.gtfs_static import gtfs_tables, zip_tables
from data_adapters.simulator.transit.model import Route, Stop
from data_adapters.simulator.transit.routes import make_route
from data_adapters.simulator.transit.service import (
    DEFAULT_ROUTES,
    DEFAULT_VEHICLES,
    plan_service,
    routes_needed,
)
from data_adapters.simulator.transit.stops import StopSites


@dataclass
class TransitNetwork:
    """Routes and stops of the demo city, with a service plan for a number of vehicles."""

    city: CityModel
    seed: int
    stops: list[Stop] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    vehicles: int = 0
    _sites: StopSites | None = field(default=None, repr=False)
    _stop_by_id: dict[str, Stop] = field(default_factory=dict, repr=False)

    @classmethod
    def generate(cls, city: CityModel, routes: int | None = None, seed: int = 1,
                 vehicles: int = DEFAULT_VEHICLES) -> "TransitNetwork":
        """Routes on the city's roads for ``vehicles``: ``routes`` at least, more if the fleet needs them."""
        network = cls(city=city, seed=seed)
        network._add_routes(routes if routes is not None else DEFAULT_ROUTES)
        network.plan_service(vehicles)
        return network

    def _add_routes(self, count: int) -> None:
        """Append routes until there are ``count``; route i depends only on (city, seed, i)."""
        if self._sites is None:
            self._sites = StopSites.build(self.city, self.seed)
        while len(self.routes) < count:
            route, sites = make_route(self.city, self._sites, self.seed, len(self.routes))
            for site in sites:
                if site.stop_id not in self._stop_by_id:
                    self._stop_by_id[site.stop_id] = site.to_stop(self.city)
            self.routes.append(route)
        self.stops = sorted(self._stop_by_id.values(), key=lambda s: s.stop_id)

    def stop(self, stop_id: str) -> Stop:
        """The stop with this id."""
        return self._stop_by_id[stop_id]

    def plan_service(self, vehicles: int) -> None:
        """Share ``vehicles`` between routes (adding routes past ~60 per route) and set headways."""
        if vehicles < 1:
            raise ValueError("the fleet needs at least one vehicle")
        self._add_routes(routes_needed(len(self.routes), vehicles))
        plan_service(self.routes, vehicles, self.seed)
        self.vehicles = vehicles

    @property
    def active_routes(self) -> list[Route]:
        """Routes with at least one vehicle (the ones in the GTFS feed)."""
        return [r for r in self.routes if r.vehicles > 0]

    def to_gtfs_zip(self) -> bytes:
        """The network as a GTFS static zip (byte-identical for the same city, seed and fleet size)."""
        return zip_tables(gtfs_tables(self.city, self.active_routes, self.stop))
