"""The demo city: a seeded street grid around Yiyang with buses that serve GTFS and GTFS-Realtime."""

from data_adapters.simulator.city import YIYANG, BBox, CityModel, District, LonLat
from data_adapters.simulator.server import SimulatorServer
from data_adapters.simulator.transit import Fleet, FleetState, Route, Stop, TransitNetwork

__all__ = ["YIYANG", "BBox", "CityModel", "District", "Fleet", "FleetState", "LonLat", "Route",
           "SimulatorServer", "Stop", "TransitNetwork"]
