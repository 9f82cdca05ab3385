"""Lab samples (points with lab values) and their features from the rasters.

Each point is reprojected into the image's CRS; the image and covariate windows around its
pixel are read as the engine reads a map's tiles (models/soil/rasters.py) and the FeatureSet
turns them into a feature row. Points outside the image or on nodata (image or a covariate)
are skipped and counted; two samples at the very same place are an error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from osgeo import ogr, osr

from ..callbacks import Callbacks
from ..errors import UserError
from ..runtime.raster import open_raster
from .features import InputBands, feature_set
from .rasters import bind_for_training, windows_at
from .tables import SampleTable


NUMERIC_FIELDS = (ogr.OFTInteger, ogr.OFTInteger64, ogr.OFTReal)


@dataclass
class Points:
    """Point features of a layer: ids, coordinates in the layer's CRS, attribute values."""

    ids: np.ndarray  # (n,) FIDs
    xy: np.ndarray  # (n, 2)
    srs: osr.SpatialReference | None
    values: dict  # field name -> list of values (None where empty)


def open_layer(path, layer=None, what="sample layer"):
    """(datasource, layer); keep the datasource alive while using the layer."""
    try:
        source = ogr.Open(str(path))
    except RuntimeError as exc:
        raise UserError(f"cannot open the {what} {path} ({exc}): check the path and format")
    if source is None:
        raise UserError(f"cannot open the {what} {path}: check the path and that it is a "
                        f"vector format OGR reads")
    if source.GetLayerCount() == 0:
        raise UserError(f"the {what} {path} has no layer")
    found = source.GetLayerByName(layer) if isinstance(layer, str) else source.GetLayer(layer or 0)
    if found is None:
        raise UserError(f"the {what} {path} has no layer {layer!r}")
    return source, found


def read_points(path, fields=(), *, layer=None, numeric=(),
                callbacks: Callbacks = Callbacks()) -> Points:
    """Points of a layer with the values of ``fields``; the ``numeric`` ones must be number
    fields. Features without geometry are skipped (warned); multi-points must have one part."""
    source, lyr = open_layer(path, layer)
    definition = lyr.GetLayerDefn()
    names = [definition.GetFieldDefn(i).GetName() for i in range(definition.GetFieldCount())]
    for name in fields:
        if name not in names:
            raise UserError(f"the sample layer has no field {name!r}; its fields are: "
                            f"{', '.join(names) or 'none'}")
    for name in numeric:
        kind = definition.GetFieldDefn(definition.GetFieldIndex(name)).GetType()
        if kind not in NUMERIC_FIELDS:
            raise UserError(f"target field {name!r} is a {ogr.GetFieldTypeName(kind)} field, "
                            f"not a number: convert it to a decimal field (e.g. the field "
                            f"calculator's to_real(\"{name}\")) or choose a numeric field")
    ids, xy, values = [], [], {name: [] for name in fields}
    no_geometry = 0
    for feature in lyr:
        geometry = feature.GetGeometryRef()
        if geometry is None or geometry.IsEmpty():
            no_geometry += 1
            continue
        flat = ogr.GT_Flatten(geometry.GetGeometryType())
        if flat == ogr.wkbMultiPoint and geometry.GetGeometryCount() == 1:
            geometry = geometry.GetGeometryRef(0)
        elif flat != ogr.wkbPoint:
            raise UserError(f"feature {feature.GetFID()} of the sample layer is a "
                            f"{geometry.GetGeometryName()}, not a point: give one point per "
                            f"sample (Vector > Geometry > Centroids, or Multipart to "
                            f"singleparts)")
        ids.append(feature.GetFID())
        xy.append((geometry.GetX(), geometry.GetY()))
        for name in fields:
            index = feature.GetFieldIndex(name)
            if not feature.IsFieldSetAndNotNull(index):
                values[name].append(None)
            elif name in numeric:
                values[name].append(feature.GetFieldAsDouble(index))
            else:
                values[name].append(feature.GetField(index))
    if no_geometry:
        callbacks.warn(f"{no_geometry} features of the point layer have no geometry and were "
                       f"skipped")
    srs = lyr.GetSpatialRef()
    srs = srs.Clone() if srs is not None else None
    lyr = None
    source = None
    return Points(np.array(ids, np.int64), np.array(xy, np.float64).reshape(-1, 2), srs, values)


def check_no_duplicates(points: Points) -> None:
    """Two samples at the very same place are one location counted twice (a copy, or
    replicates to average); they would also leak between CV folds."""
    _, first, counts = np.unique(points.xy, axis=0, return_index=True, return_counts=True)
    if (counts > 1).any():
        pairs = []
        for row in np.flatnonzero(counts > 1)[:5]:
            same = np.flatnonzero((points.xy == points.xy[first[row]]).all(1))
            pairs.append("/".join(str(points.ids[i]) for i in same))
        raise UserError(f"{int((counts[counts > 1] - 1).sum())} samples lie at the same place as "
                        f"another (feature ids {', '.join(pairs)}): average the lab values of "
                        f"replicates into one sample, or delete the copies")


def to_crs(xy: np.ndarray, source: osr.SpatialReference | None, wkt: str,
           callbacks: Callbacks = Callbacks()) -> np.ndarray:
    """Coordinates from ``source`` into the CRS ``wkt`` (unchanged when either is unknown)."""
    if source is None or not wkt:
        if (source is None) != (not wkt):
            callbacks.warn("the points or the raster have no CRS: assuming both use the same one")
        return xy
    target = osr.SpatialReference(wkt=wkt)
    source = source.Clone()
    for srs in (source, target):
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    if source.IsSame(target) or not len(xy):
        return xy.copy()
    transform = osr.CoordinateTransformation(source, target)
    return np.array(transform.TransformPoints(xy.tolist()))[:, :2]


def metric_xy(xy: np.ndarray, wkt: str) -> np.ndarray:
    """Coordinates in metres for spatial blocks: as they are in a projected CRS, else in the
    UTM zone of their centre."""
    if not wkt:
        return xy
    srs = osr.SpatialReference(wkt=wkt)
    if srs.IsProjected():
        return xy * srs.GetLinearUnits()
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    to_lonlat = osr.CoordinateTransformation(srs, _lonlat())
    lonlat = np.array(to_lonlat.TransformPoints(xy.tolist()))[:, :2]
    lon, lat = lonlat.mean(0)
    utm = osr.SpatialReference()
    utm.ImportFromEPSG((32600 if lat >= 0 else 32700) + int((lon + 180) // 6) % 60 + 1)
    utm.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return np.array(osr.CoordinateTransformation(_lonlat(), utm).TransformPoints(
        lonlat.tolist()))[:, :2]


def _lonlat() -> osr.SpatialReference:
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4326)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


def read_samples(samples, targets, image, *, layer=None, covariates=(), bands=None,
                 units=None, fold_field=None, pixel=True, windows=(), indices="all",
                 callbacks: Callbacks = Callbacks()) -> SampleTable:
    """The SampleTable of a point layer with lab values (``targets``: field names) on an
    image and optional covariate rasters (paths). Samples that cannot be used are counted in
    ``table.skipped`` (reason -> count)."""
    targets = list(targets)
    if not targets:
        raise UserError("choose at least one target field (the lab values to predict)")
    units = list(units) if units else [""] * len(targets)
    if len(units) != len(targets):
        raise UserError(f"{len(units)} units for {len(targets)} target fields: give one unit "
                        f"per target, in the same order (or none)")
    fields = targets + ([fold_field] if fold_field else [])
    points = read_points(samples, fields, layer=layer, numeric=targets, callbacks=callbacks)
    if not len(points.ids):
        raise UserError(f"the sample layer {samples} has no points")
    check_no_duplicates(points)
    inputs = bind_for_training(image, covariates, bands)
    features = feature_set([InputBands(s.name, s.bands) for s in inputs.specs], pixel=pixel,
                           windows=windows, indices=indices, callbacks=callbacks)
    crs = _image_crs(image)
    xy = to_crs(points.xy, points.srs, crs, callbacks)
    blocks, reasons = windows_at(inputs, xy, features.halo, callbacks)
    usable = np.array([r is None for r in reasons])
    skipped = {}
    for reason in reasons:
        if reason is not None:
            skipped[reason] = skipped.get(reason, 0) + 1
    if not usable.any():
        raise UserError(f"none of the {len(reasons)} samples lies on valid pixels of the image "
                        f"{image}: check that the samples and the image cover the same area "
                        f"(the samples are reprojected to the image's CRS)")
    values = features({name: block[usable] for name, block in blocks.items()})[:, :, 0, 0]
    target_values = np.array([[np.nan if v is None else v for v in points.values[t]]
                              for t in targets], np.float64).T[usable]
    folds = None
    if fold_field:
        from .folds import given_folds
        folds = given_folds([points.values[fold_field][i] for i in np.flatnonzero(usable)],
                            fold_field)
    return SampleTable(
        features=values, targets=target_values,
        xy=metric_xy(xy[usable], crs), ids=points.ids[usable],
        extent=tuple(float(v) for v in (*xy[usable].min(0), *xy[usable].max(0))),
        feature_set=features, target_names=tuple(targets), units=tuple(units),
        crs=_crs_name(crs), folds=folds, fold_source=fold_field or "",
        skipped=skipped, inputs=inputs.card_entries())


def _image_crs(image) -> str:
    return open_raster(image, "input image").GetProjection() or ""


def _crs_name(wkt: str) -> str:
    if not wkt:
        return ""
    srs = osr.SpatialReference(wkt=wkt)
    authority, code = srs.GetAuthorityName(None), srs.GetAuthorityCode(None)
    return f"{authority}:{code}" if authority and code else wkt
