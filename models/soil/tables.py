"""Sample tables from columns: band values already extracted at each sample (a CSV from a lab
or a benchmark such as LimeSoDa) become a SampleTable through the same feature code as rasters.

Window means need neighbouring pixels, so a table (one pixel per sample) offers band values,
indices and covariates only.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field

import numpy as np

from ..callbacks import Callbacks
from ..errors import UserError
from .features import FeatureSet, InputBands, feature_set

SPECTRAL = "s2"
COVARIATES = "covariates"


@dataclass
class SampleTable:
    """Features and lab values of the samples that can be used, with where they lie."""

    features: np.ndarray  # (n, F) float64
    targets: np.ndarray  # (n, K) float64, NaN where a lab value is missing
    xy: np.ndarray  # (n, 2) coordinates in metres (spatial CV)
    ids: np.ndarray  # (n,) the samples' feature ids
    feature_set: FeatureSet
    target_names: tuple[str, ...]
    units: tuple[str, ...]
    crs: str = ""  # the image's CRS (authority id or WKT)
    extent: tuple | None = None  # (xmin, ymin, xmax, ymax) of the samples in ``crs``
    folds: np.ndarray | None = None  # given folds (FOLD_FIELD), else None
    fold_source: str = ""  # the field the given folds came from
    skipped: dict = field(default_factory=dict)  # reason -> count of samples left out
    inputs: list = field(default_factory=list)  # card inputs ({"name", "bands", ...})


def read_csv_columns(path) -> dict[str, np.ndarray]:
    """Columns of a CSV file: float arrays where every value is a number (empty -> NaN), text
    arrays otherwise."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise UserError(f"{path} has no rows")
    columns = {}
    for name in rows[0]:
        values = [r[name] for r in rows]
        try:
            columns[name] = np.array([float(v) if v.strip() else np.nan for v in values])
        except ValueError:
            columns[name] = np.array(values, dtype=object)
    return columns


def table_from_columns(columns: dict, *, bands, targets, covariates=(), units=None,
                       x: str = "x", y: str = "y", fold: str | None = None,
                       pixel: bool = True, indices="all", crs: str = "",
                       callbacks: Callbacks = Callbacks()) -> SampleTable:
    """A SampleTable from named columns: ``bands`` (spectral, e.g. B02..B12), ``covariates``
    (any other numeric predictors), ``targets`` (lab values), coordinates ``x``/``y`` and an
    optional ``fold`` column."""
    def numeric(name):
        if name not in columns:
            raise UserError(f"the table has no column {name!r}; its columns: "
                            f"{', '.join(columns)}")
        values = columns[name]
        if values.dtype == object:
            raise UserError(f"column {name!r} is not numeric")
        return np.asarray(values, np.float64)

    inputs = [InputBands(SPECTRAL, tuple(bands))]
    blocks = {SPECTRAL: np.stack([numeric(b) for b in bands], 1)[:, :, None, None]}
    if covariates:
        inputs.append(InputBands(COVARIATES, tuple(covariates)))
        blocks[COVARIATES] = np.stack([numeric(c) for c in covariates], 1)[:, :, None, None]
    features = feature_set(inputs, pixel=pixel, indices=indices, callbacks=callbacks)
    values = features(blocks)[:, :, 0, 0]
    keep = np.isfinite(values).all(1)
    n = len(values)
    return SampleTable(
        features=values[keep],
        targets=np.stack([numeric(t) for t in targets], 1)[keep],
        xy=np.stack([numeric(x), numeric(y)], 1)[keep],
        ids=np.arange(n)[keep],
        feature_set=features,
        target_names=tuple(targets),
        units=tuple(units) if units else ("",) * len(targets),
        crs=crs,
        folds=None if fold is None else np.unique(columns[fold][keep], return_inverse=True)[1],
        fold_source=fold or "",
        skipped={"a feature is missing (NaN)": int(n - keep.sum())},
        inputs=[{"name": i.name, "bands": list(i.bands)} for i in features.inputs])
