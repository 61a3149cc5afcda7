"""`cityops bench`: every performance figure measured against its target (docs/performance.md)."""
