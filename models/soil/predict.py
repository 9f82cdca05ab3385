"""Soil maps: a trained soil model over an image (and its covariates) on the engine's
pixel-table head.

Blocks of the image are read with the model's halo, the covariates warped onto each block, the
model's FeatureSet turns them into feature rows (the same code as at the training samples), the
ONNX model maps rows to values, interval bounds and the extrapolation flag, and the rows go back
into rasters on the image's grid. An optional MASK raster (0 = leave out) limits the map.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from osgeo import gdal

from ..callbacks import Callbacks
from ..cards import InputSpec, ModelCard
from ..errors import UserError
from ..registry import onnx_card
from ..runtime.backends import Predictor, load_predictor
from ..runtime.engine import Destination, RunOptions, RunResult, run
from .features import FeatureSet
from .rasters import bind_for_model
from ..runtime.gdal_exceptions import gdal_exceptions

MASK = "mask"


@gdal_exceptions()
def soil_features(card: ModelCard) -> FeatureSet:
    """The FeatureSet a soil model was trained with; other models are refused."""
    method = card.method or {}
    if method.get("name") != "soil" or "features" not in method:
        raise UserError(f"{card.id} is not a soil model (its card has no soil features): give "
                        f"a model written by the soil training tool (rsai:soil_train)")
    return FeatureSet.from_dict(method["features"])


def load_soil_model(path, device: str = "cpu") -> tuple[ModelCard, Predictor]:
    """A soil model file (.onnx, with its card inside or as .json beside it) and its
    predictor, for scripts and notebooks (the tools resolve MODEL through the registry)."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        path = path.with_suffix(".onnx")
    if not path.is_file():
        raise UserError(f"the model {path} does not exist")
    card = onnx_card(path)
    soil_features(card)
    return card, load_predictor(card, card.local_weights or path, device)


@gdal_exceptions()
def predict_map(card: ModelCard, predictor: Predictor, image, output=None, interval=None,
                extrapolation=None, *, covariates=(), bands=None, mask=None,
                tile_size: int | None = None, callbacks: Callbacks = Callbacks()) -> RunResult:
    """Write the maps asked for: ``output`` (one Float32 band per target, unit in the band
    name), ``interval`` (lower and upper band per target), ``extrapolation`` (Byte: 1 where the
    pixel's features lie outside the training range, 0 inside)."""
    features = soil_features(card)
    destinations = [Destination(str(path), output=name, **extra) for path, name, extra in (
        (output, "values", {}), (interval, "interval", {}),
        (extrapolation, "extrapolation", {"data_type": gdal.GDT_Byte}))
        if path]
    if not destinations:
        raise UserError("choose at least one output (OUTPUT, OUTPUT_INTERVAL or "
                        "OUTPUT_EXTRAPOLATION)")
    inputs = bind_for_model(card, image, covariates, bands, callbacks)
    paths, numbers = dict(inputs.paths), dict(inputs.bands)
    if mask:
        card = replace(card, inputs=card.inputs + (
            InputSpec(bands=(MASK,), name=MASK, resampling="nearest"),))
        paths[MASK], numbers[MASK] = str(mask), [1]
        features = masked(features)
    return run(card, predictor, paths, destinations,
               RunOptions(bands=numbers, tile_size=tile_size), callbacks, features=features)


def masked(features: FeatureSet):
    """The features, NaN (left out) where the mask block is 0."""
    halo = features.halo

    def compute(blocks: dict) -> np.ndarray:
        values = features(blocks)
        mask = blocks[MASK][0]
        if halo:
            mask = mask[halo:mask.shape[0] - halo, halo:mask.shape[1] - halo]
        values[:, mask == 0] = np.nan
        return values

    return compute
