"""Classify a raster block by block with a Bayesian QDA model; memory does not grow with it.

Outputs (written through :mod:`..runtime.raster`: tiled, compressed, the input's CRS and
geotransform, committed only when complete):

* class raster: Byte, value = class id (1..254), nodata 255 (NaN / nodata input pixels and
  pixels where the mask is 0), colour table and category names from the model;
* probabilities (optional): Float32, one band per class (descriptions = class names);
* uncertainty (optional): Float32, 3 bands: entropy (nats), 1 - max probability, margin between
  the two largest probabilities (small = ambiguous).

Float outputs use the project's float nodata (-9999).
"""

from __future__ import annotations

import numpy as np
from osgeo import gdal

from ..callbacks import never_cancelled, no_progress
from ..errors import Cancelled, UserError
from ..runtime.raster import (CLASS_NODATA, FLOAT_NODATA, check_output_path, check_same_grid,
                              committed_outputs, create_like, open_raster, raster_info,
                              read_window, valid_mask)
from .model import BayesQDAModel, load_model, softmax_rows
from .uncertainty import MeasurementUncertainty

MAX_CLASS_ID = CLASS_NODATA - 1
UNCERTAINTY_BANDS = ("entropy", "1 - max probability", "margin top1 - top2")


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


def classify_array(model: BayesQDAModel, values: np.ndarray, sigma=None, dtype=np.float32):
    """Classify pixels (n, d) -> (class ids uint8, probabilities (n, K)).

    Rows with NaN get class CLASS_NODATA and NaN probabilities. ``sigma``: None, (d,) or (n, d).
    """
    proba = np.full((values.shape[0], model.n_classes), np.nan, dtype=dtype)
    ok = np.all(np.isfinite(values), axis=1)
    if np.any(ok):
        if sigma is not None and np.ndim(sigma) == 2:
            proba[ok] = model.predict_proba(values[ok], np.asarray(sigma)[ok])
        else:
            proba[ok] = model.predictor(sigma, dtype).predict_proba(values[ok])
    classes = np.full(values.shape[0], CLASS_NODATA, dtype=np.uint8)
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
    progress = progress or no_progress
    is_cancelled = is_cancelled or never_cancelled
    if not isinstance(model, BayesQDAModel):
        model = load_model(model)
    ds = open_raster(raster_path, "input raster")
    info = raster_info(ds)
    if info.band_count != model.n_bands:
        raise UserError(f"the raster {raster_path} has {info.band_count} bands but the model was "
                        f"trained on {model.n_bands} ({', '.join(model.band_names)}): use a "
                        f"raster with the same bands in the same order")
    if np.any(model.class_ids < 1) or np.any(model.class_ids > MAX_CLASS_ID):
        raise UserError(f"class ids must be 1..{MAX_CLASS_ID} to be written to a Byte class "
                        f"raster ({CLASS_NODATA} is nodata): recode the classes and train again")
    unc = uncertainty or MeasurementUncertainty()
    unc.check(model.n_bands)
    sds = mds = None
    if unc.sigma_raster is not None:
        sds = open_raster(unc.sigma_raster, "sigma raster")
        check_same_grid(info, raster_info(sds), "sigma raster", bands=model.n_bands)
    if mask_path:
        mds = open_raster(mask_path, "mask raster")
        check_same_grid(info, raster_info(mds), "mask raster")
    inputs = [raster_path, unc.sigma_raster, mask_path]
    for path in (class_path, probabilities_path, uncertainty_path):
        if path:
            check_output_path(path, inputs)
    predictor = None if unc.per_pixel else model.predictor(unc.constant_sigma(model.n_bands),
                                                           np.float32)

    outputs: list = []  # committed_outputs removes whatever was created if a step fails
    proba_out = unc_out = None
    with committed_outputs(outputs):
        classes_out = create_like(info, class_path, 1, gdal.GDT_Byte, CLASS_NODATA,
                                  band_names=("class",), classes=list(zip(
                                      model.class_ids.tolist(), model.class_names,
                                      model.colours)))
        outputs.append(classes_out)
        if probabilities_path:
            proba_out = create_like(info, probabilities_path, model.n_classes,
                                    gdal.GDT_Float32, FLOAT_NODATA, band_names=model.class_names)
            outputs.append(proba_out)
        if uncertainty_path:
            unc_out = create_like(info, uncertainty_path, 3, gdal.GDT_Float32, FLOAT_NODATA,
                                  band_names=UNCERTAINTY_BANDS)
            outputs.append(unc_out)
        n_done = _classify_blocks(model, ds, info, sds, mds, unc, predictor, classes_out,
                                  proba_out, unc_out, block_size, progress, is_cancelled)
    return {"class": str(classes_out.final_path),
            "probabilities": str(proba_out.final_path) if proba_out else None,
            "uncertainty": str(unc_out.final_path) if unc_out else None,
            "pixels": n_done}


def _classify_blocks(model, ds, info, sds, mds, unc, predictor, classes_out, proba_out,
                     unc_out, block_size, progress, is_cancelled) -> int:
    n_done = 0
    W, H = info.width, info.height
    windows = [(x, y, min(block_size, W - x), min(block_size, H - y))
               for y in range(0, H, block_size) for x in range(0, W, block_size)]
    for i, (x, y, w, h) in enumerate(windows):
        if is_cancelled():
            raise Cancelled("classification cancelled")
        block = read_window(ds, x, y, w, h)
        ok = valid_mask(block, info.nodata)
        if mds is not None:
            ok &= mds.GetRasterBand(1).ReadAsArray(x, y, w, h) != 0
        ok = ok.ravel()
        values = block.reshape(model.n_bands, -1).T
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
        classes = np.full(w * h, CLASS_NODATA, dtype=np.uint8)
        classes[ok] = model.class_ids[np.argmax(proba[ok], axis=1)]
        n_done += int(np.count_nonzero(ok))
        classes_out.write(classes.reshape(h, w), x, y)
        if proba_out is not None:
            proba_out.write(_float_bands(proba, ok, h, w), x, y)
        if unc_out is not None:
            unc_out.write(_float_bands(uncertainty_measures(proba), ok, h, w), x, y)
        progress((i + 1) / len(windows))
    return n_done


def _float_bands(values: np.ndarray, ok: np.ndarray, h: int, w: int) -> np.ndarray:
    """(h*w, bands) with NaN rows -> (bands, h, w) Float32 with FLOAT_NODATA outside ``ok``."""
    out = values.T.astype(np.float32).reshape(-1, h, w)
    out[:, ~ok.reshape(h, w)] = FLOAT_NODATA
    return out
