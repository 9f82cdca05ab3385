"""Field polygons from a field / boundary class raster (FTW 3-class output).

Why label first, then polygonize: ``scipy.ndimage.label`` numbers each field once, so
``gdal.Polygonize`` of the label raster gives one polygon per field with its id, and zonal
statistics (mean field probability) are an exact ``bincount`` over the same ids, no rasterising.

Choices (documented for users):

* Only ``field_value`` pixels become polygons; boundary pixels count as background, which is what
  splits touching fields. Fields are **4-connected** (edge neighbours) in both the labelling and
  Polygonize: a one-pixel boundary line drawn on the diagonal is only 4-connected, so with
  8-connectivity fields on either side would leak into each other through corner contacts, and
  GDAL's 8-connected polygons can touch themselves at a vertex.
* Two fields can therefore touch only at a corner, never share an edge: unsimplified output is
  non-overlapping and gap-free with respect to the raster. Polygons are checked with GEOS and
  repaired with ``MakeValid`` when needed (multi-part results become separate features sharing
  ``field_id``).
* ``simplify_tolerance_m`` uses per-polygon ``SimplifyPreserveTopology``. Simplifying polygons one
  by one can make neighbours overlap (each moves up to the tolerance), so every simplified polygon
  is clipped to its field's *territory* (raster pixels nearer to that field than to any other,
  from a Euclidean distance transform). Territories are disjoint, so the output stays
  non-overlapping; slivers of background between fields may widen or narrow by up to the
  tolerance.
* Areas/perimeters: in a projected CRS, planar in CRS units converted to metres. In a geographic
  CRS (degrees) each polygon is projected to a Lambert azimuthal equal-area projection centred on
  the raster (area exact to the ellipsoid approximation, perimeter slightly distorted far from the
  centre), and the simplification tolerance is converted with 1 degree = 111 320 m (conservative:
  east-west it simplifies less). ``MIN_AREA`` is applied to the final (simplified) parts.
* The whole class raster is read into memory (fields can span any extent, so labelling is global).
* The layer is written through the core's GeoPackage writer (runtime/vectors.py): under a
  temporary name, renamed when complete; other layers of an existing GeoPackage are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from osgeo import gdal, ogr, osr
from scipy import ndimage

from ..callbacks import Callbacks
from ..errors import Cancelled, UserError
from ..runtime.raster import open_raster
from ..runtime.vectors import Field, check_destination, check_geopackage_path, geopackage_layer
from ..runtime.gdal_exceptions import gdal_exceptions


_FOUR_CONNECTED = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=bool)
_METRES_PER_DEGREE = 111_320.0


@dataclass(frozen=True)
class FieldPolygons:
    """What ``polygonize_fields`` wrote."""

    output: str
    layer: str
    count: int  # polygons written
    total_area_m2: float
    fields_labelled: int  # connected field regions in the raster
    dropped: int  # parts below the minimum area (or empty)
    field_pixel_count: int
    crs_wkt: str
    area_method: str  # how areas and perimeters were measured


@gdal_exceptions()
def polygonize_fields(class_raster_path, output_gpkg_path, field_value: int = 1,
                      boundary_value: int | None = 2, min_area_m2: float = 0.0,
                      simplify_tolerance_m: float = 0.0, probability_raster_path=None,
                      band: int = 1, probability_band: int = 1, layer_name: str | None = None,
                      callbacks: Callbacks = Callbacks()) -> FieldPolygons:
    """Write one polygon per field to a GeoPackage layer (``layer_name``, default the file's
    stem); returns counts, areas and how they were measured.

    Attributes: ``field_id``, ``area_m2``, ``perimeter_m`` (outer ring plus holes) and, with a
    probability raster on the same grid (band ``probability_band`` = field probability, band
    scale/offset applied, nodata ignored), ``mean_field_prob`` over the field's pixels.
    """
    _check_parameters(field_value, boundary_value, min_area_m2, simplify_tolerance_m)
    output = check_geopackage_path(output_gpkg_path)
    check_destination(output, layer_name or output.stem)  # a user's layer is never replaced
    src = open_raster(class_raster_path, "class raster")
    if band < 1 or band > src.RasterCount:
        raise UserError(f"class raster {class_raster_path} has no band {band}")
    srs = _crs(src, callbacks)
    callbacks.progress(0.1)

    labels, n_fields = _label_fields(src.GetRasterBand(band).ReadAsArray(), field_value)
    probability = None
    if probability_raster_path is not None:
        probability = _mean_probability(probability_raster_path, probability_band, labels,
                                        n_fields, src)
    _check_cancel(callbacks)
    callbacks.progress(0.3)

    metric = _Metric(srs, src, callbacks)
    tolerance = simplify_tolerance_m / metric.metres_per_unit if simplify_tolerance_m else 0.0
    polygons = _polygonize(labels, src, srs)
    territories = _polygonize(_territories(labels), src, srs) if tolerance and n_fields else {}
    _check_cancel(callbacks)
    callbacks.progress(0.5)

    name = layer_name or output.stem
    crs_wkt = srs.ExportToWkt() if srs is not None else ""
    count, total_area, dropped = _write_fields(
        output, name, crs_wkt, polygons, territories, tolerance, metric, min_area_m2,
        probability, callbacks.part(0.5, 0.95))
    callbacks.progress(1.0)
    return FieldPolygons(str(output), name, count, total_area, int(n_fields), dropped,
                         int(np.count_nonzero(labels)), crs_wkt, metric.method)


def _check_parameters(field_value, boundary_value, min_area_m2, simplify_tolerance_m) -> None:
    if boundary_value is not None and boundary_value == field_value:
        raise UserError("field value and boundary value are equal; boundary pixels must have "
                        "their own class value (FTW: field 1, boundary 2)")
    if min_area_m2 < 0 or simplify_tolerance_m < 0:
        raise UserError("minimum area and simplification tolerance must be zero or positive")


def _check_cancel(callbacks: Callbacks) -> None:
    if callbacks.is_cancelled():
        raise Cancelled("field polygonisation cancelled")


def _crs(src, callbacks: Callbacks) -> osr.SpatialReference | None:
    """The class raster's CRS (x/y axis order), or None with a warning."""
    if not src.GetProjection():
        callbacks.warn("class raster has no CRS: areas are in squared pixel-georeference units")
        return None
    srs = osr.SpatialReference()
    srs.ImportFromWkt(src.GetProjection())
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


def _label_fields(classes: np.ndarray, field_value: int) -> tuple[np.ndarray, int]:
    """Each 4-connected region of ``field_value`` pixels numbered 1..n (0 elsewhere), and n."""
    labels, n_fields = ndimage.label(classes == field_value, structure=_FOUR_CONNECTED)
    return labels.astype(np.int32, copy=False), n_fields


def _territories(labels: np.ndarray) -> np.ndarray:
    """Every pixel numbered with its nearest field (Euclidean): disjoint areas that simplified
    polygons are clipped to, so they cannot overlap."""
    nearest = ndimage.distance_transform_edt(labels == 0, return_distances=False,
                                             return_indices=True)
    return labels[nearest[0], nearest[1]]


def _write_fields(output: Path, name: str, crs_wkt: str, polygons: dict, territories: dict,
                  tolerance: float, metric: "_Metric", min_area_m2: float,
                  probability: np.ndarray | None,
                  callbacks: Callbacks) -> tuple[int, float, int]:
    """One feature per valid part of each field at least ``min_area_m2`` large; returns
    (features written, their total area in m², parts dropped)."""
    fields = [Field("field_id", "int"), Field("area_m2"), Field("perimeter_m")]
    if probability is not None:
        fields.append(Field("mean_field_prob"))
    total_area, dropped = 0.0, 0
    with geopackage_layer(output, name, crs_wkt, "polygon", fields) as writer:
        for i, (field_id, geom) in enumerate(sorted(polygons.items())):
            if i % 200 == 0:
                _check_cancel(callbacks)
                callbacks.progress(i / max(len(polygons), 1))
            if tolerance:
                geom = geom.SimplifyPreserveTopology(tolerance).Intersection(
                    territories[field_id])
            for part in _valid_polygons(geom):
                area = metric.area(part)
                if area <= 0 or area < min_area_m2:
                    dropped += 1
                    continue
                mean = probability[field_id] if probability is not None else np.nan
                writer.add(part, {"field_id": int(field_id), "area_m2": float(area),
                                  "perimeter_m": float(metric.perimeter(part)),
                                  "mean_field_prob": float(mean) if np.isfinite(mean) else None})
                total_area += area
        count = writer.count
    return count, total_area, dropped


def _polygonize(ids: np.ndarray, like, srs) -> dict:
    """Polygons of the non-zero ids (4-connected), merged per id: {id: ogr.Geometry}."""
    rows, cols = ids.shape
    mem = gdal.GetDriverByName("MEM").Create("", cols, rows, 1, gdal.GDT_Int32)
    mem.SetGeoTransform(like.GetGeoTransform())
    if like.GetProjection():
        mem.SetProjection(like.GetProjection())
    mem_band = mem.GetRasterBand(1)
    mem_band.WriteArray(ids)
    vector = ogr.GetDriverByName("Memory").CreateDataSource("")
    layer = vector.CreateLayer("ids", srs=srs, geom_type=ogr.wkbPolygon)
    layer.CreateField(ogr.FieldDefn("id", ogr.OFTInteger))
    # The id band is its own mask (0 = not a field); no "8CONNECTED" option = 4-connected.
    gdal.Polygonize(mem_band, mem_band, layer, 0, [], callback=None)
    result: dict[int, object] = {}
    for feature in layer:
        key = feature.GetField(0)
        geom = feature.GetGeometryRef().Clone()
        if key in result:
            merged = result[key]
            if merged.GetGeometryType() != ogr.wkbMultiPolygon:
                merged = ogr.ForceToMultiPolygon(merged)
            merged.AddGeometry(geom)
            result[key] = merged
        else:
            result[key] = geom
    return result


def _valid_polygons(geom) -> list:
    """Valid single polygons from ``geom`` (MakeValid when needed; lines/points dropped)."""
    if geom is None or geom.IsEmpty():
        return []
    if not geom.IsValid():
        geom = geom.MakeValid()
    flat = ogr.GT_Flatten(geom.GetGeometryType())
    if flat == ogr.wkbPolygon:
        return [geom]
    parts = []
    if flat in (ogr.wkbMultiPolygon, ogr.wkbGeometryCollection):
        for i in range(geom.GetGeometryCount()):
            parts.extend(_valid_polygons(geom.GetGeometryRef(i).Clone()))
    return parts


class _Metric:
    """Area and perimeter in metres for the raster's CRS (see module docstring)."""

    def __init__(self, srs, ds, callbacks: Callbacks):
        self.transform = None
        self.metres_per_unit = 1.0
        self.method = "planar (CRS units taken as metres)"
        if srs is None:
            return
        if srs.IsGeographic():
            geotransform = ds.GetGeoTransform()
            half_x, half_y = ds.RasterXSize / 2, ds.RasterYSize / 2
            cx = geotransform[0] + geotransform[1] * half_x + geotransform[2] * half_y
            cy = geotransform[3] + geotransform[4] * half_x + geotransform[5] * half_y
            laea = osr.SpatialReference()
            laea.ImportFromProj4(f"+proj=laea +lat_0={cy} +lon_0={cx} +x_0=0 +y_0=0 "
                                 "+ellps=WGS84 +units=m +no_defs")
            laea.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
            self.transform = osr.CoordinateTransformation(srs, laea)
            self.metres_per_unit = _METRES_PER_DEGREE
            self.method = f"Lambert azimuthal equal-area centred on ({cx:.5f}, {cy:.5f})"
            callbacks.warn("geographic CRS: areas and perimeters computed on a local "
                           "equal-area projection; reproject the raster for exact metric lengths")
        else:
            self.metres_per_unit = float(srs.GetLinearUnits() or 1.0)
            self.method = f"planar in {srs.GetLinearUnitsName() or 'metre'}"

    def _metric(self, geom):
        if self.transform is None:
            return geom, self.metres_per_unit
        projected = geom.Clone()
        projected.Transform(self.transform)
        return projected, 1.0

    def area(self, geom) -> float:
        g, factor = self._metric(geom)
        return g.GetArea() * factor * factor

    def perimeter(self, geom) -> float:
        g, factor = self._metric(geom)
        return g.Boundary().Length() * factor


def _mean_probability(path, band_number, labels, n_fields, like) -> np.ndarray:
    """Mean probability per label id (index = id; NaN where no valid pixel)."""
    ds = open_raster(path, "probability raster")
    if (ds.RasterXSize, ds.RasterYSize) != (like.RasterXSize, like.RasterYSize) or not np.allclose(
            ds.GetGeoTransform(), like.GetGeoTransform(), rtol=0, atol=1e-9 * max(
                1.0, max(abs(v) for v in like.GetGeoTransform()))):
        raise UserError(f"probability raster {path} is not on the class raster's grid (size and "
                        "geotransform must match); use the probability output of the same run")
    if band_number < 1 or band_number > ds.RasterCount:
        raise UserError(f"probability raster {path} has no band {band_number}")
    prob_band = ds.GetRasterBand(band_number)
    values = prob_band.ReadAsArray().astype(np.float64)
    valid = np.isfinite(values)
    nodata = prob_band.GetNoDataValue()
    if nodata is not None:
        valid &= values != nodata
    values = values * (prob_band.GetScale() or 1.0) + (prob_band.GetOffset() or 0.0)
    ids = labels[valid]
    sums = np.bincount(ids, weights=values[valid], minlength=n_fields + 1)
    counts = np.bincount(ids, minlength=n_fields + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
