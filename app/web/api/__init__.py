"""The JSON API under /api/v1: every endpoint declares its inputs (``schema``), behind the gate."""
