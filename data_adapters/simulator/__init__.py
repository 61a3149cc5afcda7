"""The demo city: a seeded Yiyang whose every feed is served in its real format over loopback HTTP.

Buses (GTFS, GTFS-Realtime), ambulances (GTFS-Realtime), the water network (SensorThings API,
SenML), hospitals (FHIR R4), service requests (Open311) and warnings (CAP), with scenarios and a
trickle of ordinary incidents.
"""

from data_adapters.simulator.ambulances import AmbulanceService
from data_adapters.simulator.cap_feed import WarningFeed
from data_adapters.simulator.city import YIYANG, BBox, CityModel, District, LonLat
from data_adapters.simulator.medical import FhirService, HospitalNetwork
from data_adapters.simulator.requests311 import RequestBook
from data_adapters.simulator.scenario import SCENARIOS, Scenario, make_scenario
from data_adapters.simulator.server import SimulatorServer
from data_adapters.simulator.sta import SensorThingsService
from data_adapters.simulator.transit import Fleet, FleetState, Route, Stop, TransitNetwork
from data_adapters.simulator.trickle import Trickle
from data_adapters.simulator.water import WaterNetwork

__all__ = ["SCENARIOS", "YIYANG", "AmbulanceService", "BBox", "CityModel", "District", "FhirService",
           "Fleet", "FleetState", "HospitalNetwork", "LonLat", "RequestBook", "Route", "Scenario",
           "SensorThingsService", "SimulatorServer", "Stop", "TransitNetwork", "Trickle", "WarningFeed",
           "WaterNetwork", "make_scenario"]
