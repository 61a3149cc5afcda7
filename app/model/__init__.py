"""The shared vocabulary of CityOps: domains, records, alert and CAP terms, roles, geometry.

Pure: nothing here does I/O or imports another part of CityOps, so every layer (adapters, store,
services, web) can speak it.
"""
