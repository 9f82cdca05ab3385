"""The soil_train tool in one call: samples and rasters in; the ONNX model, its card and the
report out, written together (temporary names, renamed when all are complete) once training and
the export check have succeeded."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..callbacks import no_progress
from ..errors import Cancelled
from ..files import write_files
from ..runtime.raster import check_output_path
from .onnx_model import exported_model, model_files
from .regressors import LearnerOptions
from .report import report_files
from .samples import read_samples
from .train import CrossValidation, TrainResult, recording, train


@dataclass
class TrainedFiles:
    result: TrainResult
    model: str
    card: str
    report_html: str | None
    report_csv: str | None


def train_from_files(samples, targets, image, model_path, *, layer=None, covariates=(),
                     bands=None, units=None, fold_field=None, pixel=True, windows=(),
                     indices="all", algorithm="random_forest", cv=CrossValidation(),
                     coverage=0.9, options=LearnerOptions(), report_html=None, report_csv=None,
                     progress=None, is_cancelled=None, warn=None) -> TrainedFiles:
    """Read the samples (models/soil/samples.py), train, export, write the model, its card and
    the report. Returns the paths and the TrainResult."""
    progress = progress or no_progress
    notes, note = recording(warn)
    sources = [samples, image, *covariates]
    outputs = [p for p in (model_path, Path(model_path).with_suffix(".json"), report_html,
                           report_csv) if p]
    for output in outputs:
        check_output_path(output, sources)
    table = read_samples(samples, targets, image, layer=layer, covariates=covariates,
                         bands=bands, units=units, fold_field=fold_field, pixel=pixel,
                         windows=windows, indices=indices, warn=note, is_cancelled=is_cancelled,
                         progress=lambda f: progress(0.1 * f))
    total = len(table.features) + sum(table.skipped.values())
    for reason, count in table.skipped.items():
        if warn:
            warn(f"{count} of {total} samples skipped: {reason}")
    result = train(table, algorithm, cv, coverage, options, warn=warn, is_cancelled=is_cancelled,
                   progress=lambda f: progress(0.1 + 0.8 * f))
    model = exported_model(result.learner, [t.half_width for t in result.targets],
                           table.features)
    if is_cancelled and is_cancelled():
        raise Cancelled("training cancelled")
    contents = model_files(model, result.card(Path(model_path).stem), model_path)
    contents.update(report_files(result, report_html, report_csv, notes=notes))
    write_files(contents)
    progress(1.0)
    return TrainedFiles(result, str(model_path), str(Path(model_path).with_suffix(".json")),
                        str(report_html) if report_html else None,
                        str(report_csv) if report_csv else None)
