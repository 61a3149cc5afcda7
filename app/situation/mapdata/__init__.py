"""The live map's read model: every domain's markers as numpy arrays, cut to a view, cached per version.

The map shows four domains, open alerts and CAP warning areas. Reading and classifying a domain
(20,000 vehicles are 5 MB of packed JSON) is the expensive part (``snapshots``), so it happens
once per domain version per process (``cache``), or once in the runner, which publishes the
arrays for every web worker (``share``). Everything after that is numpy on the cached arrays
(``view``): the view's markers, and beyond ``MAX_MARKERS`` server-side grid cells. ``layers``
says what each layer draws and how its markers are classed; ``panel`` what a click shows.

Feed text is untrusted: every hover string built here is HTML-escaped (plotly renders a subset of
HTML in hover labels).
"""

from app.situation.mapdata.cache import (
                                         build_lock,
                                         cached_snapshot,
                                         domain_snapshot,
                                         forget_snapshots,
                                         keep_snapshot,
                                         read_versions,
)
from app.situation.mapdata.hover import localize
from app.situation.mapdata.layers import (
                                         ALERTS,
                                         BAD,
                                         LAYER_BY_KEY,
                                         LAYERS,
                                         OK,
                                         RANK_COLOURS,
                                         SEVERITY_CLASSES,
                                         UNKNOWN,
                                         VERSION_KEYS,
                                         WARN,
                                         Layer,
                                         MarkerClass,
                                         Thresholds,
                                         hover_text,
                                         quiet_code,
                                         short_id,
)
from app.situation.mapdata.panel import Details, cell_details, entity_details
from app.situation.mapdata.snapshots import (
                                         DomainSnapshot,
                                         Lines,
                                         PointSet,
                                         Warning,
                                         build_alerts_snapshot,
                                         build_domain_snapshot,
)
from app.situation.mapdata.view import (
                                         DEFAULT_CENTER,
                                         DEFAULT_ZOOM,
                                         MAX_MARKERS,
                                         LayerCut,
                                         View,
                                         cell_members,
                                         cut_for,
                                         cut_layers,
                                         digest,
                                         needs_new_cut,
                                         view_around,
                                         view_from_relayout,
                                         worst_label,
)

__all__ = ["ALERTS", "BAD", "DEFAULT_CENTER", "DEFAULT_ZOOM", "Details", "DomainSnapshot",
           "LAYERS", "LAYER_BY_KEY", "Layer", "LayerCut", "Lines", "MAX_MARKERS", "MarkerClass",
           "OK", "PointSet", "RANK_COLOURS", "SEVERITY_CLASSES", "Thresholds", "UNKNOWN",
           "VERSION_KEYS", "View", "WARN", "Warning", "build_alerts_snapshot",
           "build_domain_snapshot", "build_lock", "cached_snapshot", "cell_details",
           "cell_members", "cut_for", "cut_layers", "digest", "domain_snapshot",
           "entity_details", "forget_snapshots", "hover_text", "keep_snapshot", "localize",
           "needs_new_cut", "quiet_code",
           "read_versions", "short_id", "view_around", "view_from_relayout", "worst_label"]
