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
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np

from ..callbacks import never_cancelled, no_progress
from ..errors import Cancelled, UserError
from ..runtime.raster import open_raster

_FOUR_CONNECTED = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=bool)
_METRES_PER_DEGREE = 111_320.0


def polygonize_fields(class_raster_path, output_gpkg_path, field_value: int = 1,
                      boundary_value: int | None = 2, min_area_m2: float = 0.0,
                      simplify_tolerance_m: float = 0.0, probability_raster_path=None,
                      progress: Callable[[float], None] | None = None,
                      is_cancelled: Callable[[], bool] | None = None,
                      band: int = 1, probability_band: int = 1,
                      layer_name: str | None = None) -> dict:
    """Write one polygon per field to a GeoPackage; returns counts, areas and notes.

    Attributes: ``field_id``, ``area_m2``, ``perimeter_m`` (outer ring plus holes) and, with a
    probability raster on the same grid (band ``probability_band`` = field probability, band
    scale/offset applied, nodata ignored), ``mean_field_prob`` over the field's pixels.
    The file is written under a temporary name and renamed when complete.
    """
    from osgeo import gdal, ogr, osr
    from scipy import ndimage

    gdal.UseExceptions()
    ogr.UseExceptions()
    report = progress or no_progress
    cancelled = is_cancelled or never_cancelled
    if boundary_value is not None and boundary_value == field_value:
        raise UserError("field value and boundary value are equal; boundary pixels must have "
                        "their own class value (FTW: field 1, boundary 2)")
    if min_area_m2 < 0 or simplify_tolerance_m < 0:
        raise UserError("minimum area and simplification tolerance must be zero or positive")

    src = open_raster(class_raster_path, "class raster")
    if band < 1 or band > src.RasterCount:
        raise UserError(f"class raster {class_raster_path} has no band {band}")
    classes = src.GetRasterBand(band).ReadAsArray()
    geotransform = src.GetGeoTransform()
    srs = osr.SpatialReference()
    warnings: list[str] = []
    if src.GetProjection():
        srs.ImportFromWkt(src.GetProjection())
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    else:
        srs = None
        warnings.append("class raster has no CRS: areas are in squared pixel-georeference units")
    report(0.1)

    labels, n_fields = ndimage.label(classes == field_value, structure=_FOUR_CONNECTED)
    labels = labels.astype(np.int32, copy=False)
    probability = None
    if probability_raster_path is not None:
        probability = _mean_probability(gdal, probability_raster_path, probability_band, labels,
                                        n_fields, src)
    _check_cancel(cancelled)
    report(0.3)

    metric = _Metric(osr, srs, src, geotransform, warnings)
    polygons = _polygonize(gdal, ogr, labels, src, srs)
    territories = {}
    tolerance = simplify_tolerance_m / metric.metres_per_unit if simplify_tolerance_m else 0.0
    if tolerance and n_fields:
        nearest = ndimage.distance_transform_edt(labels == 0, return_distances=False,
                                                 return_indices=True)
        territory = labels[nearest[0], nearest[1]]
        del nearest
        territories = _polygonize(gdal, ogr, territory, src, srs)
    _check_cancel(cancelled)
    report(0.5)

    output = Path(output_gpkg_path)
    if output.suffix.lower() != ".gpkg":
        raise UserError(f"output {output} must be a GeoPackage (.gpkg)")
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f"{output.stem}.tmp{os.getpid()}.gpkg")
    name = layer_name or output.stem
    count, total_area, dropped = 0, 0.0, 0
    driver = ogr.GetDriverByName("GPKG")
    ds = driver.CreateDataSource(str(tmp))
    try:
        layer = ds.CreateLayer(name, srs=srs, geom_type=ogr.wkbPolygon,
                               options=["SPATIAL_INDEX=YES"])
        layer.CreateField(ogr.FieldDefn("field_id", ogr.OFTInteger))
        for field_name in ("area_m2", "perimeter_m") + (
                ("mean_field_prob",) if probability is not None else ()):
            layer.CreateField(ogr.FieldDefn(field_name, ogr.OFTReal))
        defn = layer.GetLayerDefn()
        layer.StartTransaction()
        for i, (field_id, geom) in enumerate(sorted(polygons.items())):
            if i % 200 == 0:
                _check_cancel(cancelled)
                report(0.5 + 0.45 * i / max(len(polygons), 1))
            if tolerance:
                simplified = geom.SimplifyPreserveTopology(tolerance)
                geom = simplified.Intersection(territories[field_id])
            for part in _valid_polygons(ogr, geom):
                area = metric.area(part)
                if area <= 0 or area < min_area_m2:
                    dropped += 1
                    continue
                feature = ogr.Feature(defn)
                feature.SetGeometry(part)
                feature.SetField("field_id", int(field_id))
                feature.SetField("area_m2", float(area))
                feature.SetField("perimeter_m", float(metric.perimeter(part)))
                if probability is not None and np.isfinite(probability[field_id]):
                    feature.SetField("mean_field_prob", float(probability[field_id]))
                layer.CreateFeature(feature)
                count += 1
                total_area += area
        layer.CommitTransaction()
    except BaseException:
        ds = None
        _remove(tmp)
        raise
    ds = None
    os.replace(tmp, output)
    report(1.0)
    return {
        "output": str(output),
        "layer": name,
        "count": count,
        "total_area_m2": total_area,
        "fields_labelled": int(n_fields),
        "dropped": dropped,
        "field_pixel_count": int(np.count_nonzero(labels)),
        "crs_wkt": srs.ExportToWkt() if srs is not None else "",
        "area_method": metric.method,
        "warnings": warnings,
    }


def _check_cancel(cancelled):
    if cancelled():
        raise Cancelled("field polygonisation cancelled")


def _remove(path: Path):
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        try:
            candidate.unlink()
        except FileNotFoundError:
            pass


def _polygonize(gdal, ogr, ids: np.ndarray, like, srs) -> dict:
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


def _valid_polygons(ogr, geom) -> list:
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
            parts.extend(_valid_polygons(ogr, geom.GetGeometryRef(i).Clone()))
    return parts


class _Metric:
    """Area and perimeter in metres for the raster's CRS (see module docstring)."""

    def __init__(self, osr, srs, ds, geotransform, warnings):
        self.transform = None
        self.metres_per_unit = 1.0
        self.method = "planar (CRS units taken as metres)"
        if srs is None:
            return
        if srs.IsGeographic():
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
            warnings.append("geographic CRS: areas and perimeters computed on a local "
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


def _mean_probability(gdal, path, band_number, labels, n_fields, like) -> np.ndarray:
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
