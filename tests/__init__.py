"""CityOps tests: unit, store on real Redis, HTTP gate, CLI, and browser tests."""
