"""The train tool in one call: samples -> split by polygon -> posterior -> report -> model file."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..callbacks import never_cancelled, no_progress
from ..errors import Cancelled
from .model import DEFAULT_DIRICHLET_ALPHA, DEFAULT_PRIOR_STRENGTH, BayesQDAModel, fit
from .report import Scores, baseline_probabilities, score, write_report
from .samples import Samples, extract_samples, split_by_group
from .uncertainty import MeasurementUncertainty


@dataclass
class TrainResult:
    model: BayesQDAModel
    model_path: str
    scores: list  # [Scores], the Bayesian model first, then the baselines
    report: dict  # {"html": path|None, "csv": path|None}
    warnings: list  # messages of the warnings raised on the way
    n_train: int
    n_test: int


def train_from_files(raster_path, vector_path, class_field: str, model_path, *,
                     name_field: str | None = None, layer=None, report_html=None,
                     report_csv=None, test_fraction: float = 0.3, seed: int = 0,
                     prior_strength: float = DEFAULT_PRIOR_STRENGTH,
                     dirichlet_alpha: float = DEFAULT_DIRICHLET_ALPHA,
                     uncertainty: MeasurementUncertainty | None = None,
                     all_touched: bool = False, compare_baselines: bool = True,
                     refit_on_all: bool = False, progress=None, is_cancelled=None) -> TrainResult:
    """Train and evaluate; the saved model is fitted on the training polygons (or on all of
    them with ``refit_on_all``, after evaluation). Warnings are both emitted and returned.
    ``layer``: the layer of ``vector_path`` (name or index; default the first)."""
    progress = progress or no_progress
    is_cancelled = is_cancelled or never_cancelled
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        samples = extract_samples(raster_path, vector_path, class_field, name_field=name_field,
                                  layer=layer, uncertainty=uncertainty, all_touched=all_touched,
                                  progress=lambda f: progress(0.5 * f), is_cancelled=is_cancelled)
        train = split_by_group(samples.labels, samples.groups, test_fraction, seed)
        model, scores = fit_and_evaluate(samples, train, prior_strength=prior_strength,
                                         dirichlet_alpha=dirichlet_alpha,
                                         compare_baselines=compare_baselines, seed=seed)
        if is_cancelled():
            raise Cancelled("training cancelled")
        progress(0.8)
        if refit_on_all:
            model = _fit(samples, np.ones_like(train), prior_strength, dirichlet_alpha)
        model.training.update({"raster": str(raster_path), "vector": str(vector_path),
                               "class_field": class_field, "test_fraction": test_fraction,
                               "seed": seed, "refit_on_all": refit_on_all,
                               "test_scores": [s.row() for s in scores]})
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    msgs = [str(w.message) for w in caught]
    rep = {"html": None, "csv": None}
    if scores and (report_html or report_csv):
        rep = write_report(scores, samples.class_ids, samples.class_names, report_html,
                           report_csv, notes=msgs + [
                               f"{int(train.sum())} training / {int((~train).sum())} test pixels,"
                               f" split by polygon (seed {seed})"])
    model.save(model_path)
    progress(1.0)
    return TrainResult(model, str(model_path), scores, rep, msgs, int(train.sum()),
                       int((~train).sum()))


def _fit(samples: Samples, mask, prior_strength, dirichlet_alpha) -> BayesQDAModel:
    return fit(samples.values[mask], samples.labels[mask], class_ids=samples.class_ids,
               class_names=samples.class_names, colours=samples.colours,
               band_names=samples.band_names,
               sigma=None if samples.sigma is None else samples.sigma[mask],
               prior_strength=prior_strength, dirichlet_alpha=dirichlet_alpha)


def fit_and_evaluate(samples: Samples, train: np.ndarray, *, prior_strength, dirichlet_alpha,
                     compare_baselines=True, seed=0, test_sigma=None):
    """Fit on ``train``; score it (and the baselines) on the rest. Returns (model, [Scores])."""
    model = _fit(samples, train, prior_strength, dirichlet_alpha)
    test = ~train
    if not np.any(test):
        return model, []
    x_test, y_test = samples.values[test], samples.labels[test]
    sig = test_sigma if test_sigma is not None else (
        None if samples.sigma is None else samples.sigma[test])
    proba = model.predict_proba(x_test, sig)
    scores: list[Scores] = [score("Bayesian QDA", y_test, proba, samples.class_ids,
                                  note=f"prior strength {prior_strength:g}")]
    if compare_baselines:
        base = baseline_probabilities(samples.values[train], samples.labels[train], x_test,
                                      samples.class_ids, seed)
        for name, (p, note) in base.items():
            if p is not None:
                scores.append(score(name, y_test, p, samples.class_ids, note))
    return model, scores
