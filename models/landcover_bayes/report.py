"""Accuracy of class probabilities on held-out pixels, as numbers, CSV and a one-file HTML page.

Metrics: overall accuracy, Cohen's kappa, per-class precision/recall/F1, log-loss (natural log,
probabilities clipped at 1e-15) and expected calibration error (ECE: 10 equal-width bins of the
top probability, weighted |accuracy - confidence|). Figures (confusion matrix, reliability
diagram) are drawn with matplotlib's Agg canvas, no pyplot state, and embedded as PNG.
"""

from __future__ import annotations

import csv
import io
import html
from dataclasses import dataclass

import numpy as np

from ..callbacks import Callbacks
from ..files import write_files
from ..figures import png_base64

ECE_BINS = 10


@dataclass
class Scores:
    method: str
    overall_accuracy: float
    kappa: float
    log_loss: float
    ece: float
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    confusion: np.ndarray  # rows = reference, columns = predicted
    reliability: tuple  # (bin confidence, bin accuracy, bin count)
    note: str = ""

    def row(self) -> dict:
        return {"method": self.method, "overall_accuracy": self.overall_accuracy,
                "kappa": self.kappa, "log_loss": self.log_loss, "ece": self.ece,
                "macro_f1": float(np.nanmean(self.f1)), "note": self.note}


def confusion_matrix(y_true, y_pred, class_ids) -> np.ndarray:
    ids = np.asarray(class_ids)
    t = np.searchsorted(ids, y_true)
    p = np.searchsorted(ids, y_pred)
    cm = np.zeros((len(ids), len(ids)), dtype=np.int64)
    np.add.at(cm, (t, p), 1)
    return cm


def log_loss(y_true, proba, class_ids) -> float:
    idx = np.searchsorted(np.asarray(class_ids), y_true)
    p = proba[np.arange(len(idx)), idx]
    return float(-np.mean(np.log(np.clip(p, 1e-15, 1.0))))


def reliability(y_true, proba, class_ids, bins: int = ECE_BINS):
    conf = proba.max(axis=1)
    correct = np.asarray(class_ids)[proba.argmax(axis=1)] == y_true
    b = np.minimum((conf * bins).astype(int), bins - 1)
    count = np.bincount(b, minlength=bins).astype(float)
    with np.errstate(invalid="ignore"):
        bconf = np.bincount(b, conf, bins) / count
        bacc = np.bincount(b, correct.astype(float), bins) / count
    return bconf, bacc, count


def expected_calibration_error(y_true, proba, class_ids, bins: int = ECE_BINS) -> float:
    bconf, bacc, count = reliability(y_true, proba, class_ids, bins)
    m = count > 0
    return float(np.sum(count[m] * np.abs(bacc[m] - bconf[m])) / count.sum())


def score(method, y_true, proba, class_ids, note="") -> Scores:
    y_true = np.asarray(y_true)
    ids = np.asarray(class_ids)
    pred = ids[np.argmax(proba, axis=1)]
    cm = confusion_matrix(y_true, pred, ids)
    n = cm.sum()
    po = np.trace(cm) / n
    pe = float((cm.sum(0) * cm.sum(1)).sum()) / float(n) ** 2
    kappa = (po - pe) / (1 - pe) if pe < 1 else 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        prec = np.diag(cm) / cm.sum(axis=0)
        rec = np.diag(cm) / cm.sum(axis=1)
        f1 = 2 * prec * rec / (prec + rec)
    f1 = np.where((prec == 0) & (rec == 0), 0.0, f1)
    return Scores(method, float(po), float(kappa), log_loss(y_true, proba, ids),
                  expected_calibration_error(y_true, proba, ids), prec, rec, f1, cm,
                  reliability(y_true, proba, ids), note)


def baseline_probabilities(x_train, y_train, x_test, class_ids, seed: int = 0,
                           callbacks: Callbacks = Callbacks()) -> dict:
    """scikit-learn QDA and RandomForest on the same split: {name: (proba, note)}.

    Plain QDA cannot be fitted when a class has no more pixels than bands; then the classes it
    can fit are used (it never predicts the others) and the note says so. Without
    scikit-learn: {} and a warning saying which rows the report lacks.
    """
    try:
        from sklearn.discriminant_analysis import QuadraticDiscriminantAnalysis
        from sklearn.ensemble import RandomForestClassifier
    except ImportError:
        callbacks.warn("scikit-learn is not installed, so the report has no QDA and "
                       "random-forest rows to compare the Bayesian model with. Install it "
                       "(Plugins > Remote Sensing AI Toolbox > Install dependencies…) to get "
                       "them.")
        return {}
    ids = np.asarray(class_ids)
    d = x_train.shape[1]
    out = {}

    def expand(model, p):
        full = np.zeros((x_test.shape[0], len(ids)))
        full[:, np.searchsorted(ids, model.classes_)] = p
        return full

    counts = {c: int(np.count_nonzero(y_train == c)) for c in ids}
    fit_ok = [c for c in ids if counts[c] > d]
    dropped = [str(c) for c in ids if counts[c] <= d]
    note = (f"classes {', '.join(dropped)} have <= {d} training pixels; QDA cannot fit them and "
            f"was trained without them" if dropped else "")
    keep = np.isin(y_train, fit_ok)
    if len(fit_ok) >= 2:
        qda = QuadraticDiscriminantAnalysis(tol=0.0) if _has_tol() else \
            QuadraticDiscriminantAnalysis()
        try:
            qda.fit(x_train[keep], y_train[keep])
            out["QDA (scikit-learn)"] = (expand(qda, qda.predict_proba(x_test)), note)
        except Exception as exc:  # noqa: BLE001 - a failed baseline is reported, not fatal
            out["QDA (scikit-learn)"] = (None, f"could not be fitted: {exc}")
    rf = RandomForestClassifier(n_estimators=200, random_state=seed, n_jobs=-1)
    rf.fit(x_train, y_train)
    out["RandomForest (scikit-learn)"] = (expand(rf, rf.predict_proba(x_test)), "200 trees")
    return out


def _has_tol() -> bool:
    import inspect

    from sklearn.discriminant_analysis import QuadraticDiscriminantAnalysis
    return "tol" in inspect.signature(QuadraticDiscriminantAnalysis).parameters


def _confusion_png(s: Scores, names) -> str:
    from matplotlib.figure import Figure
    k = len(names)
    fig = Figure(figsize=(1.2 + 0.6 * k, 1.0 + 0.6 * k))
    ax = fig.add_subplot()
    cm = s.confusion
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(k), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("reference")
    ax.set_title(f"Confusion matrix: {s.method}", fontsize=9)
    return png_base64(fig)


def _reliability_png(scores) -> str:
    from matplotlib.figure import Figure
    fig = Figure(figsize=(4.5, 4.5))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], "k:", lw=1, label="perfect calibration")
    for s in scores:
        bconf, bacc, count = s.reliability
        m = count > 0
        ax.plot(bconf[m], bacc[m], "o-", ms=4, label=f"{s.method} (ECE {s.ece:.3f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (top probability)")
    ax.set_ylabel("accuracy")
    ax.set_title("Reliability diagram", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    return png_base64(fig)


def _scores_html(rows: str, scores: list, per_class: list) -> str:
    return ("<h2>Summary (held-out polygons)</h2><table><tr><th>method</th><th>overall accuracy"
            "</th><th>kappa</th><th>log-loss</th><th>ECE</th><th>macro F1</th><th>note</th></tr>"
            f"{rows}</table><h2>Reliability diagram</h2>"
            "<img alt='reliability diagram' "
            f"src='data:image/png;base64,{_reliability_png(scores)}'>"
            f"<h2>Per class</h2>{''.join(per_class)}")


def write_report(scores: list, class_ids, class_names, html_path=None, csv_path=None,
                 title: str = "Bayesian land cover classification: accuracy",
                 notes: list | None = None) -> None:
    """Write CSV (one row per method and metric, per-class rows) and/or the HTML page, both
    renamed into place together once complete."""
    files = {}
    if csv_path:
        fh = io.StringIO(newline="")
        w = csv.writer(fh)
        w.writerow(["method", "class_id", "class_name", "metric", "value"])
        for s in scores:
            for key, val in s.row().items():
                if key not in ("method", "note"):
                    w.writerow([s.method, "", "", key, f"{val:.6g}"])
            for i, (cid, name) in enumerate(zip(class_ids, class_names)):
                for key, arr in (("precision", s.precision), ("recall", s.recall),
                                 ("f1", s.f1)):
                    w.writerow([s.method, int(cid), name, key, f"{arr[i]:.6g}"])
        files[csv_path] = fh.getvalue()
    if html_path:
        esc = html.escape
        rows = "".join(
            f"<tr><td>{esc(s.method)}</td><td>{s.overall_accuracy:.4f}</td><td>{s.kappa:.4f}</td>"
            f"<td>{s.log_loss:.4f}</td><td>{s.ece:.4f}</td><td>{np.nanmean(s.f1):.4f}</td>"
            f"<td>{esc(s.note)}</td></tr>" for s in scores)
        per_class = []
        for s in scores:
            body = "".join(
                f"<tr><td>{int(c)}</td><td>{esc(n)}</td><td>{s.confusion[i].sum()}</td>"
                f"<td>{s.precision[i]:.3f}</td><td>{s.recall[i]:.3f}</td>"
                f"<td>{s.f1[i]:.3f}</td></tr>"
                for i, (c, n) in enumerate(zip(class_ids, class_names)))
            per_class.append(
                f"<h3>{esc(s.method)}</h3><table><tr><th>id</th><th>class</th><th>test pixels"
                f"</th><th>precision</th><th>recall</th><th>F1</th></tr>{body}</table>"
                f"<img alt='confusion matrix' src='data:image/png;base64,"
                f"{_confusion_png(s, list(class_names))}'>")
        note_html = "".join(f"<li>{esc(n)}</li>" for n in (notes or []))
        page = (
            "<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<title>{esc(title)}</title><style>body{{font-family:sans-serif;margin:2em}}"
            "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;"
            "padding:3px 8px;text-align:right}td:first-child{text-align:left}</style></head><body>"
            f"<h1>{esc(title)}</h1><ul>{note_html}</ul>"
            + (_scores_html(rows, scores, per_class) if scores else
               "<p>No test scores: no polygons were held out for testing (test fraction 0, or "
               "every class has a single polygon). Set a test fraction above 0 to score the "
               "model.</p>")
            + "</body></html>")
        files[html_path] = page
    write_files(files)
