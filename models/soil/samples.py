"""Lab samples (points) and the features of the rasters at their locations.

Each point is reprojected into the image's CRS and falls in one image pixel. A window of
2 halo + 1 pixels around that pixel is read from the image (NaN past the edge and on nodata);
each covariate raster, on any grid and CRS, is warped (bilinear) onto that same window, the
way a tiling engine warps a covariate onto an image tile, so training and prediction see the
same values. The FeatureSet then turns the windows into feature rows.

Points outside the image or on nodata (image or a covariate) are skipped and counted; a
covariate that covers no sample at all is an error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from osgeo import gdal, ogr, osr

from ..callbacks import never_cancelled, no_progress
from ..errors import Cancelled, UserError
from ..runtime.raster import open_raster, raster_info, read_window, valid_mask
from .features import InputBands, canonical_band, feature_set
from .tables import SPECTRAL, SampleTable

gdal.UseExceptions()
ogr.UseExceptions()
osr.UseExceptions()

NUMERIC_FIELDS = (ogr.OFTInteger, ogr.OFTInteger64, ogr.OFTReal)
OUTSIDE = "outside the image"
IMAGE_NODATA = "on nodata in the image"


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


def read_points(path, fields=(), *, layer=None, numeric=(), warn=None) -> Points:
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
    if no_geometry and warn:
        warn(f"{no_geometry} features of the sample layer have no geometry and were skipped")
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


def to_crs(xy: np.ndarray, source: osr.SpatialReference | None, wkt: str, warn=None) -> np.ndarray:
    """Coordinates from ``source`` into the CRS ``wkt`` (unchanged when either is unknown)."""
    if source is None or not wkt:
        if (source is None) != (not wkt) and warn:
            warn("the samples or the raster have no CRS: assuming both use the same one")
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


class RasterInputs:
    """The image and its covariates, opened once, with the band names the features use."""

    def __init__(self, image, covariates=(), bands=None):
        self.image = open_raster(image, "input image")
        self.info = raster_info(self.image)
        names = list(bands) if bands else list(self.info.band_names)
        if len(names) != self.info.band_count:
            raise UserError(f"BANDS names {len(names)} bands but the image {image} has "
                            f"{self.info.band_count}: give one name per band, in order")
        self.band_names = tuple(canonical_band(n) for n in names)
        self.named = bool(bands) or all(d.strip() for d in self.info.descriptions)
        self.band_index = list(range(self.info.band_count))
        self.covariates = []
        for index, path in enumerate(covariates):
            dataset = open_raster(path, f"covariate raster {path}")
            self.covariates.append((f"covariate_{index + 1}", str(path), dataset,
                                    raster_info(dataset)))

    def select(self, wanted, warn=None) -> None:
        """Use the image bands a model was trained on, found by name (any order); an image
        without band names must have exactly those bands in that order."""
        wanted = [canonical_band(b) for b in wanted]
        if not self.named:
            if len(wanted) != self.info.band_count:
                raise UserError(f"the image has {self.info.band_count} unnamed bands but the "
                                f"model was trained on {len(wanted)} ({', '.join(wanted)}): give "
                                f"an image with those bands, or name its bands with BANDS")
            if warn:
                warn(f"the image's bands have no names: taking them as {', '.join(wanted)} in "
                     f"this order")
            self.band_names = tuple(wanted)
            return
        missing = [b for b in wanted if b not in self.band_names]
        if missing:
            raise UserError(f"the model was trained on bands {', '.join(wanted)} but the image "
                            f"has {', '.join(self.band_names)} (missing: {', '.join(missing)}): "
                            f"give an image with those bands, or rename them with BANDS")
        self.band_index = [self.band_names.index(b) for b in wanted]
        self.band_names = tuple(wanted)

    def check_covariates(self, expected: list) -> None:
        """The covariates given must be the model's: same count, same band counts."""
        if len(expected) != len(self.covariates):
            raise UserError(f"the model was trained with {len(expected)} covariate rasters "
                            f"({', '.join(e.get('title', e['name']) for e in expected) or 'none'})"
                            f" but {len(self.covariates)} were given: give the same covariates, "
                            f"in the same order")
        for entry, (_, path, _, info) in zip(expected, self.covariates):
            if len(entry["bands"]) != info.band_count:
                raise UserError(f"covariate {path} has {info.band_count} bands but the model's "
                                f"{entry.get('title', entry['name'])} had {len(entry['bands'])}:"
                                f" give the same covariates, in the same order")

    def input_bands(self) -> list:
        """[InputBands] for a FeatureSet: the image first, then each covariate."""
        return [InputBands(SPECTRAL, self.band_names)] + [
            InputBands(name, info.band_names) for name, _, _, info in self.covariates]

    def card_inputs(self) -> list:
        """The card's inputs (engine contract v2)."""
        entries = [{"name": SPECTRAL, "bands": list(self.band_names), "transform": "linear",
                    "scale": 1, "ratio": 1}]
        for name, path, _, info in self.covariates:
            entries.append({"name": name, "bands": list(info.band_names),
                            "transform": "linear", "scale": 1, "resampling": "bilinear",
                            "title": path.replace("\\", "/").rsplit("/", 1)[-1]})
        return entries

    def windows_at(self, xy: np.ndarray, halo: int, is_cancelled=never_cancelled,
                   progress=no_progress):
        """Blocks {input name: (n, C, 2 halo + 1, 2 halo + 1)} around the image pixels holding
        ``xy`` (image CRS; NaN = no data), and per point the reason it cannot be used (None
        when it can). A covariate that covers none of the points on valid image pixels is a
        UserError."""
        size = 2 * halo + 1
        info = self.info
        inverse = gdal.InvGeoTransform(info.geotransform)
        n = len(xy)
        blocks = {SPECTRAL: np.full((n, len(self.band_index), size, size), np.nan)}
        for name, _, _, covariate in self.covariates:
            blocks[name] = np.full((n, covariate.band_count, size, size), np.nan)
        reasons = [None] * n
        covered = {name: 0 for name, _, _, _ in self.covariates}
        for i, (x, y) in enumerate(xy):
            if i % 64 == 0:
                if is_cancelled():
                    raise Cancelled("cancelled while reading the rasters at the samples")
                progress(i / max(n, 1))
            col, row = (math.floor(v) for v in gdal.ApplyGeoTransform(inverse, x, y))
            if not (0 <= col < info.width and 0 <= row < info.height):
                reasons[i] = OUTSIDE
                continue
            blocks[SPECTRAL][i] = self._image_window(col - halo, row - halo, size)
            if np.isnan(blocks[SPECTRAL][i][:, halo, halo]).any():
                reasons[i] = IMAGE_NODATA
                continue
            for name, path, dataset, covariate in self.covariates:
                blocks[name][i] = _warp_window(dataset, covariate, info, col - halo, row - halo,
                                               size)
                if np.isnan(blocks[name][i][:, halo, halo]).any():
                    reasons[i] = reasons[i] or f"outside or on nodata in the covariate {path}"
                else:
                    covered[name] += 1
        on_image = sum(r not in (OUTSIDE, IMAGE_NODATA) for r in reasons)
        for name, path, _, _ in self.covariates:
            if on_image and not covered[name]:
                raise UserError(f"the covariate raster {path} does not cover any sample (or is "
                                f"nodata at all of them): give a covariate that overlaps the "
                                f"samples (it may be in another CRS; it is reprojected)")
        progress(1.0)
        return blocks, reasons

    def _image_window(self, col: int, row: int, size: int) -> np.ndarray:
        info = self.info
        out = np.full((len(self.band_index), size, size), np.nan)
        c0, r0 = max(col, 0), max(row, 0)
        c1, r1 = min(col + size, info.width), min(row + size, info.height)
        block = read_window(self.image, c0, r0, c1 - c0, r1 - r0)[self.band_index]
        nodata = [info.nodata[i] for i in self.band_index]
        block[:, ~valid_mask(block, nodata)] = np.nan
        out[:, r0 - row:r1 - row, c0 - col:c1 - col] = block
        return out


def _warp_window(dataset, covariate, image, col: int, row: int, size: int) -> np.ndarray:
    """A covariate resampled (bilinear) onto ``size`` x ``size`` image pixels from (col, row);
    NaN where it has no data."""
    gt = image.geotransform
    x0, y0 = gdal.ApplyGeoTransform(gt, col, row)
    target = gdal.GetDriverByName("MEM").Create("", size, size, covariate.band_count,
                                                gdal.GDT_Float64)
    target.SetGeoTransform((x0, gt[1], gt[2], y0, gt[4], gt[5]))
    if image.projection:
        target.SetProjection(image.projection)
    for b in range(covariate.band_count):
        band = target.GetRasterBand(b + 1)
        band.SetNoDataValue(float("nan"))
        band.Fill(float("nan"))
    options = gdal.WarpOptions(resampleAlg="bilinear", dstNodata=float("nan"),
                               srcSRS=None if covariate.projection else image.projection or None)
    gdal.Warp(target, dataset, options=options)
    block = target.ReadAsArray().astype(np.float64).reshape(covariate.band_count, size, size)
    block[:, ~valid_mask(block, covariate.nodata)] = np.nan
    return block


def read_samples(samples, targets, image, *, layer=None, covariates=(), bands=None,
                 units=None, fold_field=None, pixel=True, windows=(), indices="all",
                 progress=None, is_cancelled=None, warn=None) -> SampleTable:
    """The SampleTable of a point layer with lab values (``targets``: field names) on an
    image and optional covariate rasters (paths). Samples that cannot be used are counted in
    ``table.skipped`` (reason -> count)."""
    progress = progress or no_progress
    is_cancelled = is_cancelled or never_cancelled
    warn = warn or (lambda message: None)
    targets = list(targets)
    if not targets:
        raise UserError("choose at least one target field (the lab values to predict)")
    units = list(units) if units else [""] * len(targets)
    if len(units) != len(targets):
        raise UserError(f"{len(units)} units for {len(targets)} target fields: give one unit "
                        f"per target, in the same order (or none)")
    fields = targets + ([fold_field] if fold_field else [])
    points = read_points(samples, fields, layer=layer, numeric=targets, warn=warn)
    if not len(points.ids):
        raise UserError(f"the sample layer {samples} has no points")
    check_no_duplicates(points)
    rasters = RasterInputs(image, covariates, bands)
    features = feature_set(rasters.input_bands(), pixel=pixel, windows=windows,
                           indices=indices, warn=warn)
    xy = to_crs(points.xy, points.srs, rasters.info.projection, warn)
    blocks, reasons = rasters.windows_at(xy, features.halo, is_cancelled, progress)
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
        xy=metric_xy(xy[usable], rasters.info.projection), ids=points.ids[usable],
        extent=tuple(float(v) for v in (*xy[usable].min(0), *xy[usable].max(0))),
        feature_set=features, target_names=tuple(targets), units=tuple(units),
        crs=_crs_name(rasters.info.projection), folds=folds, fold_source=fold_field or "",
        skipped=skipped, inputs=rasters.card_inputs())


def _crs_name(wkt: str) -> str:
    if not wkt:
        return ""
    srs = osr.SpatialReference(wkt=wkt)
    authority, code = srs.GetAuthorityName(None), srs.GetAuthorityCode(None)
    return f"{authority}:{code}" if authority and code else wkt
