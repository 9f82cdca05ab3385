"""The soil_train tool in one call: samples and rasters in; the ONNX model, its card and the
report out, written together (temporary names, renamed when all are complete) once training and
the export check have succeeded."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..callbacks import Callbacks
from ..cards import card_from_dict
from ..files import write_files
from ..runtime.raster import check_outputs
from .onnx_model import exported_model, model_files
from .regressors import LearnerOptions
from .report import report_files
from .samples import read_samples
from .train import CrossValidation, TrainResult, recording, train
from ..runtime.gdal_exceptions import gdal_exceptions


@dataclass
class TrainedFiles:
    result: TrainResult
    model: str
    card: str
    report_html: str | None
    report_csv: str | None


@gdal_exceptions()
def train_from_files(samples, targets, image, model_path, *, layer=None, covariates=(),
                     bands=None, units=None, fold_field=None, pixel=True, windows=(),
                     indices="all", algorithm="random_forest", cv=CrossValidation(),
                     coverage=0.9, options=LearnerOptions(), report_html=None, report_csv=None,
                     callbacks: Callbacks = Callbacks()) -> TrainedFiles:
    """Read the samples (models/soil/samples.py), train, export, write the model, its card and
    the report. Returns the paths and the TrainResult."""
    notes, recorded = recording(callbacks)
    card_path = Path(model_path).with_suffix(".json")
    check_outputs([p for p in (model_path, card_path, report_html, report_csv) if p],
                  [samples, image, *covariates])
    table = read_samples(samples, targets, image, layer=layer, covariates=covariates,
                         bands=bands, units=units, fold_field=fold_field, pixel=pixel,
                         windows=windows, indices=indices, callbacks=recorded.part(0, 0.1))
    total = len(table.features) + sum(table.skipped.values())
    for reason, count in table.skipped.items():
        callbacks.warn(f"{count} of {total} samples skipped: {reason}")
    result = train(table, algorithm, cv, coverage, options, callbacks.part(0.1, 0.9))
    model = exported_model(result.learner, [t.half_width for t in result.targets],
                           table.features)
    callbacks.check_cancelled("training")
    card = result.card(Path(model_path).stem)
    card_from_dict(card, "the soil model's card")  # the engine will read it: check it now
    contents = model_files(model, card, model_path)
    contents.update(report_files(result, report_html, report_csv, notes=notes))
    write_files(contents)
    callbacks.progress(1.0)
    return TrainedFiles(result, str(model_path), str(card_path),
                        str(report_html) if report_html else None,
                        str(report_csv) if report_csv else None)
