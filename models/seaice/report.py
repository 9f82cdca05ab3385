"""AutoICE scores as a CSV table and a one-file HTML page, written under a temporary name and
renamed when complete (a cancelled or failed run leaves nothing that looks finished)."""

from __future__ import annotations

import csv
import html
import io
import os
from pathlib import Path

import numpy as np

from ..files import write_files
from .metrics import AutoIceScores


def write_csv(scores: AutoIceScores, path: str | os.PathLike) -> Path:
    """Rows: chart, metric, class_value, class_name, predicted_value, value."""
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\n")
    out.writerow(["chart", "metric", "class_value", "class_name", "predicted_value", "value"])
    for name, s in scores.charts.items():
        out.writerow([name, s.metric, "", "", "", f"{s.score:.6f}"])
        out.writerow([name, "pixels", "", "", "", s.pixels])
        out.writerow([name, "masked", "", "", "", s.masked])
        for cls in s.classes:
            v = cls.value
            for metric, values in (("f1", s.f1), ("precision", s.precision),
                                   ("recall", s.recall)):
                out.writerow([name, metric, v, cls.name, "",
                              "" if np.isnan(values[v]) else f"{values[v]:.6f}"])
            out.writerow([name, "support", v, cls.name, "", int(s.support[v])])
            for p in s.classes:
                out.writerow([name, "confusion", v, cls.name, p.value,
                              int(s.confusion[v, p.value])])
    if scores.combined is not None:
        out.writerow(["ALL", "combined", "", "", "", f"{scores.combined:.6f}"])
    return _write_atomic(path, buffer.getvalue())


def write_html(scores: AutoIceScores, path: str | os.PathLike, title: str = "AutoICE scores",
               notes: list[str] = ()) -> Path:
    esc = html.escape
    rows = "".join(
        f"<tr><td>{esc(name)}</td><td>{esc(s.metric)}</td><td>{100 * s.score:.2f}</td>"
        f"<td>{s.pixels}</td><td>{s.masked}</td></tr>" for name, s in scores.charts.items())
    if scores.combined is not None:
        rows += (f"<tr><th>combined</th><td>(2 SIC + 2 SOD + FLOE) / 5</td>"
                 f"<th>{100 * scores.combined:.2f}</th><td></td><td></td></tr>")
    sections = "".join(_chart_section(name, s) for name, s in scores.charts.items())
    note_items = "".join(f"<li>{esc(n)}</li>" for n in notes)
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{esc(title)}</title><style>body{{font-family:sans-serif;margin:2em}}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;"
        "padding:3px 8px;text-align:right}td:first-child{text-align:left}"
        ".swatch{display:inline-block;width:1em;height:1em;margin-right:.4em;"
        "vertical-align:middle;border:1px solid #888}</style></head><body>"
        f"<h1>{esc(title)}</h1><ul>{note_items}<li>Scores x 100, as AutoICE reports them; "
        "pixels masked (255) in the chart or the prediction are left out.</li></ul>"
        "<table><tr><th>chart</th><th>metric</th><th>score</th><th>pixels scored</th>"
        f"<th>pixels masked</th></tr>{rows}</table>{sections}</body></html>")
    return _write_atomic(path, page)


def _chart_section(name: str, s) -> str:
    esc = html.escape
    classes = s.classes
    per_class = "".join(
        f"<tr><td><span class='swatch' style='background:{c.color}'></span>{esc(c.name)}</td>"
        f"<td>{int(s.support[c.value])}</td><td>{_num(s.precision[c.value])}</td>"
        f"<td>{_num(s.recall[c.value])}</td><td>{_num(s.f1[c.value])}</td></tr>"
        for c in classes)
    total = max(int(s.confusion.max()), 1)
    header = "".join(f"<th>{esc(c.name)}</th>" for c in classes)
    body = ""
    for c in classes:
        cells = "".join(
            f"<td style='background:rgba(30,90,200,{0.6 * s.confusion[c.value, p.value] / total:.2f})'>"
            f"{int(s.confusion[c.value, p.value])}</td>" for p in classes)
        body += f"<tr><th>{esc(c.name)}</th>{cells}</tr>"
    return (f"<h2>{esc(name)}</h2><table><tr><th>class</th><th>chart pixels</th>"
            f"<th>precision</th><th>recall</th><th>F1</th></tr>{per_class}</table>"
            "<p>Confusion matrix (rows: chart, columns: prediction)</p>"
            f"<table><tr><th></th>{header}</tr>{body}</table>")


def _num(value: float) -> str:
    return "" if np.isnan(value) else f"{value:.3f}"


def _write_atomic(path: str | os.PathLike, text: str) -> Path:
    return write_files({path: text})[0]
