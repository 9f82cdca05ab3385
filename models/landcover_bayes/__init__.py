"""Uncertainty-aware Bayesian land cover classification (Bayesian QDA), framework-free core.

The two QGIS tools are thin wrappers: ``rsai:bayes_landcover_train`` calls
:func:`train_from_files`, ``rsai:bayes_landcover_classify`` calls :func:`classify_raster`.
Equations and approximations: :mod:`.model`.
"""

from .classify import CLASS_NODATA, UNCERTAINTY_BANDS, classify_array, classify_raster
from .model import (DEFAULT_DIRICHLET_ALPHA, DEFAULT_PRIOR_STRENGTH, BayesQDAModel,
                    LandcoverWarning, fit, load_model)
from .report import score, write_report
from .samples import Samples, extract_samples, split_by_group
from .train import TrainResult, fit_and_evaluate, train_from_files
from .uncertainty import MeasurementUncertainty, from_args as uncertainty_from_args
from .uncertainty import from_text as uncertainty_from_text

__all__ = [
    "CLASS_NODATA", "UNCERTAINTY_BANDS", "classify_array", "classify_raster",
    "DEFAULT_DIRICHLET_ALPHA", "DEFAULT_PRIOR_STRENGTH", "BayesQDAModel", "LandcoverWarning",
    "fit", "load_model", "score", "write_report", "Samples", "extract_samples", "split_by_group",
    "TrainResult", "fit_and_evaluate", "train_from_files", "MeasurementUncertainty",
    "uncertainty_from_args", "uncertainty_from_text",
]
