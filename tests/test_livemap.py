"""The live map's figure: offline style, classes by delay, escaped feed text, kept zoom."""

from __future__ import annotations

from layouts.livemap import transport_figure

HOSTILE = "<img src=x onerror=alert(1)>`${x}`"


def test_transport_figure_is_offline_and_escapes_feed_text() -> None:
    """No tile source, vehicles grouped by delay class, hover text escaped."""
    entities = [
        {"kind": "vehicle", "id": "f:vehicle:1", "lat": 28.5, "lon": 112.3, "delay_s": 30.0,
         "label": HOSTILE, "route_id": HOSTILE},
        {"kind": "vehicle", "id": "f:vehicle:2", "lat": 28.6, "lon": 112.4, "delay_s": 700.0},
        {"kind": "vehicle", "id": "f:vehicle:3", "lat": 28.6, "lon": 112.4, "delay_s": None},
        {"kind": "stop", "id": "f:stop:1", "lat": 28.55, "lon": 112.35, "name": HOSTILE},
        {"kind": "route", "id": "f:route:1", "lat": None, "lon": None,
         "shape": [[112.3, 28.5], [112.4, 28.6]]},
    ]
    figure = transport_figure(entities)
    layout = figure.layout.map
    assert layout.style == "white-bg" and not layout.layers
    assert figure.layout.uirevision == "transport-map"
    names = {t.name: t for t in figure.data}
    assert len(names["Vehicles: on time (1)"].lat) == 1
    assert len(names["Vehicles: very late (1)"].lat) == 1
    assert len(names["Vehicles: delay unknown (1)"].lat) == 1
    hover = " ".join(str(h) for t in figure.data if t.hovertext for h in t.hovertext)
    assert "<img" not in hover and "&lt;img src=x onerror=alert(1)&gt;" in hover
    assert all(t.mode != "text" and "text" not in (t.mode or "") for t in figure.data)


def test_empty_city_centres_on_yiyang() -> None:
    """With no data the map still opens on the city."""
    center = transport_figure([]).layout.map.center
    assert (round(center.lat, 2), round(center.lon, 2)) == (28.55, 112.36)
