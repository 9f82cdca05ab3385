"""The train tool in one call: samples -> split by polygon -> posterior -> report -> model file."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..callbacks import Callbacks
from ..errors import Cancelled
from .model import DEFAULT_DIRICHLET_ALPHA, DEFAULT_PRIOR_STRENGTH, BayesQDAModel, fit
from .report import Scores, baseline_probabilities, score, write_report
from .samples import Samples, extract_samples, split_by_group
from .uncertainty import MeasurementUncertainty
from ..runtime.gdal_exceptions import gdal_exceptions


@dataclass
class TrainResult:
    model: BayesQDAModel
    model_path: str
    scores: list  # [Scores], the Bayesian model first, then the baselines; [] without test pixels
    report_html: str | None  # None when not asked for, or when nothing was held out to score
    report_csv: str | None
    n_train: int
    n_test: int


@gdal_exceptions()
def train_from_files(raster_path, vector_path, class_field: str, model_path, *,
                     name_field: str | None = None, layer=None, report_html=None,
                     report_csv=None, test_fraction: float = 0.3, seed: int = 0,
                     prior_strength: float = DEFAULT_PRIOR_STRENGTH,
                     dirichlet_alpha: float = DEFAULT_DIRICHLET_ALPHA,
                     uncertainty: MeasurementUncertainty | None = None,
                     all_touched: bool = False, compare_baselines: bool = True,
                     refit_on_all: bool = False,
                     callbacks: Callbacks = Callbacks()) -> TrainResult:
    """Train and evaluate; the saved model is fitted on the training polygons (or on all of
    them with ``refit_on_all``, after evaluation). Warnings go to ``callbacks.warn`` and into
    the report's notes. ``layer``: the layer of ``vector_path`` (name or index; default the
    first)."""
    notes: list[str] = []

    def warn(text: str) -> None:
        notes.append(text)
        callbacks.warn(text)

    noted = replace(callbacks, warn=warn)
    samples = extract_samples(raster_path, vector_path, class_field, name_field=name_field,
                              layer=layer, uncertainty=uncertainty, all_touched=all_touched,
                              callbacks=noted.part(0, 0.5))
    train = split_by_group(samples.labels, samples.groups, test_fraction, seed, noted)
    model, scores = _fit_and_score(samples, train, prior_strength, dirichlet_alpha,
                                   compare_baselines, seed, noted)
    if callbacks.is_cancelled():
        raise Cancelled("training cancelled")
    callbacks.progress(0.8)
    if refit_on_all:
        model = _fit(samples, np.ones_like(train), prior_strength, dirichlet_alpha, noted)
    model.training.update({"raster": str(raster_path), "vector": str(vector_path),
                           "class_field": class_field, "test_fraction": test_fraction,
                           "seed": seed, "refit_on_all": refit_on_all,
                           "test_scores": [s.row() for s in scores]})
    n_train, n_test = int(train.sum()), int((~train).sum())
    if not scores and (report_html or report_csv):
        warn("no test scores: no polygons were held out (test fraction 0, or one polygon per "
             "class); the report lists the training only. Set a test fraction above 0 to score "
             "the model.")
    if report_html or report_csv:
        write_report(scores, samples.class_ids, samples.class_names, report_html, report_csv,
                     notes=notes + [f"{n_train} training / {n_test} test pixels, split by "
                                    f"polygon (seed {seed})"])
    model.save(model_path)
    callbacks.progress(1.0)
    return TrainResult(model, str(model_path), scores,
                       str(report_html) if report_html else None,
                       str(report_csv) if report_csv else None, n_train, n_test)


def _fit(samples: Samples, mask, prior_strength, dirichlet_alpha,
         callbacks: Callbacks) -> BayesQDAModel:
    return fit(samples.values[mask], samples.labels[mask], class_ids=samples.class_ids,
               class_names=samples.class_names, colours=samples.colours,
               band_names=samples.band_names,
               sigma=None if samples.sigma is None else samples.sigma[mask],
               prior_strength=prior_strength, dirichlet_alpha=dirichlet_alpha,
               callbacks=callbacks)


def _fit_and_score(samples: Samples, train: np.ndarray, prior_strength, dirichlet_alpha,
                   compare_baselines, seed, callbacks: Callbacks
                   ) -> tuple[BayesQDAModel, list[Scores]]:
    """Fit on ``train``; score it (and the baselines) on the rest."""
    model = _fit(samples, train, prior_strength, dirichlet_alpha, callbacks)
    test = ~train
    if not np.any(test):
        return model, []
    x_test, y_test = samples.values[test], samples.labels[test]
    sigma = None if samples.sigma is None else samples.sigma[test]
    proba = model.predict_proba(x_test, sigma)
    scores: list[Scores] = [score("Bayesian QDA", y_test, proba, samples.class_ids,
                                  note=f"prior strength {prior_strength:g}")]
    if compare_baselines:
        base = baseline_probabilities(samples.values[train], samples.labels[train], x_test,
                                      samples.class_ids, seed, callbacks)
        for name, (p, note) in base.items():
            if p is not None:
                scores.append(score(name, y_test, p, samples.class_ids, note))
    return model, scores
