"""Soil properties (pH, SOC, clay, nutrients) from Sentinel-2 and covariates, trained on the
user's own lab samples (after AgroLens, Kammerlander et al. 2025). Framework-free core:

- features.py   band values, window means, spectral indices: one function for points and blocks
- samples.py    lab samples (points) -> features read from the rasters at their locations
- tables.py     the same from a table of values already extracted (CSV, LimeSoDa)
- folds.py      spatial block / random / given cross-validation folds
- regressors.py Random Forest, XGBoost, fully connected network (network.py) and their ONNX
- metrics.py    RMSE, R2, bias, Lin's CCC; split-conformal intervals and their coverage
- train.py      cross-validate, fit, card;  onnx_model.py: one ONNX with values/lower/upper
- train_files.py the training tool in one call (samples + rasters -> model, card, report)
- report.py     HTML + CSV report;  points.py: predictions at points into a new GeoPackage
"""
