"""Soil predictions at points, written to a NEW point layer (the input layer is never touched).

Features are read at each point exactly as in training (models/soil/samples.py), the ONNX model
gives each target's value and interval bounds, and a point whose features lie outside the range
seen in training is flagged (``extrapolated`` = 1: the prediction there is a guess). The output
GeoPackage holds the input's fields and geometry plus, per target, ``<target>_pred``,
``<target>_lower``, ``<target>_upper``, then ``extrapolated`` and ``skip_reason`` (why a point
got no prediction). It is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from osgeo import ogr

from ..callbacks import never_cancelled, no_progress
from ..errors import Cancelled, UserError
from ..runtime.raster import check_output_path
from .features import FeatureSet
from .onnx_model import OnnxPredictor, read_card
from .samples import RasterInputs, open_layer, read_points, to_crs

NOT_PREDICTED = "features missing (NaN)"


@dataclass
class PointPredictions:
    path: str
    layer: str
    predicted: int
    skipped: dict  # reason -> count
    extrapolated: int
    fields: dict  # target -> (value field, lower field, upper field)


def model_path_and_card(model) -> tuple[Path, dict]:
    """The ONNX file and card of a soil model given as .onnx or as its card .json."""
    path = Path(model)
    card = read_card(path)
    if path.suffix.lower() == ".json":
        path = path.with_name(card.get("local_weights") or path.with_suffix(".onnx").name)
    if card.get("task") != "regression" or card.get("head", {}).get("type") != "pixel_table":
        raise UserError(f"{model} is not a soil model (task {card.get('task')!r}): give a model "
                        f"written by the soil training tool")
    return path, card


def extrapolation_flags(features: np.ndarray, card: dict) -> np.ndarray:
    """True where a row has a feature outside the training minimum..maximum."""
    low = np.asarray(card["extrapolation"]["feature_min"], np.float64)
    high = np.asarray(card["extrapolation"]["feature_max"], np.float64)
    return ((features < low) | (features > high)).any(axis=1)


def predict_points(model, points, image, output, *, layer=None, covariates=(), bands=None,
                   output_layer=None, progress=None, is_cancelled=None,
                   warn=None) -> PointPredictions:
    """Predict the model's targets at the points of ``points`` into the new GeoPackage
    ``output`` (every input feature is copied; those not predicted get empty values)."""
    progress = progress or no_progress
    is_cancelled = is_cancelled or never_cancelled
    warn = warn or (lambda message: None)
    onnx_path, card = model_path_and_card(model)
    output = Path(output)
    check_output_path(output, [points, image, *covariates, onnx_path])
    if output.suffix.lower() != ".gpkg":
        raise UserError(f"the output {output} must be a GeoPackage (.gpkg)")
    _check_replaceable(output, output_layer)

    features = FeatureSet.from_dict(card["features"])
    rasters = RasterInputs(image, covariates, bands)
    rasters.select(features.spectral.bands, warn)
    rasters.check_covariates([i for i in card["inputs"][1:]])
    sample = read_points(points, layer=layer, warn=warn)
    xy = to_crs(sample.xy, sample.srs, rasters.info.projection, warn)
    blocks, reasons = rasters.windows_at(xy, features.halo, is_cancelled,
                                         lambda f: progress(0.5 * f))
    usable = np.array([r is None for r in reasons], bool)
    values = features({name: block[usable] for name, block in blocks.items()})[:, :, 0, 0]
    complete = np.isfinite(values).all(1)
    rows = np.flatnonzero(usable)
    for row in rows[~complete]:
        reasons[row] = NOT_PREDICTED
    usable[rows[~complete]] = False
    values = values[complete]

    targets = [t["name"] for t in card["outputs"]["targets"]]
    predicted = {name: np.full((len(reasons), len(targets)), np.nan)
                 for name in ("values", "lower", "upper")}
    flags = np.zeros(len(reasons), bool)
    if len(values):
        outputs = OnnxPredictor(onnx_path).predict(values)
        for name in predicted:
            predicted[name][usable] = outputs[name]
        flags[usable] = extrapolation_flags(values, card)
    if is_cancelled():
        raise Cancelled("cancelled before writing the points")
    if len(values) and flags[usable].mean() > 0.5:
        warn(f"{int(flags.sum())} of {int(usable.sum())} points have features outside the "
             f"training range: check that the image has the same bands, order and scale "
             f"(e.g. reflectance x 10000) as the training image")
    row_of = {fid: i for i, fid in enumerate(sample.ids)}
    layer_name, fields = _write(points, layer, output, output_layer, targets, row_of, predicted,
                                flags, usable, reasons)
    progress(1.0)
    skipped = {}
    for reason in reasons:
        if reason is not None:
            skipped[reason] = skipped.get(reason, 0) + 1
    return PointPredictions(str(output), layer_name, int(usable.sum()), skipped,
                            int(flags[usable].sum()), fields)


def _check_replaceable(output: Path, layer_name) -> None:
    """The output file may be replaced only if it holds nothing but the layer we write."""
    if not output.exists():
        return
    try:
        existing = ogr.Open(str(output))
    except RuntimeError:
        existing = None
    names = [existing.GetLayer(i).GetName() for i in range(existing.GetLayerCount())] \
        if existing is not None else None
    existing = None
    if names is None or len(names) > 1 or (layer_name and names and names != [layer_name]):
        raise UserError(f"the output {output} already exists and holds other data "
                        f"({', '.join(names) if names else 'not a GeoPackage'}): choose a new "
                        f"file name so it is not overwritten")


def _new_field_names(existing, targets) -> dict:
    taken = {name.lower() for name in existing}
    fields = {}

    def free(name):
        candidate, n = name, 2
        while candidate.lower() in taken:
            candidate, n = f"{name}_{n}", n + 1
        taken.add(candidate.lower())
        return candidate

    for target in targets:
        fields[target] = tuple(free(f"{target}_{suffix}") for suffix in ("pred", "lower", "upper"))
    fields["extrapolated"] = free("extrapolated")
    fields["skip_reason"] = free("skip_reason")
    return fields


def _write(points, layer, output: Path, output_layer, targets, row_of, predicted, flags, usable,
           reasons):
    source, source_layer = open_layer(points, layer)
    definition = source_layer.GetLayerDefn()
    existing = [definition.GetFieldDefn(i).GetName() for i in range(definition.GetFieldCount())]
    names = _new_field_names(existing, targets)
    layer_name = output_layer or output.stem
    temp = output.with_name(f".{output.stem}.{uuid.uuid4().hex[:8]}.partial.gpkg")
    output.parent.mkdir(parents=True, exist_ok=True)
    target = ogr.GetDriverByName("GPKG").CreateDataSource(str(temp))
    try:
        out_layer = target.CreateLayer(layer_name, srs=source_layer.GetSpatialRef(),
                                       geom_type=source_layer.GetGeomType())
        for i in range(definition.GetFieldCount()):
            out_layer.CreateField(definition.GetFieldDefn(i))
        for target_name in targets:
            for field_name in names[target_name]:
                out_layer.CreateField(ogr.FieldDefn(field_name, ogr.OFTReal))
        out_layer.CreateField(ogr.FieldDefn(names["extrapolated"], ogr.OFTInteger))
        out_layer.CreateField(ogr.FieldDefn(names["skip_reason"], ogr.OFTString))
        out_definition = out_layer.GetLayerDefn()
        target.StartTransaction()
        source_layer.ResetReading()
        for feature in source_layer:
            new = ogr.Feature(out_definition)
            new.SetFromWithMap(feature, 1, list(range(definition.GetFieldCount())))
            new.SetGeometry(feature.GetGeometryRef())
            row = row_of.get(feature.GetFID())
            if row is None:
                new.SetField(names["skip_reason"], "no point geometry")
            elif usable[row]:
                for k, target_name in enumerate(targets):
                    for field_name, key in zip(names[target_name], ("values", "lower", "upper")):
                        new.SetField(field_name, float(predicted[key][row, k]))
                new.SetField(names["extrapolated"], int(flags[row]))
            else:
                new.SetField(names["skip_reason"], reasons[row])
            out_layer.CreateFeature(new)
        target.CommitTransaction()
        out_layer = None
        target = None
        os.replace(temp, output)
    finally:
        source_layer = None
        source = None
        target = None
        if temp.exists():
            temp.unlink()
    fields = {t: names[t] for t in targets}
    return layer_name, fields
