"""The demo city's offline basemap: districts, river and main roads as GeoJSON files for assets/basemap/.

The live map draws these files under its markers (no tile server, no glyphs: nothing leaves the
operations room). They are generated from the simulator's :class:`CityModel`, so the basemap and
the simulated feeds describe one city, and committed, so a fresh install needs no generation step.
Regenerate them after changing the city model::

    python -m data_adapters.simulator.basemap            # seed 1, Yiyang: the committed files
    python -m data_adapters.simulator.basemap --seed 7 --out /tmp/basemap

A real city replaces the three files with its own (same names, any GeoJSON FeatureCollection).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Sequence

from data_adapters.simulator.city import YIYANG, CityModel, LonLat

LAYER_FILES: dict[str, str] = {"district": "districts.geojson", "river": "river.geojson",
                               "road": "roads.geojson"}
DIGITS = 6  # about 0.1 m: finer than any screen shows, and it keeps the files small
DEFAULT_OUT = Path(__file__).resolve().parents[2] / "assets" / "basemap"


def _rounded(coordinates: Any) -> Any:
    if isinstance(coordinates, (list, tuple)):
        return [_rounded(c) for c in coordinates]
    return round(float(coordinates), DIGITS)


def basemap_layers(city: CityModel) -> dict[str, dict[str, Any]]:
    """The city's features split by layer (district, river, road), one FeatureCollection each."""
    layers: dict[str, dict[str, Any]] = {
        layer: {"type": "FeatureCollection", "features": []} for layer in LAYER_FILES}
    for feature in city.to_geojson()["features"]:
        layer = feature["properties"]["layer"]
        geometry = dict(feature["geometry"], coordinates=_rounded(feature["geometry"]["coordinates"]))
        layers[layer]["features"].append({"type": "Feature", "geometry": geometry,
                                          "properties": dict(feature["properties"])})
    return layers


def render(collection: dict[str, Any]) -> str:
    """A FeatureCollection as the committed text: compact, sorted keys, UTF-8, one final newline."""
    return json.dumps(collection, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n"


def write_basemap(out_dir: Path, seed: int = 1, center: LonLat | tuple[float, float] = YIYANG
                  ) -> list[Path]:
    """Generate the city of ``seed`` around ``center`` (lon, lat) and write its basemap files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for layer, collection in basemap_layers(CityModel.generate(seed, center)).items():
        path = out_dir / LAYER_FILES[layer]
        path.write_text(render(collection), encoding="utf-8")
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: write the basemap files of a demo city."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1, help="the demo city's seed (default 1)")
    parser.add_argument("--center", type=float, nargs=2, metavar=("LON", "LAT"),
                        default=(YIYANG.lon, YIYANG.lat), help="the city's centre")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"folder (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    for path in write_basemap(args.out, args.seed, tuple(args.center)):
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
