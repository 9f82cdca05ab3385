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

from ..callbacks import Callbacks
from ..cards import ClassInfo, Head, InputSpec, ModelCard, OutputSpec, TargetInfo, Tiling
from ..errors import UserError
from ..runtime.backends import Predictor
from ..runtime.engine import Destination, RunResult, run
from ..runtime.raster import CLASS_NODATA, check_same_grid, open_raster, raster_info
from .model import BayesQDAModel, load_model, softmax_rows
from .uncertainty import MeasurementUncertainty
from ..runtime.gdal_exceptions import gdal_exceptions

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


@gdal_exceptions()
def classify_raster(model, raster_path, class_path, *, probabilities_path=None,
                    uncertainty_path=None, mask_path=None,
                    uncertainty: MeasurementUncertainty | None = None, block_size: int = 1024,
                    callbacks: Callbacks = Callbacks()) -> RunResult:
    """Classify ``raster_path`` with ``model`` (a model or a model file path), through the
    engine's pixel-table head: the pixel values (and a sigma raster's values) are the rows.

    Returns the engine's result (``valid_pixels``: the classified pixels; ``outputs``: the
    rasters written). Raises UserError on a band-count or grid mismatch and Cancelled (after
    removing partial files) when ``callbacks.is_cancelled()`` turns true.
    """
    if not isinstance(model, BayesQDAModel):
        model = load_model(model)
    info = raster_info(open_raster(raster_path, "input raster"))
    if info.band_count != model.n_bands:
        raise UserError(f"the raster {raster_path} has {info.band_count} bands but the model was "
                        f"trained on {model.n_bands} ({', '.join(model.band_names)}): use a "
                        f"raster with the same bands in the same order")
    if np.any(model.class_ids < 1) or np.any(model.class_ids > MAX_CLASS_ID):
        raise UserError(f"class ids must be 1..{MAX_CLASS_ID} to be written to a Byte class "
                        f"raster ({CLASS_NODATA} is nodata): recode the classes and train again")
    unc = uncertainty or MeasurementUncertainty()
    unc.check(model.n_bands)
    paths = {"values": str(raster_path)}
    if unc.sigma_raster is not None:
        check_same_grid(info, raster_info(open_raster(unc.sigma_raster, "sigma raster")),
                        "sigma raster", bands=model.n_bands)
        paths["sigma"] = str(unc.sigma_raster)
    if mask_path:
        check_same_grid(info, raster_info(open_raster(mask_path, "mask raster")), "mask raster")
        paths["mask"] = str(mask_path)
    card = bayes_card(model, sorted(paths), block_size)
    destinations = [Destination(str(class_path))]
    if probabilities_path:
        destinations.append(Destination(str(probabilities_path), what="probabilities",
                                        band_names=tuple(model.class_names)))
    if uncertainty_path:
        destinations.append(Destination(str(uncertainty_path), output="uncertainty"))
    return run(card, bayes_predictor(model, unc), paths, destinations, callbacks=callbacks,
               features=_masked_features if mask_path else None)


def bayes_card(model: BayesQDAModel, inputs, block_size: int) -> ModelCard:
    """The engine's card for a trained model: pixel rows of the bands (then their sigmas, then
    the mask) in, class probabilities and the three uncertainty measures out."""
    bands = {"values": model.band_names, "sigma": tuple(f"sigma {b}" for b in model.band_names),
             "mask": ("mask",)}
    return ModelCard(
        id="bayes-qda", title="Bayesian QDA land cover", task="segmentation", format="onnx",
        inputs=tuple(InputSpec(bands=bands[name], name=name) for name in
                     ["values", *[n for n in ("sigma", "mask") if n in inputs]]),
        outputs=(OutputSpec("class", classes=tuple(
                     ClassInfo(int(i), n, c) for i, n, c in
                     zip(model.class_ids, model.class_names, model.colours))),
                 OutputSpec("uncertainty", targets=tuple(TargetInfo(n) for n in
                                                         UNCERTAINTY_BANDS))),
        tiling=Tiling(block_size, 0), head=Head("pixel_table"))


def bayes_predictor(model: BayesQDAModel, unc: MeasurementUncertainty) -> Predictor:
    """Rows of band values (followed by their sigmas when per pixel) -> probabilities and
    uncertainty measures; the fast fixed-sigma path when the noise is the same everywhere."""
    d = model.n_bands
    fixed = None if unc.per_pixel else model.predictor(unc.constant_sigma(d), np.float32)

    def run_rows(inputs):
        rows = inputs["features"].astype(np.float64)
        values = rows[:, :d]
        if fixed is not None:
            proba = fixed.predict_proba(values)
        else:
            sigmas = rows[:, d:2 * d] if rows.shape[1] >= 2 * d else None
            proba = softmax_rows(model.predict_log_joint(values, unc.sigma_for(values, sigmas)))
        proba = np.asarray(proba, np.float32)
        return {"class": proba, "uncertainty": uncertainty_measures(proba).astype(np.float32)}

    return Predictor(run_rows, "numpy")


def _masked_features(blocks: dict) -> np.ndarray:
    """Band values (and sigmas) side by side; NaN where the mask is 0, so those pixels are
    left out like nodata."""
    features = np.concatenate([blocks[name] for name in ("values", "sigma") if name in blocks])
    features[:, blocks["mask"][0] == 0] = np.nan
    return features
