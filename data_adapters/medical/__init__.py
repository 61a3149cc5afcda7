"""The medical domain: HL7 FHIR R4 hospitals (Location, Organization) and SANER bed capacity."""
