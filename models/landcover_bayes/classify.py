"""Classify a raster block by block with a Bayesian QDA model; memory does not grow with it.

Outputs (tiled, DEFLATE-compressed GeoTIFFs with the input's CRS and geotransform):

* class raster: Byte, value = class id, **nodata 0** (class ids are 1..255; 0 also marks NaN /
  nodata input pixels and pixels where the mask is 0), GDAL colour table and category names
  from the model;
* probabilities (optional): Float32, one band per class (descriptions = class names), nodata NaN;
* uncertainty (optional): Float32, 3 bands: entropy (nats), 1 - max probability, margin between
  the two largest probabilities (small = ambiguous), nodata NaN.

Each output is written under a temporary name and renamed only after the last block, so a
cancelled or failed run leaves no complete-looking file behind.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from osgeo import gdal

from ..errors import Cancelled, UserError
from .model import BayesQDAModel, load_model, softmax_rows
from .raster_io import check_same_grid, invalid_pixels, nodata_values, open_raster, read_window
from .uncertainty import MeasurementUncertainty

gdal.UseExceptions()

CLASS_NODATA = 0
UNCERTAINTY_BANDS = ("entropy", "1 - max probability", "margin top1 - top2")
_CREATE_OPTIONS = ["TILED=YES", "BLOCKXSIZE=256", "BLOCKYSIZE=256", "COMPRESS=DEFLATE",
                   "BIGTIFF=IF_SAFER"]


def uncertainty_measures(proba: np.ndarray) -> np.ndarray:
    """(n, 3): entropy in nats, 1 - max p, p(top1) - p(top2)."""
    p = proba
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=1)
    if p.shape[1] >= 2:
        top2 = np.partition(p, p.shape[1] - 2, axis=1)[:, -2:]
        pmax, p2 = top2[:, 1], top2[:, 0]
    else:
        pmax, p2 = p[:, 0], np.zeros(p.shape[0], p.dtype)
    out = np.stack([ent, 1.0 - pmax, pmax - p2], axis=1)
    out[np.isnan(p).any(axis=1)] = np.nan
    return out


def _hex_rgb(colour: str) -> tuple:
    c = colour.lstrip("#")
    return tuple(int(c[i:i + 2], 16) for i in (0, 2, 4)) + (255,)


def _create(path, like: gdal.Dataset, bands: int, dtype, nodata):
    ds = gdal.GetDriverByName("GTiff").Create(str(path), like.RasterXSize, like.RasterYSize,
                                              bands, dtype, options=_CREATE_OPTIONS)
    ds.SetGeoTransform(like.GetGeoTransform())
    if like.GetProjection():
        ds.SetProjection(like.GetProjection())
    for i in range(1, bands + 1):
        ds.GetRasterBand(i).SetNoDataValue(nodata)
    return ds


def _tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix or '.tif'}")


def _remove(path: Path):
    for p in (path, Path(str(path) + ".aux.xml")):
        try:
            p.unlink()
        except FileNotFoundError:
            pass


def _commit(tmp: Path, final: Path):
    _remove(final)
    os.replace(tmp, final)
    aux = Path(str(tmp) + ".aux.xml")
    if aux.exists():
        os.replace(aux, Path(str(final) + ".aux.xml"))


def classify_array(model: BayesQDAModel, values: np.ndarray, sigma=None, dtype=np.float32):
    """Classify pixels (n, d) -> (class ids uint8 with 0 = nodata, probabilities (n, K)).

    Rows with NaN get class 0 and NaN probabilities. ``sigma``: None, (d,) or (n, d).
    """
    proba = np.full((values.shape[0], model.n_classes), np.nan, dtype=dtype)
    ok = np.all(np.isfinite(values), axis=1)
    if np.any(ok):
        if sigma is not None and np.ndim(sigma) == 2:
            proba[ok] = model.predict_proba(values[ok], np.asarray(sigma)[ok])
        else:
            proba[ok] = model.predictor(sigma, dtype).predict_proba(values[ok])
    classes = np.zeros(values.shape[0], dtype=np.uint8)
    classes[ok] = model.class_ids[np.argmax(proba[ok], axis=1)].astype(np.uint8)
    return classes, proba


def classify_raster(model, raster_path, class_path, *, probabilities_path=None,
                    uncertainty_path=None, mask_path=None,
                    uncertainty: MeasurementUncertainty | None = None, block_size: int = 1024,
                    progress=None, is_cancelled=None) -> dict:
    """Classify ``raster_path`` with ``model`` (a model or a model file path).

    Returns ``{"class": path, "probabilities": path|None, "uncertainty": path|None,
    "pixels": classified pixel count}``. Raises UserError on a band-count or grid mismatch and
    Cancelled (after removing partial files) when ``is_cancelled()`` turns true.
    """
    progress = progress or (lambda f: None)
    is_cancelled = is_cancelled or (lambda: False)
    if not isinstance(model, BayesQDAModel):
        model = load_model(model)
    ds = open_raster(raster_path, "input raster")
    if ds.RasterCount != model.n_bands:
        raise UserError(f"the raster {raster_path} has {ds.RasterCount} bands but the model was "
                        f"trained on {model.n_bands} ({', '.join(model.band_names)}): use a "
                        f"raster with the same bands in the same order")
    if np.any(model.class_ids < 1) or np.any(model.class_ids > 255):
        raise UserError("class ids must be 1..255 to be written to a Byte class raster")
    unc = uncertainty or MeasurementUncertainty()
    unc.check(model.n_bands)
    sds = mds = None
    if unc.sigma_raster is not None:
        sds = open_raster(unc.sigma_raster, "sigma raster")
        check_same_grid(ds, sds, "sigma raster", bands=model.n_bands)
    if mask_path:
        mds = open_raster(mask_path, "mask raster")
        check_same_grid(ds, mds, "mask raster")
    nodata = nodata_values(ds)
    const_sigma = unc.constant_sigma(model.n_bands)
    predictor = None if unc.per_pixel else model.predictor(const_sigma, np.float32)

    targets = {"class": Path(class_path)}
    if probabilities_path:
        targets["probabilities"] = Path(probabilities_path)
    if uncertainty_path:
        targets["uncertainty"] = Path(uncertainty_path)
    tmps = {k: _tmp_name(p) for k, p in targets.items()}
    out = {}
    n_done = 0
    try:
        out["class"] = _create(tmps["class"], ds, 1, gdal.GDT_Byte, CLASS_NODATA)
        band = out["class"].GetRasterBand(1)
        ct = gdal.ColorTable()
        ct.SetColorEntry(0, (0, 0, 0, 0))
        names = [""] * (int(model.class_ids.max()) + 1)
        for cid, name, colour in zip(model.class_ids, model.class_names, model.colours):
            ct.SetColorEntry(int(cid), _hex_rgb(colour))
            names[int(cid)] = name
        band.SetRasterColorTable(ct)
        band.SetRasterColorInterpretation(gdal.GCI_PaletteIndex)
        band.SetCategoryNames(names)
        band.SetDescription("class")
        if "probabilities" in targets:
            out["probabilities"] = _create(tmps["probabilities"], ds, model.n_classes,
                                           gdal.GDT_Float32, float("nan"))
            for i, name in enumerate(model.class_names):
                out["probabilities"].GetRasterBand(i + 1).SetDescription(name)
        if "uncertainty" in targets:
            out["uncertainty"] = _create(tmps["uncertainty"], ds, 3, gdal.GDT_Float32,
                                         float("nan"))
            for i, name in enumerate(UNCERTAINTY_BANDS):
                out["uncertainty"].GetRasterBand(i + 1).SetDescription(name)

        W, H = ds.RasterXSize, ds.RasterYSize
        windows = [(x, y, min(block_size, W - x), min(block_size, H - y))
                   for y in range(0, H, block_size) for x in range(0, W, block_size)]
        for i, (x, y, w, h) in enumerate(windows):
            if is_cancelled():
                raise Cancelled("classification cancelled")
            block = read_window(ds, x, y, w, h)
            bad = invalid_pixels(block, nodata)
            if mds is not None:
                bad |= mds.GetRasterBand(1).ReadAsArray(x, y, w, h) == 0
            values = block.reshape(model.n_bands, -1).T
            ok = ~bad.ravel()
            proba = np.full((w * h, model.n_classes), np.nan, dtype=np.float32)
            if np.any(ok):
                vals = values[ok]
                if predictor is not None:
                    proba[ok] = predictor.predict_proba(vals)
                else:
                    svals = None
                    if sds is not None:
                        svals = read_window(sds, x, y, w, h).reshape(model.n_bands, -1).T[ok]
                    proba[ok] = softmax_rows(model.predict_log_joint(
                        vals, unc.sigma_for(vals, svals)))
            classes = np.zeros(w * h, dtype=np.uint8)
            classes[ok] = model.class_ids[np.argmax(proba[ok], axis=1)]
            n_done += int(np.count_nonzero(ok))
            band.WriteArray(classes.reshape(h, w), x, y)
            if "probabilities" in out:
                pds = out["probabilities"]
                for k in range(model.n_classes):
                    pds.GetRasterBand(k + 1).WriteArray(proba[:, k].reshape(h, w), x, y)
            if "uncertainty" in out:
                um = uncertainty_measures(proba)
                for k in range(3):
                    out["uncertainty"].GetRasterBand(k + 1).WriteArray(
                        um[:, k].reshape(h, w).astype(np.float32), x, y)
            progress((i + 1) / len(windows))
        for key in list(out):
            out[key].FlushCache()
            out[key] = None
        for key in targets:
            _commit(tmps[key], targets[key])
    except BaseException:
        for key in list(out):
            out[key] = None
        for tmp in tmps.values():
            _remove(tmp)
        raise
    return {"class": str(targets["class"]),
            "probabilities": str(targets["probabilities"]) if "probabilities" in targets else None,
            "uncertainty": str(targets["uncertainty"]) if "uncertainty" in targets else None,
            "pixels": n_done}
