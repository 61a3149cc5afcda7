"""FHIR Location and Organization resources to medical entities (pure): each stored as what it is.

A FHIR Location may be a hospital, a part of one (a wing, ward, room or bed), a vehicle (an
ambulance), a class of places (``mode: kind``, "any ambulance") or another kind of place (a
pharmacy, a jurisdiction). Each becomes an Entity of its own kind, so that only hospitals count as
hospitals on the map and in the KPIs; a Location that says nothing of its type is a hospital (the
feed is a hospital search). See README.md for the codes read.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Mapping

from app.model.geo import valid_position
from app.model.records import Entity
from data_adapters.medical.fhir_values import (
    address_text,
    all_codes,
    as_float,
    last_updated,
    telecom,
)
from data_adapters.medical.references import References

DOMAIN = "medical"
HOSPITAL = "hospital"
WARD = "ward"
AMBULANCE = "ambulance"
LOCATION_CLASS = "location_class"  # mode "kind": a class of places, not one place
OTHER_PLACE = "location"
LOCATION_KINDS = (HOSPITAL, WARD, AMBULANCE, LOCATION_CLASS, OTHER_PLACE)

# v3-RoleCode service delivery location types that are hospitals (HOSP and its specialisations).
HOSPITAL_TYPES = frozenset({"HOSP", "GACH", "MHSP", "PSYCHF", "RH", "RHAT", "RHII", "RHMAD",
                            "RHPI", "RHPIH", "RHPIMS", "RHPIVS", "RHYAD", "CHR"})
# v3-RoleCode hospital units: a care unit inside a hospital, not a hospital.
UNIT_TYPES = frozenset({"HU", "BMTU", "CCU", "CHEST", "EPIL", "ER", "ETU", "HD", "HLAB", "INLAB",
                        "OUTLAB", "HRAD", "HUSCS", "ICU", "PEDICU", "PEDNICU", "INPHARM", "MBL",
                        "NCCS", "NS", "OUTPHARM", "PEDU", "PHU", "RHU", "SLEEP"})
AMBULANCE_TYPES = frozenset({"AMB"})
# location-physical-type codes: parts of a building, and vehicles.
PART_PHYSICAL = frozenset({"wi", "wa", "lvl", "co", "ro", "bd", "area", "ca"})
VEHICLE_PHYSICAL = frozenset({"ve"})
# A hospital building or campus: says nothing against being a hospital.
SITE_PHYSICAL = frozenset({"si", "bu"})
# CDC NHSN healthcare service location codes name care units (wards, ICUs, clinics).
_HSLOC = "hsloc"


def location_kind(resource: Mapping[str, Any]) -> str:
    """What a Location is: hospital, ward, ambulance, location_class or location (see module)."""
    if resource.get("mode") == "kind":
        return LOCATION_CLASS
    types = all_codes(resource.get("type"))
    type_codes = {code for _system, code in types}
    physical = {code for _system, code in all_codes(resource.get("physicalType"))}
    if physical & VEHICLE_PHYSICAL or type_codes & AMBULANCE_TYPES:
        return AMBULANCE
    if type_codes & HOSPITAL_TYPES:
        return HOSPITAL
    if (physical & PART_PHYSICAL or type_codes & UNIT_TYPES
            or any(system and _HSLOC in system.lower() for system, _code in types)):
        return WARD
    if types or physical - SITE_PHYSICAL:
        return OTHER_PLACE  # typed, but as nothing we show as a hospital
    return HOSPITAL


def entity_id(prefix: str, kind: str, fhir_id: str) -> str:
    """The entity id of a Location of ``kind`` (hospitals keep the "hospital" form)."""
    return f"{prefix}:{kind}:{fhir_id}"


def position(resource: Mapping[str, Any], bounds: tuple[float, float, float, float] | None
             ) -> tuple[float | None, float | None, dict[str, Any]]:
    """(lat, lon, flags) of a Location: None, None when absent, invalid or outside ``bounds``."""
    found = resource.get("position")
    if found is None:
        return None, None, {}
    lat = found.get("latitude") if isinstance(found, Mapping) else None
    lon = found.get("longitude") if isinstance(found, Mapping) else None
    if (not isinstance(lat, (int, float)) or isinstance(lat, bool)
            or not isinstance(lon, (int, float)) or isinstance(lon, bool)
            or not valid_position(as_float(lat), as_float(lon))):
        return None, None, {"invalid_position": True}
    lat, lon = float(lat), float(lon)
    if bounds is not None:
        min_lat, min_lon, max_lat, max_lon = bounds
        if not (min_lat <= lat <= max_lat and min_lon <= lon <= max_lon):
            # Flagged, not drawn: wrong-sign longitudes (the SANER NJ and AK examples) land here.
            return None, None, {"out_of_bounds": True, "reported_position": [lat, lon]}
    return lat, lon, {}


def _organization_link(resource: Mapping[str, Any], refs: References,
                       org_names: Mapping[str, str]) -> dict[str, Any]:
    """The managing organization attrs: the reference (literal, or resolved from an identifier)
    and the organization's name (from the payload, else the reference's display)."""
    ref = resource.get("managingOrganization")
    if not isinstance(ref, Mapping):
        return {}
    attrs: dict[str, Any] = {}
    target = refs.resolve(ref, ("Organization",))
    if isinstance(ref.get("reference"), str):
        attrs["managing_organization"] = ref["reference"]
    elif target is not None:
        attrs["managing_organization"] = f"Organization/{target[1]}"
    if target is not None and target[1] in org_names:
        attrs["organization_name"] = org_names[target[1]]
    elif isinstance(ref.get("display"), str) and ref["display"].strip():
        attrs["organization_name"] = ref["display"].strip()
    return attrs


def location_entity(resource: Mapping[str, Any], prefix: str, feed: str, fetched_at: float,
                    tz: dt.tzinfo, bounds: tuple[float, float, float, float] | None,
                    refs: References, org_names: Mapping[str, str]) -> Entity:
    """The Entity of a Location, of the kind location_kind() says."""
    kind = location_kind(resource)
    lat, lon, flags = position(resource, bounds)
    attrs: dict[str, Any] = {"fhir_id": resource["id"], **flags}
    if isinstance(resource.get("name"), str):
        attrs["name"] = resource["name"]
    address = address_text(resource.get("address"))
    if address:
        attrs["address"] = address
    attrs.update(_organization_link(resource, refs, org_names))
    contact = telecom(resource.get("telecom"))
    if contact:
        attrs["telecom"] = contact
    first_type = next(iter(resource.get("type") or []), None) \
        if isinstance(resource.get("type"), list) else None
    types = [code for _system, code in all_codes(first_type)]
    if types:
        attrs["type"] = types
    parent = refs.resolve(resource.get("partOf"), ("Location",))
    if parent is not None:
        attrs["part_of"] = f"Location/{parent[1]}"
    status = resource.get("status") if isinstance(resource.get("status"), str) else "unknown"
    # FHIR has no diversion flag of its own: a hospital Location "suspended" (temporarily not
    # available) is taken as on diversion, an "active" one as taking patients.
    if kind == HOSPITAL and status in ("active", "suspended"):
        attrs["diversion"] = status == "suspended"
    when = last_updated(resource, tz) or fetched_at
    return Entity(DOMAIN, kind, entity_id(prefix, kind, resource["id"]), lat, lon, status, when,
                  feed, attrs)


def organization_entity(resource: Mapping[str, Any], prefix: str, feed: str, fetched_at: float,
                        tz: dt.tzinfo) -> Entity:
    """The organization Entity of an Organization (no position: FHIR gives it none)."""
    attrs: dict[str, Any] = {"fhir_id": resource["id"]}
    if isinstance(resource.get("name"), str):
        attrs["name"] = resource["name"]
    address = address_text(resource.get("address"))
    if address:
        attrs["address"] = address
    contact = telecom(resource.get("telecom"))
    if contact:
        attrs["telecom"] = contact
    active = resource.get("active")
    status = "unknown" if not isinstance(active, bool) else "active" if active else "inactive"
    return Entity(DOMAIN, "organization", f"{prefix}:organization:{resource['id']}", None, None,
                  status, last_updated(resource, tz) or fetched_at, feed, attrs)
