"""Key performance indicators: computed from the live store by the runner, kept with their history.

One module per domain (transport, water, medical, city) computes its KPIs with the shared model
and judges of ``app.kpis.base``; ``app.kpis.registry`` names them and stores what they compute.
docs/kpis.md is the catalogue.
"""

from app.kpis.base import Kpi
from app.kpis.registry import COMPUTERS, refresh

__all__ = ["COMPUTERS", "Kpi", "refresh"]
