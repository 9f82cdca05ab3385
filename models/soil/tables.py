"""Sample tables from columns: band values already extracted at each sample (a CSV from a lab
or a benchmark such as LimeSoDa) become a SampleTable through the same feature code as rasters.

Window means need neighbouring pixels, so a table (one pixel per sample) offers band values,
indices and covariates only.
"""

from __future__ import annotations

import csv

import numpy as np

from ..errors import UserError
from .features import InputBands, feature_set
from .train import SampleTable

SPECTRAL = "s2"
COVARIATES = "covariates"


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
                       warn=lambda message: None) -> SampleTable:
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
    features = feature_set(inputs, pixel=pixel, indices=indices, warn=warn)
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
