"""Soil predictions at points, written to a NEW point layer (the input layer is never touched).

Features are read at each point exactly as at the training samples and in maps
(models/soil/rasters.py); the model gives each target's value, its interval bounds and the
extrapolation flag (1: the point's features lie outside the training range, the value is a
guess). The output layer holds the input's fields and points plus, per target,
``<target>_pred``, ``<target>_lower``, ``<target>_upper``, then ``extrapolated`` and
``skip_reason`` (why a point got no prediction). It is written with the runtime's GeoPackage
writer: a temporary file renamed when complete; other layers of an existing GeoPackage kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from osgeo import ogr

from ..callbacks import Callbacks
from ..cards import ModelCard
from ..runtime.backends import Predictor
from ..runtime.engine import predict_rows
from ..runtime.raster import check_outputs, open_raster
from ..runtime.vectors import Field, check_geopackage_path, geopackage_layer
from .predict import soil_features
from .rasters import bind_for_model, windows_at
from .samples import open_layer, read_points, to_crs
from ..runtime.gdal_exceptions import gdal_exceptions

NOT_PREDICTED = "features missing (NaN)"
FIELD_KINDS = {ogr.OFTInteger: "int", ogr.OFTInteger64: "int", ogr.OFTReal: "float"}


@dataclass
class PointPredictions:
    path: str
    layer: str
    predicted: int
    skipped: dict  # reason -> count
    extrapolated: int
    fields: dict  # target -> (value field, lower field, upper field)


@gdal_exceptions()
def predict_points(card: ModelCard, predictor: Predictor, points, image, output, *, layer=None,
                   covariates=(), bands=None, output_layer: str | None = None,
                   callbacks: Callbacks = Callbacks()) -> PointPredictions:
    """Predict the model's targets at the points of ``points`` into the layer
    ``output_layer`` (default: the file's name) of the GeoPackage ``output``; every input
    feature is copied, those not predicted with empty values and the reason."""
    features = soil_features(card)
    output = check_geopackage_path(output)
    check_outputs([output], [points, image, *covariates])
    inputs = bind_for_model(card, image, covariates, bands, callbacks)
    sample = read_points(points, layer=layer, callbacks=callbacks)
    crs = open_raster(image, "input image").GetProjection() or ""
    xy = to_crs(sample.xy, sample.srs, crs, callbacks)
    blocks, reasons = windows_at(inputs, xy, features.halo, callbacks.part(0, 0.6))
    usable = np.array([r is None for r in reasons], bool)
    table = features({name: block[usable] for name, block in blocks.items()})[:, :, 0, 0]
    complete = np.isfinite(table).all(1)
    rows = np.flatnonzero(usable)
    for row in rows[~complete]:
        reasons[row] = NOT_PREDICTED
    usable[rows[~complete]] = False
    table = table[complete].astype(np.float32)

    targets = [t.name for t in card.output.targets]
    results = {"values": np.full((len(reasons), len(targets)), np.nan),
               "interval": np.full((len(reasons), 2 * len(targets)), np.nan),
               "extrapolation": np.zeros((len(reasons), 1))}
    if len(table):
        outputs = predict_rows(card, predictor, table)
        for name in results:
            results[name][usable] = outputs[name]
    flags = results["extrapolation"][:, 0] > 0
    callbacks.check_cancelled("predicting at the points")
    if usable.any() and flags[usable].mean() > 0.5:
        callbacks.warn(f"{int(flags.sum())} of {int(usable.sum())} points have features outside "
                       f"the training range: check that the image has the same bands and scale "
                       f"(e.g. reflectance x 10000) as the training image")
    layer_name = output_layer or output.stem
    fields = _write(points, layer, output, layer_name, targets, sample.ids, results, flags,
                    usable, reasons)
    callbacks.progress(1.0)
    skipped = {}
    for reason in reasons:
        if reason is not None:
            skipped[reason] = skipped.get(reason, 0) + 1
    return PointPredictions(str(output), layer_name, int(usable.sum()), skipped,
                            int(flags[usable].sum()), fields)


def _new_field_names(existing, targets) -> dict:
    """Names for the new fields that collide with none of the input's (case-insensitive)."""
    taken = {name.lower() for name in existing}

    def free(name):
        candidate, n = name, 2
        while candidate.lower() in taken:
            candidate, n = f"{name}_{n}", n + 1
        taken.add(candidate.lower())
        return candidate

    names = {t: tuple(free(f"{t}_{suffix}") for suffix in ("pred", "lower", "upper"))
             for t in targets}
    names["extrapolated"] = free("extrapolated")
    names["skip_reason"] = free("skip_reason")
    return names


def _write(points, layer, output: Path, layer_name, targets, ids, results, flags, usable,
           reasons) -> dict:
    source, source_layer = open_layer(points, layer, "point layer")
    try:
        definition = source_layer.GetLayerDefn()
        copied = [definition.GetFieldDefn(i) for i in range(definition.GetFieldCount())]
        names = _new_field_names([f.GetName() for f in copied], targets)
        fields = [Field(f.GetName(), FIELD_KINDS.get(f.GetType(), "str")) for f in copied]
        fields += [Field(name, "float") for t in targets for name in names[t]]
        fields += [Field(names["extrapolated"], "int"), Field(names["skip_reason"], "str")]
        srs = source_layer.GetSpatialRef()
        row_of = {fid: i for i, fid in enumerate(ids)}
        with geopackage_layer(output, layer_name, srs.ExportToWkt() if srs else "", "point",
                              fields) as writer:
            source_layer.ResetReading()
            for feature in source_layer:
                values = {f.name: _value(feature, f) for f in fields[:len(copied)]}
                row = row_of.get(feature.GetFID())
                geometry = feature.GetGeometryRef()
                if row is None:
                    values[names["skip_reason"]] = "no point geometry"
                elif usable[row]:
                    for k, target in enumerate(targets):
                        value, lower, upper = names[target]
                        values[value] = float(results["values"][row, k])
                        values[lower] = float(results["interval"][row, 2 * k])
                        values[upper] = float(results["interval"][row, 2 * k + 1])
                    values[names["extrapolated"]] = int(flags[row])
                else:
                    values[names["skip_reason"]] = reasons[row]
                if geometry is not None and ogr.GT_Flatten(geometry.GetGeometryType()) == \
                        ogr.wkbMultiPoint:
                    geometry = geometry.GetGeometryRef(0)
                writer.add(geometry.Clone() if geometry is not None else None, values)
    finally:
        source_layer = None
        source = None
    return {t: names[t] for t in targets}


def _value(feature, field: Field):
    index = feature.GetFieldIndex(field.name)
    if not feature.IsFieldSetAndNotNull(index):
        return None
    if field.type == "int":
        return feature.GetFieldAsInteger64(index)
    if field.type == "float":
        return feature.GetFieldAsDouble(index)
    return feature.GetFieldAsString(index)
