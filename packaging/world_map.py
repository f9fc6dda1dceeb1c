"""Builds the dashboard's world map (analyticsd/http/static/world.json) from
two npm packages, pinned:

* world-atlas 2.0.2: Natural Earth's 1:110m countries as TopoJSON (Natural
  Earth is public domain; the packaging is ISC, by Mike Bostock). Chosen
  because it is the maintained, widely used packaging of the standard
  public-domain boundaries, small at this scale (108 KB), and keyed by the
  ISO 3166-1 numeric code;
* i18n-iso-countries 7.14.0 (MIT): only its table of numeric to alpha-2 codes,
  since the GeoIP lookups give alpha-2.

The output maps each alpha-2 code to an SVG path in an equirectangular
projection of 960 x 400 (latitudes 84 N to 60 S; Antarctica left out), one
decimal. It is generated once and committed (the dashboard fetches nothing
from elsewhere); run again to update:

    npm install --prefix "$DIR" world-atlas@2.0.2 i18n-iso-countries@7.14.0
    python3 packaging/world_map.py "$DIR/node_modules" > analyticsd/http/static/world.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

W, H = 960, 400
NORTH, SOUTH = 84.0, -60.0
# Natural Earth names for places without an ISO numeric code of their own.
BY_NAME = {"Kosovo": "XK"}


def _arcs(topo: dict[str, Any]) -> list[list[tuple[float, float]]]:
    (sx, sy), (tx, ty) = topo["transform"]["scale"], topo["transform"]["translate"]
    out = []
    for arc in topo["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:  # quantized and delta-encoded
            x, y = x + dx, y + dy
            points.append((x * sx + tx, y * sy + ty))
        out.append(points)
    return out


def _ring(arcs: list[list[tuple[float, float]]], indexes: list[int]) -> list[tuple[float, float]]:
    ring: list[tuple[float, float]] = []
    for i in indexes:
        points = arcs[i] if i >= 0 else arcs[~i][::-1]
        ring.extend(points[1:] if ring else points)
    return ring


def _xy(lon: float, lat: float) -> tuple[float, float]:
    lat = max(SOUTH, min(NORTH, lat))
    return (lon + 180) / 360 * W, (NORTH - lat) / (NORTH - SOUTH) * H


def _path(rings: list[list[tuple[float, float]]]) -> str:
    parts = []
    for ring in rings:
        # A ring across the antimeridian (Russia's east, Fiji) is drawn in one
        # piece past the right edge, where the view clips it, rather than as a
        # line across the whole map.
        across = any(lon > 170 for lon, _ in ring) and any(lon < -170 for lon, _ in ring)
        for i, (lon, lat) in enumerate(ring):
            x, y = _xy(lon + 360 if across and lon < 0 else lon, lat)
            parts.append(f"{'L' if i else 'M'}{x:.1f},{y:.1f}")
        parts.append("Z")
    return "".join(parts)


def build(modules: Path) -> dict[str, str]:
    topo = json.loads((modules / "world-atlas" / "countries-110m.json").read_text())
    codes = json.loads((modules / "i18n-iso-countries" / "codes.json").read_text())
    alpha2 = {numeric: a2 for a2, _, numeric, *_ in codes}
    arcs = _arcs(topo)
    out: dict[str, str] = {}
    for g in topo["objects"]["countries"]["geometries"]:
        code = alpha2.get(g.get("id", ""), BY_NAME.get(g["properties"]["name"], ""))
        if not code or code == "AQ":
            continue
        polygons = g["arcs"] if g["type"] == "MultiPolygon" else [g["arcs"]]
        rings = [_ring(arcs, ring) for polygon in polygons for ring in polygon]
        out[code] = out.get(code, "") + _path(rings)
    return dict(sorted(out.items()))


if __name__ == "__main__":
    json.dump(build(Path(sys.argv[1])), sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")
