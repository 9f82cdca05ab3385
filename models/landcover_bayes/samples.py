"""Training pixels from a raster and labelled polygons/points, and a split by polygon.

Every sample keeps the id (FID) of the feature it came from, so a train/test split never puts
pixels of one polygon on both sides (neighbouring pixels are nearly duplicates; a pixel-wise
split would report optimistic accuracies).

Polygons (and lines) are burnt into an in-memory Int32 raster with ``gdal.RasterizeLayer``
(attribute = sequential feature number, pixel-centre rule unless ``all_touched``; where polygons
overlap the last one wins), strip by strip over the features' window of the raster, so memory
does not grow with the raster. Points sample the pixel under them, each point one sample.
Integer class 0 means unlabelled; 255 is the class raster's nodata, so ids are 1..254.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from osgeo import gdal, ogr, osr

from ..callbacks import never_cancelled, no_progress
from ..errors import Cancelled, UserError
from ..colours import class_colours
from .model import LandcoverWarning
from ..runtime.raster import (CLASS_NODATA, check_same_grid, open_raster, raster_info,
                              read_window, valid_mask)
from .uncertainty import MeasurementUncertainty

ogr.UseExceptions()
osr.UseExceptions()

_STRIP_PIXELS = 4_000_000


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

    def subset(self, mask: np.ndarray) -> "Samples":
        return Samples(self.values[mask], self.labels[mask], self.groups[mask],
                       None if self.sigma is None else self.sigma[mask],
                       self.class_ids, self.class_names, self.band_names)


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


def _transform(lyr, raster_ds):
    """OGR transformation from the layer CRS to the raster CRS (None when the same/unknown)."""
    src = lyr.GetSpatialRef()
    wkt = raster_ds.GetProjection()
    if src is None or not wkt:
        if src is not None or wkt:
            warnings.warn("the raster or the training vector has no CRS: assuming both use the "
                          "same one", LandcoverWarning, stacklevel=3)
        return None
    dst = osr.SpatialReference(wkt=wkt)
    src = src.Clone()
    for srs in (src, dst):
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    if src.IsSame(dst):
        return None
    return osr.CoordinateTransformation(src, dst)


def extract_samples(raster_path, vector_path, class_field: str, *, name_field: str | None = None,
                    layer=None, uncertainty: MeasurementUncertainty | None = None,
                    all_touched: bool = False, progress=None, is_cancelled=None) -> Samples:
    """Valid pixels under the labelled features of ``vector_path``.

    ``class_field``: integer (ids used as they are, 1..254; ``name_field`` may give names) or
    text (distinct values sorted and numbered 1..K). Features with an empty class, features
    outside the raster and pixels that are NaN/nodata in any band are skipped with a warning;
    a class left without pixels, or no pixel at all, is a UserError.
    """
    progress = progress or no_progress
    is_cancelled = is_cancelled or never_cancelled
    rds = open_raster(raster_path, "input raster")
    info = raster_info(rds)
    unc = uncertainty or MeasurementUncertainty()
    unc.check(info.band_count)
    sds = None
    if unc.sigma_raster is not None:
        sds = open_raster(unc.sigma_raster, "sigma raster")
        check_same_grid(info, raster_info(sds), "sigma raster", bands=info.band_count)

    vds, lyr = _open_layer(vector_path, layer)
    mem = ogr.GetDriverByName("Memory").CreateDataSource("")
    try:
        return _extract(rds, info, sds, vds, lyr, mem, raster_path, vector_path, class_field,
                        name_field, unc, all_touched, progress, is_cancelled)
    except (UserError, Cancelled) as exc:
        # no inner frames: they hold OGR layers that must not outlive this call
        raise exc.with_traceback(None) from None
    finally:
        # GDAL < 3.8 bindings: drop layers before their datasources, or the interpreter may
        # free them twice at exit
        lyr = None
        vds = mem = None


def _extract(rds, info, sds, vds, lyr, mem, raster_path, vector_path, class_field, name_field,
             unc, all_touched, progress, is_cancelled) -> Samples:
    d = info.band_count
    gt = info.geotransform
    inv_gt = gdal.InvGeoTransform(gt)
    W, H = info.width, info.height
    corners = [gdal.ApplyGeoTransform(gt, c, r) for c in (0, W) for r in (0, H)]
    rx0, rx1 = min(p[0] for p in corners), max(p[0] for p in corners)
    ry0, ry1 = min(p[1] for p in corners), max(p[1] for p in corners)
    cidx, ctype = _field_index(lyr, class_field, "class")
    nidx = _field_index(lyr, name_field, "class name")[0] if name_field else None
    is_text = ctype not in (ogr.OFTInteger, ogr.OFTInteger64, ogr.OFTReal)
    ct = _transform(lyr, rds)

    # one pass over the features: class keys, reprojected geometries
    feats = []  # (fid, key, geometry in raster CRS)
    names_by_key = {}
    n_empty = n_zero = n_nogeom = n_outside = n_total = 0
    lyr.ResetReading()
    for f in lyr:
        n_total += 1
        if not f.IsFieldSetAndNotNull(cidx):
            n_empty += 1
            continue
        if is_text:
            key = str(f.GetFieldAsString(cidx)).strip()
            if not key:
                n_empty += 1
                continue
        else:
            val = f.GetFieldAsDouble(cidx)
            if not math.isfinite(val) or val != int(val):
                raise UserError(f"class field {class_field!r} holds {val}, not a whole number: "
                                f"use an integer or text class field")
            key = int(val)
            if key == 0:
                n_zero += 1
                continue
        geom = f.GetGeometryRef()
        if geom is None or geom.IsEmpty():
            n_nogeom += 1
            continue
        geom = geom.Clone()
        if ct is not None:
            geom.Transform(ct)
        gx0, gx1, gy0, gy1 = geom.GetEnvelope()
        if gx1 < rx0 or gx0 > rx1 or gy1 < ry0 or gy0 > ry1:
            n_outside += 1
            continue
        if nidx is not None and key not in names_by_key:
            nm = str(f.GetFieldAsString(nidx)).strip()
            if nm:
                names_by_key[key] = nm
        feats.append((f.GetFID(), key, geom))
    if n_empty:
        warnings.warn(f"{n_empty} of {n_total} features have an empty class field "
                      f"{class_field!r} and were skipped", LandcoverWarning, stacklevel=2)
    if n_zero:
        warnings.warn(f"{n_zero} of {n_total} features have class 0 (unlabelled) "
                      f"and were skipped", LandcoverWarning, stacklevel=2)
    if n_nogeom:
        warnings.warn(f"{n_nogeom} features have no geometry and were skipped",
                      LandcoverWarning, stacklevel=2)
    if n_outside:
        warnings.warn(f"{n_outside} of {n_total} features lie outside the raster extent and "
                      f"were skipped", LandcoverWarning, stacklevel=2)
    if not feats:
        raise UserError(f"no labelled feature of {vector_path} overlaps the raster "
                        f"{raster_path}: check that both cover the same area (CRS: the vector is "
                        f"reprojected to the raster's) and that {class_field!r} is filled in")

    # class ids and names
    keys = sorted({k for _, k, _ in feats})
    if is_text:
        class_ids = tuple(range(1, len(keys) + 1))
        class_names = tuple(keys)
        id_of = {k: i for k, i in zip(keys, class_ids)}
    else:
        bad = [k for k in keys if not 1 <= k < CLASS_NODATA]
        if bad:
            raise UserError(f"class ids {bad} are outside 1..{CLASS_NODATA - 1} and cannot be "
                            f"stored in the Byte class raster ({CLASS_NODATA} is nodata): "
                            f"recode the class field (0 means unlabelled)")
        class_ids = tuple(keys)
        class_names = tuple(names_by_key.get(k, str(k)) for k in keys)
        id_of = {k: k for k in keys}

    # polygons/lines into a memory layer carrying a sequential number; points kept aside
    srs = osr.SpatialReference(wkt=rds.GetProjection()) if rds.GetProjection() else None
    mlyr = mem.CreateLayer("burn", srs=srs, geom_type=ogr.wkbUnknown)
    mlyr.CreateField(ogr.FieldDefn("seq", ogr.OFTInteger))
    seq_fid, seq_class = [0], [0]
    points = []  # (seq, x, y)
    wx0, wy0, wx1, wy1 = W, H, 0, 0
    for fid, key, geom in feats:
        seq = len(seq_fid)
        seq_fid.append(fid)
        seq_class.append(id_of[key])
        flat = ogr.GT_Flatten(geom.GetGeometryType())
        if flat in (ogr.wkbPoint, ogr.wkbMultiPoint):
            parts = [geom] if flat == ogr.wkbPoint else [geom.GetGeometryRef(i)
                                                         for i in range(geom.GetGeometryCount())]
            points += [(seq, p.GetX(), p.GetY()) for p in parts]
            continue
        feat = ogr.Feature(mlyr.GetLayerDefn())
        feat.SetField("seq", seq)
        feat.SetGeometry(geom)
        mlyr.CreateFeature(feat)
        gx0, gx1, gy0, gy1 = geom.GetEnvelope()
        for x, y in ((gx0, gy0), (gx0, gy1), (gx1, gy0), (gx1, gy1)):
            c, r = gdal.ApplyGeoTransform(inv_gt, x, y)
            wx0, wx1 = min(wx0, math.floor(c)), max(wx1, math.ceil(c))
            wy0, wy1 = min(wy0, math.floor(r)), max(wy1, math.ceil(r))
    seq_fid = np.array(seq_fid, dtype=np.int64)
    seq_class = np.array(seq_class, dtype=np.int64)

    vals, seqs, sigs = [], [], []

    def take(block, sblock, sel_rows, sel_cols, seq_vals):
        pix = block[:, sel_rows, sel_cols].T  # (m, d)
        bad = ~valid_mask(block[:, sel_rows, sel_cols][:, :, None], info.nodata)[:, 0]
        vals.append(pix[~bad])
        seqs.append(seq_vals[~bad])
        if sblock is not None:
            sigs.append(sblock[:, sel_rows, sel_cols].T[~bad])
        return int(np.count_nonzero(bad))

    n_invalid = 0
    wx0, wy0, wx1, wy1 = max(wx0, 0), max(wy0, 0), min(wx1, W), min(wy1, H)
    if mlyr.GetFeatureCount() and wx1 > wx0 and wy1 > wy0:
        ww = wx1 - wx0
        strip = max(1, _STRIP_PIXELS // ww)
        drv = gdal.GetDriverByName("MEM")
        opts = ["ATTRIBUTE=seq"] + (["ALL_TOUCHED=TRUE"] if all_touched else [])
        for r0 in range(wy0, wy1, strip):
            if is_cancelled():
                raise Cancelled("cancelled while extracting training pixels")
            rows = min(strip, wy1 - r0)
            burn = drv.Create("", ww, rows, 1, gdal.GDT_Int32)
            ox, oy = gdal.ApplyGeoTransform(gt, wx0, r0)
            burn.SetGeoTransform((ox, gt[1], gt[2], oy, gt[4], gt[5]))
            if srs is not None:
                burn.SetProjection(rds.GetProjection())
            gdal.RasterizeLayer(burn, [1], mlyr, options=opts)
            ids = burn.ReadAsArray()
            rr, cc = np.nonzero(ids)
            if rr.size:
                block = read_window(rds, wx0, r0, ww, rows)
                sblock = read_window(sds, wx0, r0, ww, rows) if sds is not None else None
                n_invalid += take(block, sblock, rr, cc, ids[rr, cc].astype(np.int64))
            progress(0.9 * (r0 + rows - wy0) / (wy1 - wy0))
    n_outside_pts = 0
    for seq, x, y in points:
        c, r = gdal.ApplyGeoTransform(inv_gt, x, y)
        c, r = math.floor(c), math.floor(r)
        if not (0 <= c < W and 0 <= r < H):
            n_outside_pts += 1
            continue
        block = read_window(rds, c, r, 1, 1)
        sblock = read_window(sds, c, r, 1, 1) if sds is not None else None
        n_invalid += take(block, sblock, np.array([0]), np.array([0]), np.array([seq]))
    if n_outside_pts:
        warnings.warn(f"{n_outside_pts} points lie outside the raster and were skipped",
                      LandcoverWarning, stacklevel=2)
    if n_invalid:
        warnings.warn(f"{n_invalid} pixels under training features are NaN or nodata in some "
                      f"band and were left out", LandcoverWarning, stacklevel=2)
    values = np.concatenate(vals) if vals else np.empty((0, d))
    seq = np.concatenate(seqs) if seqs else np.empty(0, dtype=np.int64)
    if values.shape[0] == 0:
        raise UserError(f"no valid pixel lies under the training features of {vector_path}: "
                        f"the features are too small for the pixel size (try all-touched), or "
                        f"the raster is nodata there")
    labels = seq_class[seq]
    groups = seq_fid[seq]
    n_feat_hit = len(np.unique(seq))
    n_feat = len(seq_fid) - 1
    if n_feat_hit < n_feat:
        warnings.warn(f"{n_feat - n_feat_hit} features overlap the raster but contain no valid "
                      f"pixel centre (too small, or nodata): they were skipped",
                      LandcoverWarning, stacklevel=2)
    for cid, name in zip(class_ids, class_names):
        if not np.any(labels == cid):
            raise UserError(f"class '{name}' (id {cid}) has no valid pixel inside the raster: add "
                            f"training areas for it inside the raster or remove its features")
    sigma = None
    if not unc.is_empty:
        svals = np.concatenate(sigs) if sigs else None
        s = unc.sigma_for(values, svals)
        sigma = None if s is None else np.broadcast_to(s, values.shape).copy()
    progress(1.0)
    mlyr = None
    return Samples(values, labels, groups, sigma, class_ids, class_names, info.band_names)


def split_by_group(labels: np.ndarray, groups: np.ndarray, test_fraction: float = 0.3,
                   seed: int = 0) -> np.ndarray:
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
        warnings.warn(f"class(es) {', '.join(single)} come from a single polygon: used for "
                      f"training only, not evaluated", LandcoverWarning, stacklevel=2)
    train[np.isin(inv, test_groups)] = False
    return train
