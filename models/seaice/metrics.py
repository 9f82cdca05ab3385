"""The AutoICE scores: R2 for concentration, weighted F1 for stage of development and floe size.

As in the AutoICE challenge (Stokholm et al. 2024; scikit-learn's ``r2_score`` and
``f1_score(average="weighted")`` on the pixels of all test scenes together): pixels masked (255)
in the chart or in the prediction are left out, and the combined score is
(2 R2(SIC) + 2 F1(SOD) + F1(FLOE)) / 5. Everything is computed from one confusion matrix per
chart, accumulated block by block, so a whole scene never has to sit in memory; R2 comes from
the same matrix because chart codes are the class values (SIC in tenths).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import UserError
from .scheme import CHARTS, MASKED, ChartClass

WEIGHTS = {"SIC": 2, "SOD": 2, "FLOE": 1}
METRIC = {"SIC": "R2", "SOD": "weighted F1", "FLOE": "weighted F1"}


@dataclass
class ConfusionAccumulator:
    """Counts (chart class, predicted class) over blocks; rows are the chart. ``classes``:
    the codes 0..K-1 and their names (default: the AutoICE scheme of ``chart``; a model with
    its own classes, e.g. NERSC's four, brings its own)."""

    chart: str
    classes: tuple[ChartClass, ...] = ()
    confusion: np.ndarray = field(init=False)
    masked: int = 0

    def __post_init__(self):
        if self.chart not in CHARTS:
            raise UserError(f"unknown chart {self.chart!r}; one of {', '.join(CHARTS)}")
        self.classes = tuple(self.classes) or CHARTS[self.chart]
        if [c.value for c in self.classes] != list(range(len(self.classes))):
            raise UserError(f"{self.chart} class codes must be 0, 1, 2, ... without gaps, not "
                            f"{[c.value for c in self.classes]}")
        k = len(self.classes)
        self.confusion = np.zeros((k, k), dtype=np.int64)

    def update(self, truth: np.ndarray, prediction: np.ndarray) -> None:
        truth, prediction = np.asarray(truth).ravel(), np.asarray(prediction).ravel()
        if truth.shape != prediction.shape:
            raise UserError(f"{self.chart}: the chart and the prediction differ in size "
                            f"({truth.size} and {prediction.size} pixels).")
        keep = (truth != MASKED) & (prediction != MASKED)
        self.masked += int(truth.size - keep.sum())
        t, p = truth[keep].astype(np.int64), prediction[keep].astype(np.int64)
        k = self.confusion.shape[0]
        for name, values in (("chart", t), ("prediction", p)):
            bad = values[(values < 0) | (values >= k)]
            if bad.size:
                raise UserError(f"the {self.chart} {name} holds the value {int(bad[0])}, which "
                                f"is not a {self.chart} code (0-{k - 1}, or {MASKED} for masked)")
        self.confusion += np.bincount(t * k + p, minlength=k * k).reshape(k, k)

    def scores(self) -> "ChartScores":
        return chart_scores(self.chart, self.confusion, self.masked, self.classes)


@dataclass(frozen=True)
class ChartScores:
    chart: str
    score: float  # R2 (SIC) or weighted F1, as a fraction (AutoICE reports x 100)
    f1: np.ndarray  # per class; NaN for a class neither in the chart nor predicted
    precision: np.ndarray
    recall: np.ndarray
    support: np.ndarray  # chart pixels per class
    confusion: np.ndarray
    masked: int
    classes: tuple[ChartClass, ...] = ()

    @property
    def metric(self) -> str:
        return METRIC[self.chart]

    @property
    def pixels(self) -> int:
        return int(self.confusion.sum())


def chart_scores(chart: str, confusion: np.ndarray, masked: int = 0,
                 classes: tuple[ChartClass, ...] = ()) -> ChartScores:
    confusion = np.asarray(confusion, dtype=np.int64)
    if confusion.sum() == 0:
        raise UserError(f"no {chart} pixel is valid in both the chart and the prediction "
                        f"(everything masked as {MASKED} or outside the overlap): nothing to "
                        "score.")
    tp = np.diag(confusion).astype(np.float64)
    support = confusion.sum(axis=1)
    predicted = confusion.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = 2 * tp / (support + predicted)  # NaN where the class appears nowhere
    score = (r2_from_confusion(confusion) if chart == "SIC"
             else float(np.nansum(f1 * support) / support.sum()))
    return ChartScores(chart, score, f1, precision, recall, support, confusion, int(masked),
                       tuple(classes) or CHARTS[chart])


def r2_from_confusion(confusion: np.ndarray) -> float:
    """Coefficient of determination of predicted class values against chart class values;
    like scikit-learn, 1.0 for a perfect prediction of a constant chart, else 0.0 there."""
    k = confusion.shape[0]
    values = np.arange(k, dtype=np.float64)
    n = confusion.sum()
    truth_counts = confusion.sum(axis=1)
    mean = (truth_counts * values).sum() / n
    ss_tot = float((truth_counts * (values - mean) ** 2).sum())
    ss_res = float((confusion * (values[:, None] - values[None, :]) ** 2).sum())
    if ss_tot == 0:
        return 1.0 if ss_res == 0 else 0.0
    return 1.0 - ss_res / ss_tot


@dataclass(frozen=True)
class AutoIceScores:
    charts: dict  # chart name -> ChartScores
    combined: float | None  # None unless SIC, SOD and FLOE are all scored

    def summary(self) -> dict:
        """Scores x 100 as AutoICE reports them, by key (SIC_R2, SOD_F1, FLOE_F1, COMBINED)."""
        out = {f"{name}_{'R2' if name == 'SIC' else 'F1'}": 100 * s.score
               for name, s in self.charts.items()}
        out["COMBINED"] = None if self.combined is None else 100 * self.combined
        return out


def combine(charts: dict) -> AutoIceScores:
    combined = None
    if all(name in charts for name in WEIGHTS):
        combined = sum(WEIGHTS[n] * charts[n].score for n in WEIGHTS) / sum(WEIGHTS.values())
    return AutoIceScores(dict(charts), combined)


def autoice_scores(truths: dict, predictions: dict) -> AutoIceScores:
    """Scores of in-memory arrays: {"SOD": chart array, ...} against the same keys."""
    charts = {}
    for name in CHARTS:
        if name in truths and name in predictions:
            accumulator = ConfusionAccumulator(name)
            accumulator.update(truths[name], predictions[name])
            charts[name] = accumulator.scores()
    if not charts:
        raise UserError("give at least one chart (SIC, SOD or FLOE) with its prediction")
    return combine(charts)
