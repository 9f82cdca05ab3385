"""Scores of held-out predictions and split-conformal intervals from CV residuals.

Scores (per target, on the pooled out-of-fold predictions of the cross-validation, never on the
training fit): RMSE, R2 = 1 - SS_res / SS_tot, bias = mean(predicted - observed) and Lin's
concordance correlation coefficient CCC = 2 cov / (var_p + var_o + (mean_p - mean_o)^2)
(population moments), which is 1 only on the 1:1 line.

Intervals: split-conformal with absolute residuals. The half width is the
ceil((n + 1) * coverage) / n empirical quantile of |observed - predicted| over the n held-out
residuals; the interval is prediction +- half width. Each fold's coverage is measured with a
half width computed from the other folds' residuals only, so the check is honest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Scores:
    n: int
    rmse: float
    r2: float
    bias: float
    ccc: float

    def as_dict(self) -> dict:
        return {"n": self.n, "rmse": self.rmse, "r2": self.r2, "bias": self.bias,
                "ccc": self.ccc}


def scores(observed: np.ndarray, predicted: np.ndarray) -> Scores:
    o = np.asarray(observed, np.float64)
    p = np.asarray(predicted, np.float64)
    error = p - o
    ss_tot = float(np.sum((o - o.mean()) ** 2))
    r2 = 1.0 - float(np.sum(error ** 2)) / ss_tot if ss_tot > 0 else float("nan")
    cov = float(np.mean((p - p.mean()) * (o - o.mean())))
    denominator = p.var() + o.var() + (p.mean() - o.mean()) ** 2
    ccc = 2 * cov / denominator if denominator > 0 else float("nan")
    return Scores(len(o), float(np.sqrt(np.mean(error ** 2))), r2, float(error.mean()),
                  float(ccc))


def conformal_half_width(residuals: np.ndarray, coverage: float) -> float:
    """Half width of a split-conformal interval with nominal ``coverage`` (finite-sample rank).
    Infinite when there are too few residuals for that coverage."""
    r = np.sort(np.abs(np.asarray(residuals, np.float64)))
    n = len(r)
    rank = math.ceil((n + 1) * coverage)
    return float(r[rank - 1]) if 0 < rank <= n else float("inf")


def coverage_per_fold(residuals: np.ndarray, folds: np.ndarray, coverage: float) -> dict:
    """{fold: (share of the fold's residuals inside the half width from the other folds, the
    half width, samples)}."""
    residuals = np.abs(np.asarray(residuals, np.float64))
    result = {}
    for fold in np.unique(folds):
        inside = folds == fold
        width = conformal_half_width(residuals[~inside], coverage)
        result[int(fold)] = (float(np.mean(residuals[inside] <= width)), width,
                             int(inside.sum()))
    return result


def pooled_coverage(per_fold: dict) -> float:
    """Share of all held-out samples inside their fold's interval."""
    hits = sum(share * n for share, _, n in per_fold.values())
    return hits / sum(n for _, _, n in per_fold.values())
