"""CityOps: the command center's server side, in layers (docs/architecture.md)."""

__version__ = "0.1.0"
