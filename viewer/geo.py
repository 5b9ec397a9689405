"""Map data: geotagged photos of a search as GeoJSON, clustered by the database on a zoom-sized grid."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import peewee as pw

from photoshelf.db.rows import tuples, tuples_in
from photoshelf.db.schema import Photo
from photoshelf.viewer.errors import InvalidInput
from photoshelf.viewer.listing import Scope, base_select
from photoshelf.viewer.urls import thumb_url
from photoshelf.visibility import Audience

CELL_PIXELS = 60  # a cluster covers about this many screen pixels at the requested zoom
MAX_ZOOM = 22


@dataclass(frozen=True)
class BBox:
    south: float
    west: float
    north: float
    east: float

    @classmethod
    def parse(cls, text: str) -> BBox:
        """'south,west,north,east' in degrees (Leaflet's toBBoxString order is west,south,east,north:
        the client sends ours)."""
        try:
            s, w, n, e = (float(v) for v in text.split(","))
        except ValueError:
            raise InvalidInput(f"bbox must be south,west,north,east in degrees, got {text!r}") from None
        if not (-90 <= s <= n <= 90) or any(v != v for v in (s, w, n, e)):
            raise InvalidInput(f"bbox latitudes must be -90 <= south <= north <= 90, got {text!r}")
        return cls(s, w, n, e)


def cell_degrees(zoom: int) -> float:
    # Web Mercator: the world is 256 * 2**zoom pixels wide.
    return 360.0 * CELL_PIXELS / (256.0 * 2 ** zoom)


def _in_box(box: BBox) -> Any:
    cond = Photo.lat.between(box.south, box.north)
    if box.east - box.west >= 360:
        return cond
    west = (box.west + 180) % 360 - 180
    east = (box.east + 180) % 360 - 180
    if west <= east:
        return cond & Photo.lon.between(west, east)
    return cond & ((Photo.lon >= west) | (Photo.lon <= east))  # the box crosses the antimeridian


def clusters(text: str, zoom: int, bbox: BBox | None, audience: Audience) -> dict[str, Any]:
    """A GeoJSON FeatureCollection: one feature per grid cell with photos `audience` sees, with their count, mean
    position and one photo to show. A cell with one photo is that photo's exact point."""
    if not 0 <= zoom <= MAX_ZOOM:
        raise InvalidInput(f"zoom must be 0 to {MAX_ZOOM}, got {zoom}")
    cell = cell_degrees(zoom)
    select = base_select(text, Scope(audience=audience)).where(Photo.lat.is_null(False) & Photo.lon.is_null(False))
    if bbox is not None:
        select = select.where(_in_box(bbox))
    gy, gx = pw.fn.ROUND(Photo.lat / cell), pw.fn.ROUND(Photo.lon / cell)
    rows = list(tuples(
        select.select(pw.fn.COUNT(Photo.id), pw.fn.AVG(Photo.lat), pw.fn.AVG(Photo.lon), pw.fn.MAX(Photo.id))
        .group_by(gy, gx).order_by()
    ))
    shown = [r[3] for r in rows]
    sha = {pid: (s, has) for pid, s, has in
           tuples_in(Photo.select(Photo.id, Photo.sha1, Photo.has_thumbs), Photo.id, shown)}
    features = []
    total = 0
    for count, lat, lon, pid in rows:
        total += count
        sha1, has = sha.get(pid, (None, False))
        features.append({
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [round(float(lon), 6), round(float(lat), 6)]},
            "properties": {"count": int(count), "photo": pid,
                           "tile": thumb_url(sha1, "tile") if sha1 and has else None},
        })
    return {"type": "FeatureCollection", "features": features, "count": total, "zoom": zoom}


def bounds(text: str, audience: Audience) -> list[float] | None:
    """[south, west, north, east] of the search's geotagged photos, to fit the map to them."""
    row = base_select(text, Scope(audience=audience)).where(Photo.lat.is_null(False)).select(
        pw.fn.MIN(Photo.lat), pw.fn.MIN(Photo.lon), pw.fn.MAX(Photo.lat), pw.fn.MAX(Photo.lon)
    ).order_by().tuples().first()
    if row is None or row[0] is None:
        return None
    return [float(v) for v in row]
