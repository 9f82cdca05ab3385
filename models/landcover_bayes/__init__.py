"""Uncertainty-aware Bayesian land cover classification (Bayesian QDA), framework-free core.

The two QGIS tools are thin wrappers: ``rsai:bayes_landcover_train`` calls
:func:`train_from_files`, ``rsai:bayes_landcover_classify`` calls :func:`classify_raster`.
Equations and approximations: :mod:`.model`. Warnings (skipped features, small classes) go to
the caller's ``Callbacks.warn``.
"""

from .classify import UNCERTAINTY_BANDS, classify_raster
from .model import DEFAULT_DIRICHLET_ALPHA, DEFAULT_PRIOR_STRENGTH, BayesQDAModel, fit, load_model
from .report import score, write_report
from .samples import Samples, extract_samples, split_by_group
from .train import TrainResult, train_from_files
from .uncertainty import MeasurementUncertainty
from .uncertainty import from_text as uncertainty_from_text

__all__ = [
    "UNCERTAINTY_BANDS", "classify_raster", "DEFAULT_DIRICHLET_ALPHA", "DEFAULT_PRIOR_STRENGTH",
    "BayesQDAModel", "fit", "load_model", "score", "write_report", "Samples", "extract_samples",
    "split_by_group", "TrainResult", "train_from_files", "MeasurementUncertainty",
    "uncertainty_from_text",
]
