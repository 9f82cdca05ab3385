"""Training pixels from a raster and labelled polygons/points, and a split by polygon.

Every sample keeps the id (FID) of the feature it came from, so a train/test split never puts
pixels of one polygon on both sides (neighbouring pixels are nearly duplicates; a pixel-wise
split would report optimistic accuracies).

Polygons (and lines) are burnt into an in-memory Int32 raster with ``gdal.RasterizeLayer``
(attribute = sequential feature number, pixel-centre rule unless ``all_touched``; where polygons
overlap the last one wins), strip by strip over the features' window of the raster, so memory
does not grow with the raster. Points sample the pixel under them, each point one sample.
Integer class 0 means unlabelled; 255 is the class raster's nodata, so ids are 1..254.
Whatever is skipped on the way (empty class, outside the raster, nodata pixels) is reported
through ``callbacks.warn``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from osgeo import gdal, ogr, osr

from ..callbacks import Callbacks
from ..colours import class_colours
from ..errors import Cancelled, UserError
from ..runtime.raster import (CLASS_NODATA, RasterInfo, check_same_grid, open_raster,
                              raster_info, read_window, valid_mask)
from .uncertainty import MeasurementUncertainty
from ..runtime.gdal_exceptions import gdal_exceptions


_STRIP_PIXELS = 4_000_000
_POINT_TYPES = (ogr.wkbPoint, ogr.wkbMultiPoint)


@dataclass
class Samples:
    values: np.ndarray  # (n, d) float64
    labels: np.ndarray  # (n,) class ids
    groups: np.ndarray  # (n,) feature id (FID) each pixel came from
    sigma: np.ndarray | None  # (n, d) measurement sigma, or None
    class_ids: tuple
    class_names: tuple
    band_names: tuple

    @property
    def colours(self) -> tuple:
        return class_colours(self.class_names)


@dataclass
class _Feature:
    """A labelled feature of the training vector; its number in the burnt raster is its
    position in the feature list + 1 (0 = no feature)."""

    fid: int
    key: int | str  # the class field's value
    geometry: ogr.Geometry  # in the raster's CRS


@dataclass
class _Classes:
    ids: tuple
    names: tuple
    id_of: dict  # class field value -> class id


@dataclass
class _Skipped:
    """Features left out while reading the training vector, by reason."""

    total: int = 0
    empty: int = 0
    unlabelled: int = 0  # class 0
    no_geometry: int = 0
    outside: int = 0


@dataclass
class _Pixels:
    """The valid pixels found under the features so far."""

    values: list = field(default_factory=list)  # (m, d) arrays
    numbers: list = field(default_factory=list)  # (m,) feature numbers
    sigmas: list = field(default_factory=list)  # (m, d) sigma raster values
    invalid: int = 0  # NaN/nodata pixels under features, left out

    def add(self, block, sigma_block, rows, cols, numbers, nodata) -> None:
        """The pixels (rows, cols) of a (bands, h, w) block, ``numbers`` their features."""
        under = block[:, rows, cols]  # (d, m)
        good = valid_mask(under[:, :, None], nodata)[:, 0]
        self.values.append(under.T[good])
        self.numbers.append(numbers[good])
        if sigma_block is not None:
            self.sigmas.append(sigma_block[:, rows, cols].T[good])
        self.invalid += int(np.count_nonzero(~good))


@gdal_exceptions()
def extract_samples(raster_path, vector_path, class_field: str, *, name_field: str | None = None,
                    layer=None, uncertainty: MeasurementUncertainty | None = None,
                    all_touched: bool = False, callbacks: Callbacks = Callbacks()) -> Samples:
    """Valid pixels under the labelled features of ``vector_path``.

    ``class_field``: integer (ids used as they are, 1..254; ``name_field`` may give names) or
    text (distinct values sorted and numbered 1..K). Features with an empty class, features
    outside the raster and pixels that are NaN/nodata in any band are skipped with a warning;
    a class left without pixels, or no pixel at all, is a UserError.
    """
    raster = open_raster(raster_path, "input raster")
    info = raster_info(raster)
    unc = uncertainty or MeasurementUncertainty()
    unc.check(info.band_count)
    sigma = None
    if unc.sigma_raster is not None:
        sigma = open_raster(unc.sigma_raster, "sigma raster")
        check_same_grid(info, raster_info(sigma), "sigma raster", bands=info.band_count)

    vector, lyr = _open_layer(vector_path, layer)
    try:
        features, names, is_text = _read_features(lyr, raster, info, class_field, name_field,
                                                  callbacks)
        if not features:
            raise UserError(f"no labelled feature of {vector_path} overlaps the raster "
                            f"{raster_path}: check that both cover the same area (CRS: the "
                            f"vector is reprojected to the raster's) and that {class_field!r} "
                            f"is filled in")
        classes = _number_classes(features, names, is_text)
        shapes, points = _split_points(features)
        pixels = _Pixels()
        _gather_shape_pixels(shapes, raster, sigma, info, all_touched, pixels, callbacks)
        points_outside = _gather_point_pixels(points, raster, sigma, info, pixels)
        _report_skipped_pixels(points_outside, pixels.invalid, callbacks)
        samples = _samples(pixels, features, classes, info, unc, vector_path, callbacks)
        callbacks.progress(1.0)
        return samples
    except (UserError, Cancelled) as exc:
        # no inner frames: they hold OGR layers that must not outlive this call
        raise exc.with_traceback(None) from None
    finally:
        # GDAL < 3.8 bindings: drop layers before their datasources, or the interpreter may
        # free them twice at exit
        lyr = None
        vector = None


def _open_layer(vector_path, layer):
    try:
        ds = ogr.Open(str(vector_path))
    except RuntimeError as exc:
        raise UserError(f"cannot open the training vector {vector_path} ({exc}): check the path "
                        f"and format") from exc
    if ds is None or ds.GetLayerCount() == 0:
        raise UserError(f"the training vector {vector_path} has no layer")
    lyr = ds.GetLayerByName(layer) if isinstance(layer, str) else ds.GetLayer(layer or 0)
    if lyr is None:
        raise UserError(f"the training vector {vector_path} has no layer {layer!r}")
    return ds, lyr


def _field_index(lyr, name, what):
    defn = lyr.GetLayerDefn()
    idx = defn.GetFieldIndex(name)
    if idx < 0:
        fields = [defn.GetFieldDefn(i).GetName() for i in range(defn.GetFieldCount())]
        raise UserError(f"the training vector has no {what} field {name!r}; its fields are: "
                        f"{', '.join(fields)}")
    return idx, defn.GetFieldDefn(idx).GetType()


def _transform(lyr, raster_ds, callbacks: Callbacks):
    """OGR transformation from the layer CRS to the raster CRS (None when the same/unknown)."""
    src = lyr.GetSpatialRef()
    wkt = raster_ds.GetProjection()
    if src is None or not wkt:
        if src is not None or wkt:
            callbacks.warn("the raster or the training vector has no CRS: assuming both use the "
                           "same one")
        return None
    dst = osr.SpatialReference(wkt=wkt)
    src = src.Clone()
    for srs in (src, dst):
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    if src.IsSame(dst):
        return None
    return osr.CoordinateTransformation(src, dst)


def _read_features(lyr, raster, info: RasterInfo, class_field, name_field,
                   callbacks: Callbacks) -> tuple[list[_Feature], dict, bool]:
    """The labelled features that overlap the raster, in the raster's CRS; the class names
    found in ``name_field`` by class value; whether the class field is text."""
    class_index, class_type = _field_index(lyr, class_field, "class")
    name_index = _field_index(lyr, name_field, "class name")[0] if name_field else None
    is_text = class_type not in (ogr.OFTInteger, ogr.OFTInteger64, ogr.OFTReal)
    to_raster = _transform(lyr, raster, callbacks)
    xmin, ymin, xmax, ymax = info.grid.bounds()
    features, names, skipped = [], {}, _Skipped()
    lyr.ResetReading()
    for feature in lyr:
        skipped.total += 1
        key = _class_key(feature, class_index, is_text, class_field)
        if key is None:
            skipped.empty += 1
            continue
        if key == 0:
            skipped.unlabelled += 1
            continue
        geometry = feature.GetGeometryRef()
        if geometry is None or geometry.IsEmpty():
            skipped.no_geometry += 1
            continue
        geometry = geometry.Clone()
        if to_raster is not None:
            geometry.Transform(to_raster)
        gx0, gx1, gy0, gy1 = geometry.GetEnvelope()
        if gx1 < xmin or gx0 > xmax or gy1 < ymin or gy0 > ymax:
            skipped.outside += 1
            continue
        if name_index is not None and key not in names:
            name = str(feature.GetFieldAsString(name_index)).strip()
            if name:
                names[key] = name
        features.append(_Feature(feature.GetFID(), key, geometry))
    _report_skipped_features(skipped, class_field, callbacks)
    return features, names, is_text


def _class_key(feature, index: int, is_text: bool, class_field: str) -> int | str | None:
    """The class field's value (text stripped, or a whole number); None when empty."""
    if not feature.IsFieldSetAndNotNull(index):
        return None
    if is_text:
        return str(feature.GetFieldAsString(index)).strip() or None
    value = feature.GetFieldAsDouble(index)
    if not math.isfinite(value) or value != int(value):
        raise UserError(f"class field {class_field!r} holds {value}, not a whole number: "
                        f"use an integer or text class field")
    return int(value)


def _report_skipped_features(skipped: _Skipped, class_field: str, callbacks: Callbacks) -> None:
    if skipped.empty:
        callbacks.warn(f"{skipped.empty} of {skipped.total} features have an empty class field "
                       f"{class_field!r} and were skipped")
    if skipped.unlabelled:
        callbacks.warn(f"{skipped.unlabelled} of {skipped.total} features have class 0 "
                       f"(unlabelled) and were skipped")
    if skipped.no_geometry:
        callbacks.warn(f"{skipped.no_geometry} features have no geometry and were skipped")
    if skipped.outside:
        callbacks.warn(f"{skipped.outside} of {skipped.total} features lie outside the raster "
                       f"extent and were skipped")


def _number_classes(features: list[_Feature], names: dict, is_text: bool) -> _Classes:
    """Text classes are numbered 1..K in sorted order; integer ids are kept (1..254)."""
    keys = sorted({f.key for f in features})
    if len(keys) < 2:
        raise UserError(f"the training layer has only one class ({', '.join(map(str, keys))}) "
                        "in its class field; a classifier needs at least two classes: add "
                        "training features of the other land covers.")
    if is_text and len(keys) > CLASS_NODATA - 1:
        raise UserError(f"the class field holds {len(keys)} classes, more than the "
                        f"{CLASS_NODATA - 1} a class raster can store ({CLASS_NODATA} is "
                        "nodata): merge classes so that at most 254 remain.")
    if is_text:
        ids = tuple(range(1, len(keys) + 1))
        return _Classes(ids, tuple(keys), dict(zip(keys, ids)))
    bad = [k for k in keys if not 1 <= k < CLASS_NODATA]
    if bad:
        raise UserError(f"class ids {bad} are outside 1..{CLASS_NODATA - 1} and cannot be "
                        f"stored in the Byte class raster ({CLASS_NODATA} is nodata): "
                        f"recode the class field (0 means unlabelled)")
    return _Classes(tuple(keys), tuple(names.get(k, str(k)) for k in keys), {k: k for k in keys})


def _split_points(features: list[_Feature]):
    """([(number, geometry)] of the polygons and lines, [(number, x, y)] of the points)."""
    shapes, points = [], []
    for number, feature in enumerate(features, start=1):
        geometry = feature.geometry
        kind = ogr.GT_Flatten(geometry.GetGeometryType())
        if kind not in _POINT_TYPES:
            shapes.append((number, geometry))
            continue
        parts = [geometry] if kind == ogr.wkbPoint else [
            geometry.GetGeometryRef(i) for i in range(geometry.GetGeometryCount())]
        points += [(number, p.GetX(), p.GetY()) for p in parts]
    return shapes, points


def _shapes_window(shapes, info: RasterInfo) -> tuple[int, int, int, int] | None:
    """(col0, row0, col1, row1) of the raster covering the shapes' envelopes; None if empty."""
    to_pixels = gdal.InvGeoTransform(info.geotransform)
    col0, row0, col1, row1 = info.width, info.height, 0, 0
    for _, geometry in shapes:
        gx0, gx1, gy0, gy1 = geometry.GetEnvelope()
        for x, y in ((gx0, gy0), (gx0, gy1), (gx1, gy0), (gx1, gy1)):
            c, r = gdal.ApplyGeoTransform(to_pixels, x, y)
            col0, col1 = min(col0, math.floor(c)), max(col1, math.ceil(c))
            row0, row1 = min(row0, math.floor(r)), max(row1, math.ceil(r))
    col0, row0, col1, row1 = max(col0, 0), max(row0, 0), min(col1, info.width), min(row1,
                                                                                   info.height)
    return (col0, row0, col1, row1) if col1 > col0 and row1 > row0 else None


def _gather_shape_pixels(shapes, raster, sigma, info: RasterInfo, all_touched: bool,
                         pixels: _Pixels, callbacks: Callbacks) -> None:
    """The pixels under the polygons and lines, burnt strip by strip over their window."""
    window = _shapes_window(shapes, info) if shapes else None
    if window is None:
        return
    col0, row0, col1, row1 = window
    width = col1 - col0
    strip = max(1, _STRIP_PIXELS // width)
    memory = ogr.GetDriverByName("Memory").CreateDataSource("")
    layer = _numbered_layer(memory, shapes, info.projection)
    try:
        for r0 in range(row0, row1, strip):
            if callbacks.is_cancelled():
                raise Cancelled("cancelled while extracting training pixels")
            rows = min(strip, row1 - r0)
            numbers = _burn(layer, info, col0, r0, width, rows, all_touched)
            rr, cc = np.nonzero(numbers)
            if rr.size:
                block = read_window(raster, col0, r0, width, rows)
                sigma_block = read_window(sigma, col0, r0, width, rows) if sigma is not None else None
                pixels.add(block, sigma_block, rr, cc, numbers[rr, cc].astype(np.int64),
                           info.nodata)
            callbacks.progress(0.9 * (r0 + rows - row0) / (row1 - row0))
    finally:
        layer = None  # before its datasource (GDAL < 3.8 bindings)
        memory = None


def _numbered_layer(memory, shapes, projection: str):
    """An in-memory layer of the shapes, each carrying its feature number in ``seq``."""
    srs = osr.SpatialReference(wkt=projection) if projection else None
    layer = memory.CreateLayer("burn", srs=srs, geom_type=ogr.wkbUnknown)
    layer.CreateField(ogr.FieldDefn("seq", ogr.OFTInteger))
    for number, geometry in shapes:
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetField("seq", number)
        feature.SetGeometry(geometry)
        layer.CreateFeature(feature)
    return layer


def _burn(layer, info: RasterInfo, col0: int, row0: int, width: int, rows: int,
          all_touched: bool) -> np.ndarray:
    """The feature numbers of ``layer`` on a strip of the raster's grid (0: no feature)."""
    gt = info.geotransform
    strip = gdal.GetDriverByName("MEM").Create("", width, rows, 1, gdal.GDT_Int32)
    x, y = gdal.ApplyGeoTransform(gt, col0, row0)
    strip.SetGeoTransform((x, gt[1], gt[2], y, gt[4], gt[5]))
    if info.projection:
        strip.SetProjection(info.projection)
    options = ["ATTRIBUTE=seq"] + (["ALL_TOUCHED=TRUE"] if all_touched else [])
    gdal.RasterizeLayer(strip, [1], layer, options=options)
    return strip.ReadAsArray()


def _gather_point_pixels(points, raster, sigma, info: RasterInfo, pixels: _Pixels) -> int:
    """The pixel under each point; returns how many points lie outside the raster."""
    to_pixels = gdal.InvGeoTransform(info.geotransform)
    outside = 0
    for number, x, y in points:
        c, r = (math.floor(v) for v in gdal.ApplyGeoTransform(to_pixels, x, y))
        if not (0 <= c < info.width and 0 <= r < info.height):
            outside += 1
            continue
        block = read_window(raster, c, r, 1, 1)
        sigma_block = read_window(sigma, c, r, 1, 1) if sigma is not None else None
        pixels.add(block, sigma_block, np.array([0]), np.array([0]), np.array([number]),
                   info.nodata)
    return outside


def _report_skipped_pixels(points_outside: int, invalid: int, callbacks: Callbacks) -> None:
    if points_outside:
        callbacks.warn(f"{points_outside} points lie outside the raster and were skipped")
    if invalid:
        callbacks.warn(f"{invalid} pixels under training features are NaN or nodata in some "
                       f"band and were left out")


def _samples(pixels: _Pixels, features: list[_Feature], classes: _Classes, info: RasterInfo,
             unc: MeasurementUncertainty, vector_path, callbacks: Callbacks) -> Samples:
    """The gathered pixels as Samples; no pixel at all, or a class without one, is a
    UserError."""
    if sum(len(v) for v in pixels.values) == 0:
        raise UserError(f"no valid pixel lies under the training features of {vector_path}: "
                        f"the features are too small for the pixel size (try all-touched), or "
                        f"the raster is nodata there")
    values = np.concatenate(pixels.values)
    numbers = np.concatenate(pixels.numbers)
    without_pixels = len(features) - len(np.unique(numbers))
    if without_pixels:
        callbacks.warn(f"{without_pixels} features overlap the raster but contain no valid "
                       f"pixel centre (too small, or nodata): they were skipped")
    class_of = np.array([0] + [classes.id_of[f.key] for f in features], dtype=np.int64)
    fid_of = np.array([0] + [f.fid for f in features], dtype=np.int64)
    labels, groups = class_of[numbers], fid_of[numbers]
    for cid, name in zip(classes.ids, classes.names):
        if not np.any(labels == cid):
            raise UserError(f"class '{name}' (id {cid}) has no valid pixel inside the raster: add "
                            f"training areas for it inside the raster or remove its features")
    sigma = None
    if not unc.is_empty:
        sigma_values = np.concatenate(pixels.sigmas) if pixels.sigmas else None
        per_pixel = unc.sigma_for(values, sigma_values)
        sigma = None if per_pixel is None else np.broadcast_to(per_pixel, values.shape).copy()
    return Samples(values, labels, groups, sigma, classes.ids, classes.names, info.band_names)


def split_by_group(labels: np.ndarray, groups: np.ndarray, test_fraction: float = 0.3,
                   seed: int = 0, callbacks: Callbacks = Callbacks()) -> np.ndarray:
    """Boolean mask of training samples; whole groups (polygons) go to one side.

    Stratified: per class (a group's class is its majority label) the groups are shuffled with
    ``seed`` and moved to the test side until it holds about ``test_fraction`` of the class's
    pixels; at least one group of every class stays on the training side, and a class with a
    single group is not evaluated (warning).
    """
    if not 0 <= test_fraction < 1:
        raise UserError(f"test fraction must be in [0, 1) (got {test_fraction})")
    rng = np.random.default_rng(seed)
    train = np.ones(labels.shape[0], dtype=bool)
    if test_fraction == 0:
        return train
    ug, inv = np.unique(groups, return_inverse=True)
    sizes = np.bincount(inv)
    g_class = np.empty(len(ug), dtype=labels.dtype)
    for gi in range(len(ug)):
        vals, cnt = np.unique(labels[inv == gi], return_counts=True)
        g_class[gi] = vals[np.argmax(cnt)]
    test_groups = []
    single = []
    for c in np.unique(labels):
        members = np.flatnonzero(g_class == c)
        if len(members) < 2:
            single.append(str(c))
            continue
        members = rng.permutation(members)
        target = test_fraction * sizes[members].sum()
        taken = 0
        for gi in members[:-1]:  # the last one always stays for training
            if taken >= target:
                break
            if taken and taken + sizes[gi] > 1.5 * target:
                continue  # a huge polygon would overshoot; try the next one
            test_groups.append(gi)
            taken += sizes[gi]
    if single:
        callbacks.warn(f"class(es) {', '.join(single)} come from a single polygon: used for "
                       f"training only, not evaluated")
    train[np.isin(inv, test_groups)] = False
    return train
