"""The demo city's buses: routes on the street grid, a GTFS schedule, and a fleet that runs it live.

The schedule is frequency-based (GTFS ``frequencies.txt`` with ``exact_times=1``): each route has one
template trip per direction and a headway, so the static feed stays small at any fleet size while
every departure still has exact scheduled times. A vehicle shuttles between the two terminals of its
route, ``headway`` behind the previous one. Its position is a pure function of wall time: it is where
its schedule put it ``delay`` seconds ago, and the delay itself is a deterministic function of
(seed, vehicle, time). Any polling pattern, a restart, or a second process therefore sees the same
city at the same instant.

Modules: ``model`` (Stop, Route), ``stops`` (stop sites), ``routes`` (laying out a route),
``service`` (vehicles and headways), ``network`` (TransitNetwork), ``gtfs_static`` (the zip),
``delays`` (the delay model), ``tables`` (numpy route tables), ``motion`` (FleetState and the step),
``load`` (occupancy, congestion), ``detours``, ``realtime`` (GTFS-rt encoding), ``fleet`` (Fleet)
and ``clock`` (GTFS times and dates).
"""

from data_adapters.simulator.patterns import DAY_S
from data_adapters.simulator.transit.clock import DATE_FORMAT, gtfs_time
from data_adapters.simulator.transit.delays import (
                                                    AREA_MAX_FALL,
                                                    AREA_MAX_RISE,
                                                    AREA_SAMPLE_M,
                                                    DELAY_MAX_S,
                                                    DELAY_MIN_S,
                                                    INCIDENT_BUCKET_S,
                                                    INCIDENT_MINUTES,
                                                    INCIDENT_PROBABILITY,
                                                    INCIDENT_RAMP,
                                                    INCIDENT_RECOVERY,
                                                    NOISE_AMPLITUDE_S,
                                                    NOISE_PERIOD_S,
                                                    RUSH_AMPLITUDE_S,
                                                    DelayArea,
)
from data_adapters.simulator.transit.fleet import Fleet
from data_adapters.simulator.transit.gtfs_static import AGENCY_ID, ZIP_TIMESTAMP
from data_adapters.simulator.transit.model import Route, Stop
from data_adapters.simulator.transit.motion import FleetState
from data_adapters.simulator.transit.network import TransitNetwork
from data_adapters.simulator.transit.routes import (
                                                    CRUISE_KMH,
                                                    DWELL_S,
                                                    MAX_STOPS,
                                                    MIN_STOPS,
                                                    ROUTE_COLORS,
                                                    TURN_PENALTY_M,
)
from data_adapters.simulator.transit.service import (
                                                    DEFAULT_ROUTES,
                                                    DEFAULT_VEHICLES,
                                                    HEADWAYS_S,
                                                    MAX_VEHICLES_PER_ROUTE,
                                                    MIN_HEADWAY_S,
                                                    MIN_LAYOVER_S,
                                                    VEHICLES_PER_ROUTE,
)
from data_adapters.simulator.transit.stops import LANDMARKS, STOP_FRACTIONS

__all__ = ["AGENCY_ID", "AREA_MAX_FALL", "AREA_MAX_RISE", "AREA_SAMPLE_M", "CRUISE_KMH", "DATE_FORMAT",
           "DAY_S", "DEFAULT_ROUTES", "DEFAULT_VEHICLES", "DELAY_MAX_S", "DELAY_MIN_S", "DWELL_S",
           "HEADWAYS_S", "INCIDENT_BUCKET_S", "INCIDENT_MINUTES", "INCIDENT_PROBABILITY", "INCIDENT_RAMP",
           "INCIDENT_RECOVERY", "LANDMARKS", "MAX_STOPS", "MAX_VEHICLES_PER_ROUTE", "MIN_HEADWAY_S",
           "MIN_LAYOVER_S", "MIN_STOPS", "NOISE_AMPLITUDE_S", "NOISE_PERIOD_S", "ROUTE_COLORS",
           "RUSH_AMPLITUDE_S", "STOP_FRACTIONS", "TURN_PENALTY_M", "VEHICLES_PER_ROUTE", "ZIP_TIMESTAMP",
           "DelayArea", "Fleet", "FleetState", "Route", "Stop", "TransitNetwork", "gtfs_time"]
