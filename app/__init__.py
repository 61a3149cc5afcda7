"""CityOps server side: configuration, Redis, accounts, the gate, the store and the CLI."""

__version__ = "0.1.0"
