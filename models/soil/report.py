"""The training report: an HTML page and a CSV with the cross-validation scores.

Everything comes from the held-out (cross-validation) predictions, not the training fit:
RMSE, R2, bias, Lin's concordance per target, interval coverage per fold, the predicted-vs-
observed plot; feature importances come from the model fitted on all samples. The caller writes
the files together with the model (models/files.py: temporary names, renamed when complete).
"""

from __future__ import annotations

import csv
import html
import io
import math

import numpy as np

from ..figures import png_base64
from .metrics import Scores
from .regressors import ALGORITHM_TITLES
from .train import INTERVAL_METHOD, TrainResult

TOP_FEATURES = 15


def report_rows(result: TrainResult) -> list[list]:
    """CSV rows: section, target, name, value (scores, interval, per-fold coverage,
    importances)."""
    rows = [["section", "target", "name", "value"]]
    for t in result.targets:
        for key, value in t.scores.as_dict().items():
            rows.append(["score", t.name, key, _fmt(value)])
        rows += [["interval", t.name, "nominal_coverage", _fmt(result.coverage)],
                 ["interval", t.name, "half_width", _fmt(t.half_width)],
                 ["interval", t.name, "held_out_coverage", _fmt(t.coverage)]]
        for fold, (share, width, n) in t.coverage_per_fold.items():
            rows += [["fold_coverage", t.name, f"fold {fold + 1}", _fmt(share)],
                     ["fold_half_width", t.name, f"fold {fold + 1}", _fmt(width)],
                     ["fold_samples", t.name, f"fold {fold + 1}", str(n)]]
        for name, value in zip(result.table.feature_set.names, t.importances):
            rows.append(["importance", t.name, name, _fmt(value)])
    return rows


def report_files(result: TrainResult, html_path=None, csv_path=None, notes=()) -> dict:
    """{path: text} of the HTML page and/or the CSV, to write with models.files.write_files."""
    contents = {}
    if csv_path:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(report_rows(result))
        contents[csv_path] = buffer.getvalue()
    if html_path:
        contents[html_path] = _page(result, list(notes) + result.messages)
    return contents


def _page(result: TrainResult, notes: list) -> str:
    esc = html.escape
    table = result.table
    features = table.feature_set
    score_rows = "".join(
        f"<tr><td>{esc(t.name)}</td><td>{esc(t.unit)}</td><td>{t.scores.n}</td>"
        f"<td>{t.scores.rmse:.4g}</td><td>{t.scores.r2:.3f}</td><td>{t.scores.bias:.4g}</td>"
        f"<td>{t.scores.ccc:.3f}</td><td>{_fmt(t.half_width)}</td>"
        f"<td>{t.coverage:.1%}</td></tr>" for t in result.targets)
    folds = sorted(result.targets[0].coverage_per_fold)
    fold_rows = "".join(
        f"<tr><td>{esc(t.name)}</td>" + "".join(
            f"<td>{t.coverage_per_fold[f][0]:.0%} ({t.coverage_per_fold[f][2]})</td>"
            for f in folds) + "</tr>" for t in result.targets)
    plots = "".join(
        f"<img alt='predicted vs observed {esc(t.name)}' src='data:image/png;base64,"
        f"{_scatter_png(result, k)}'>" for k, t in enumerate(result.targets))
    importance = "".join(
        f"<img alt='feature importance {esc(t.name)}' src='data:image/png;base64,"
        f"{_importance_png(features.names, t.importances, t.name)}'>" for t in result.targets)
    skipped = "".join(f"<li>{n} samples skipped: {esc(reason)}</li>"
                      for reason, n in table.skipped.items() if n)
    feature_text = _describe_features(features)
    title = f"Soil model: {', '.join(table.target_names)}"
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{esc(title)}</title><style>body{{font-family:sans-serif;margin:2em}}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;"
        "padding:3px 8px;text-align:right}td:first-child{text-align:left}img{margin:0.5em}"
        "</style></head><body>"
        f"<h1>{esc(title)}</h1>"
        f"<p><b>Algorithm</b>: {esc(ALGORITHM_TITLES[result.algorithm])}. "
        f"<b>Samples</b>: {len(table.features)}. <b>Cross-validation</b>: "
        f"{esc(result.cv_description)}. Scores, intervals and plots come from the held-out "
        f"predictions of the cross-validation, not from the training fit.</p>"
        f"<p><b>Features</b> ({len(features.names)}): {esc(feature_text)}</p>"
        f"<ul>{skipped}{''.join(f'<li>{esc(n)}</li>' for n in notes)}</ul>"
        "<h2>Cross-validation scores</h2><table><tr><th>target</th><th>unit</th><th>n</th>"
        "<th>RMSE</th><th>R<sup>2</sup></th><th>bias (pred - obs)</th>"
        "<th>Lin's concordance</th><th>interval half width</th><th>held-out coverage</th></tr>"
        f"{score_rows}</table>"
        f"<h2>Prediction intervals ({result.coverage:.0%} nominal)</h2>"
        f"<p>Method: {esc(INTERVAL_METHOD)}. Each fold's coverage uses a half width computed "
        "from the other folds' residuals only. The exported model outputs <code>lower</code> "
        "and <code>upper</code> = prediction -/+ the half width above.</p>"
        "<table><tr><th>target</th>" + "".join(f"<th>fold {f + 1}</th>" for f in folds)
        + f"</tr>{fold_rows}</table><p>(share inside the interval; held-out samples)</p>"
        f"<h2>Predicted vs observed (held out)</h2>{plots}"
        f"<h2>Feature importance</h2><p>{esc(result.importance_kind)}, model fitted on all "
        f"samples; the {TOP_FEATURES} most important features.</p>{importance}"
        "</body></html>")


def _describe_features(features) -> str:
    spectral = features.spectral
    parts = []
    if features.pixel:
        parts.append(f"{spectral.name} band values ({', '.join(spectral.bands)})")
    for size in features.windows:
        parts.append(f"{size}x{size} window means of the {spectral.name} bands")
    if features.indices:
        parts.append(f"spectral indices {', '.join(features.indices)}")
    for extra in features.inputs[1:]:
        parts.append(f"covariate {extra.name} ({', '.join(extra.bands)})")
    return "; ".join(parts)


def _scatter_png(result: TrainResult, k: int) -> str:
    from matplotlib.figure import Figure

    target = result.targets[k]
    observed = result.table.targets[:, k]
    predicted = result.cv_predictions[:, k]
    known = np.isfinite(observed)
    o, p = observed[known], predicted[known]
    low, high = float(min(o.min(), p.min())), float(max(o.max(), p.max()))
    pad = 0.05 * (high - low or 1.0)
    low, high = low - pad, high + pad
    figure = Figure(figsize=(4.6, 4.4))
    axes = figure.add_subplot()
    axes.plot([low, high], [low, high], "k-", lw=1, label="1:1")
    if math.isfinite(target.half_width):
        for sign in (-1, 1):
            shift = sign * target.half_width
            axes.plot([low, high], [low + shift, high + shift], "k:", lw=1,
                      label=f"{result.coverage:.0%} interval" if sign < 0 else None)
    inside = np.abs(o - p) <= target.half_width
    axes.scatter(o[inside], p[inside], s=14, c="#1f77b4", label="inside interval")
    axes.scatter(o[~inside], p[~inside], s=14, c="#d62728", label="outside interval")
    axes.set_xlim(low, high)
    axes.set_ylim(low, high)
    unit = f" ({target.unit})" if target.unit else ""
    axes.set_xlabel(f"observed {target.name}{unit}")
    axes.set_ylabel(f"predicted {target.name}{unit} (held out)")
    axes.set_title(_score_title(target.name, target.scores), fontsize=9)
    axes.legend(fontsize=7, loc="upper left")
    return png_base64(figure)


def _score_title(name: str, s: Scores) -> str:
    return f"{name}: R2 {s.r2:.3f}, RMSE {s.rmse:.3g}, CCC {s.ccc:.3f}"


def _importance_png(names, importances, target: str) -> str:
    from matplotlib.figure import Figure

    order = np.argsort(importances)[::-1][:TOP_FEATURES][::-1]
    figure = Figure(figsize=(5.5, 0.3 * len(order) + 0.8))
    axes = figure.add_subplot()
    axes.barh(range(len(order)), importances[order], color="#6a8f3c")
    axes.set_yticks(range(len(order)), [names[i] for i in order], fontsize=7)
    axes.set_xlabel("relative importance")
    axes.set_title(target, fontsize=9)
    return png_base64(figure)


def _fmt(value) -> str:
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return "inf" if not math.isfinite(value) else f"{value:.6g}"
