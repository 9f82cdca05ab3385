"""Train a soil model on a sample table: cross-validate, fit on all samples, score, export.

``train`` works on features already extracted (a :class:`SampleTable`), so the same code serves
the QGIS tool (samples read from rasters at points, models/soil/samples.py) and benchmarks on
tables such as LimeSoDa. Scores, intervals and their coverage come from the cross-validation's
held-out predictions only; the exported model is then fitted on every sample.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass, field, replace

import numpy as np

from ..callbacks import Callbacks
from ..errors import UserError
from . import folds as cv_folds
from .metrics import Scores, conformal_half_width, coverage_per_fold, pooled_coverage, scores
from .regressors import ALGORITHM_TITLES, ALGORITHMS, LearnerOptions, make_learner
from .tables import SampleTable

INTERVAL_METHOD = ("split-conformal: prediction +- the ceil((n+1) c)/n quantile of the absolute "
                   "cross-validation residuals (n held-out samples, c the nominal coverage)")
CITATION = ("Kammerlander et al., \"Machine Learning Models for Soil Parameter Prediction Based "
            "on Satellite, Weather, Clay and Yield Data\" (AgroLens), arXiv 2503.22276, 2025")
TILE_SIZE = 512  # pixel blocks of the map (pixel-table head)
# Units whose quantities cannot be negative; a negative lab value in them is suspicious.
NON_NEGATIVE_UNITS = {"%", "g/kg", "mg/kg", "ppm", "cmol/kg", "cmolc/kg", "meq/100g",
                      "g/cm3", "t/ha", "kg/ha", "mg/l", "ds/m", "ms/m", "pH"}


@dataclass(frozen=True)
class CrossValidation:
    """``method``: "spatial" (square blocks of ``block_size`` metres), "random" or "given"
    (the table's own folds, e.g. from FOLD_FIELD)."""

    method: str = "spatial"
    block_size: float = 250.0
    folds: int = 5
    seed: int = 0

    def describe(self, n_folds: int, source: str = "") -> str:
        if self.method == "given":
            return f"{n_folds} given folds (field {source!r})" if source else \
                f"{n_folds} given folds"
        if self.method == "random":
            return f"{n_folds} random folds (samples sharing a pixel kept together)"
        return f"spatial blocks of {self.block_size:g} m, {n_folds} folds"


@dataclass
class TargetResult:
    name: str
    unit: str
    scores: Scores
    half_width: float
    coverage: float  # pooled held-out coverage
    coverage_per_fold: dict  # fold -> (share inside, half width, samples)
    importances: np.ndarray  # (F,)


@dataclass
class TrainResult:
    algorithm: str
    table: SampleTable
    learner: object  # fitted on every sample
    folds: np.ndarray  # (n,)
    cv_predictions: np.ndarray  # (n, K) held-out predictions
    targets: list  # [TargetResult]
    coverage: float  # nominal
    cv_description: str
    importance_kind: str
    messages: list = field(default_factory=list)

    def card(self, model_id: str) -> dict:
        """The model card (v2, docs/model_cards.md): the inputs, a pixel-table head and three
        outputs (values; interval: lower and upper per target; extrapolation 0/1); what only
        the soil code reads (features, intervals, training range and scores) under
        ``method``."""
        table = self.table
        x = table.features
        extent = list(table.extent or (*table.xy.min(0), *table.xy.max(0)))
        targets = [{"name": t.name, "unit": t.unit} for t in self.targets]
        bounds = [{"name": f"{t.name} {side}", "unit": t.unit}
                  for t in self.targets for side in ("lower", "upper")]
        return {
            "id": model_id,
            "title": f"Soil {', '.join(table.target_names)} "
                     f"({ALGORITHM_TITLES[self.algorithm]})",
            "description": f"Trained by rsai:soil_train on {len(x)} samples; "
                           f"{self.cv_description}.",
            "task": "regression",
            "format": "onnx",
            "inputs": table.inputs,
            "tiling": {"tile_size": TILE_SIZE, "overlap": 0},
            "head": {"type": "pixel_table", "halo": table.feature_set.halo},
            "outputs": [{"name": "values", "targets": targets},
                        {"name": "interval", "targets": bounds},
                        {"name": "extrapolation", "targets": [{"name": "extrapolation"}]}],
            "licence": "the training samples' terms (a model trained on your own data)",
            "citation": CITATION,
            "method": {
                "name": "soil",
                "features": table.feature_set.to_dict(),
                "intervals": {
                    "method": INTERVAL_METHOD, "coverage": self.coverage,
                    "half_widths": {t.name: _finite(t.half_width) for t in self.targets},
                    "held_out_coverage": {t.name: t.coverage for t in self.targets}},
                "extrapolation": {"feature_min": [float(v) for v in np.nanmin(x, 0)],
                                  "feature_max": [float(v) for v in np.nanmax(x, 0)]},
                "training": {
                    "algorithm": self.algorithm, "samples": int(len(x)),
                    "extent": [float(v) for v in extent], "crs": table.crs,
                    "cross_validation": self.cv_description,
                    "scores": {t.name: t.scores.as_dict() for t in self.targets},
                    "target_ranges": {
                        name: [float(np.nanmin(table.targets[:, k])),
                               float(np.nanmax(table.targets[:, k]))]
                        for k, name in enumerate(table.target_names)},
                    "date": datetime.date.today().isoformat()}},
        }


def train(table: SampleTable, algorithm: str = "random_forest",
          cv: CrossValidation = CrossValidation(), coverage: float = 0.9,
          options: LearnerOptions = LearnerOptions(),
          callbacks: Callbacks = Callbacks()) -> TrainResult:
    """Cross-validate ``algorithm`` on ``table``, then fit it on every sample."""
    messages, callbacks = recording(callbacks)
    if algorithm not in ALGORITHMS:
        raise UserError(f"unknown algorithm {algorithm!r}: choose one of {', '.join(ALGORITHMS)}")
    if not 0.5 <= coverage < 1:
        raise UserError(f"the interval coverage must be between 0.5 and 1, e.g. 0.9 (got "
                        f"{coverage})")
    check_targets(table, callbacks)
    x, y = table.features, table.targets
    n, n_features = x.shape
    if n < n_features:
        raise UserError(f"{n} samples are fewer than the {n_features} features: choose fewer "
                        f"features (FEATURES, covariates) or add samples")
    folds, description = _folds(table, cv)
    fold_ids = np.unique(folds)
    for k, name in enumerate(table.target_names):
        for fold in fold_ids:
            if not np.isfinite(y[folds != fold, k]).any():
                raise UserError(f"target {name!r} has no value outside fold {fold}: fill in more "
                                f"lab values or use fewer folds")

    predictions = np.full_like(y, np.nan)
    steps = len(fold_ids) + 2
    for step, fold in enumerate(fold_ids):
        callbacks.check_cancelled("training")
        held_out = folds == fold
        learner = make_learner(algorithm, options).fit(x[~held_out], y[~held_out])
        predictions[held_out] = learner.predict(x[held_out])
        callbacks.progress((step + 1) / steps)
    callbacks.check_cancelled("training")
    final = make_learner(algorithm, options).fit(x, y)
    importances = final.importances(x, y)
    callbacks.progress((steps - 1) / steps)

    results = []
    for k, name in enumerate(table.target_names):
        known = np.isfinite(y[:, k])
        residuals = y[known, k] - predictions[known, k]
        per_fold = coverage_per_fold(residuals, folds[known], coverage)
        half = conformal_half_width(residuals, coverage)
        if not math.isfinite(half):
            callbacks.warn(f"{name}: {known.sum()} held-out residuals are too few for a "
                           f"{coverage:.0%} interval; the interval is unbounded")
        results.append(TargetResult(name, table.units[k],
                                    scores(y[known, k], predictions[known, k]),
                                    half, pooled_coverage(per_fold), per_fold, importances[k]))
    return TrainResult(algorithm, table, final, folds, predictions, results, coverage,
                       description, final.importance_kind, messages)


def recording(callbacks: Callbacks) -> tuple[list, Callbacks]:
    """([messages], the callbacks with a warn that also keeps each message): the report lists
    what the log warned about."""
    messages = []

    def warn(message):
        messages.append(message)
        callbacks.warn(message)

    return messages, replace(callbacks, warn=warn)


def check_targets(table: SampleTable, callbacks: Callbacks) -> None:
    """Empty or constant targets stop training; negative values in a unit that forbids them
    are warned about (a lab error or a wrong unit)."""
    for k, name in enumerate(table.target_names):
        values = table.targets[:, k]
        known = values[np.isfinite(values)]
        if known.size == 0:
            raise UserError(f"target field {name!r} has no value at the usable samples: fill in "
                            f"the lab values or choose another field")
        if np.ptp(known) == 0:
            raise UserError(f"target field {name!r} has the same value ({known[0]:g}) at every "
                            f"sample: there is nothing to learn; choose another field")
        if known.size < values.size:
            callbacks.warn(f"{name}: {values.size - known.size} samples have no value and do "
                           f"not train this target")
        unit = table.units[k].strip()
        if unit.lower() in {u.lower() for u in NON_NEGATIVE_UNITS} and (known < 0).any():
            callbacks.warn(f"{name}: {int((known < 0).sum())} negative values although the unit "
                           f"{unit!r} cannot be negative: check the lab values or the unit")


def _folds(table: SampleTable, cv: CrossValidation):
    if table.folds is not None or cv.method == "given":
        if table.folds is None:
            raise UserError("given folds were asked for but the samples carry none: set "
                            "FOLD_FIELD")
        n_folds = len(np.unique(table.folds))
        if len(table.folds) < n_folds:
            raise UserError(f"{len(table.folds)} samples are fewer than the {n_folds} folds")
        return table.folds, CrossValidation("given").describe(n_folds, table.fold_source)
    if cv.method == "random":
        return (cv_folds.random_folds(len(table.features), cv.folds, cv.seed,
                                      groups=table.features),
                cv.describe(cv.folds))
    if cv.method == "spatial":
        return (cv_folds.spatial_block_folds(table.xy, cv.block_size, cv.folds, cv.seed),
                cv.describe(cv.folds))
    raise UserError(f"unknown cross-validation {cv.method!r}: spatial, random or given")


def _finite(value: float):
    return float(value) if math.isfinite(value) else None

