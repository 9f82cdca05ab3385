"""rsai:soil_train: a soil-property model (pH, SOC, nutrients...) from lab samples, Sentinel-2
and covariates, cross-validated in space, exported as ONNX with its card."""

import os
import re
from pathlib import Path

from qgis.core import (QgsProcessing, QgsProcessingOutputFile, QgsProcessingOutputNumber,
                       QgsProcessingParameterEnum, QgsProcessingParameterFeatureSource,
                       QgsProcessingParameterField, QgsProcessingParameterFileDestination,
                       QgsProcessingParameterMultipleLayers, QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterLayer, QgsProcessingParameterString)

from ...models.errors import UserError
from ...models.soil.features import INDICES
from ...models.soil.regressors import ALGORITHMS, LearnerOptions
from ...models.soil.train import CITATION, CrossValidation
from ...models.soil.train_files import train_from_files
from ...models.tools import comma_list
from ..algorithm import RsaiAlgorithm
from ..vectors import vector_file

FEATURE_OPTIONS = ("Band values at the pixel", "Band means over 3 x 3 pixels",
                   "Band means over 5 x 5 pixels",
                   f"Spectral indices ({', '.join(INDICES)})")
ALGORITHM_OPTIONS = ("Random Forest", "XGBoost", "Fully connected network")
CV_OPTIONS = ("Spatial blocks (recommended)", "Random folds (only for independent samples)")
SCORES = {"R2": "r2", "RMSE": "rmse", "BIAS": "bias", "CCC": "ccc"}


def score_key(score: str, target: str) -> str:
    """Output name of one score of one target, e.g. R2_pH."""
    return f"{score}_{re.sub(r'[^0-9A-Za-z_]', '_', target)}"


class SoilTrain(RsaiAlgorithm):
    NAME = "soil_train"
    DISPLAY_NAME = "Train soil property model"
    GROUP = "Soil"
    GROUP_ID = "soil"
    LOG_DEVICES = False  # scikit-learn / XGBoost / a small network on the CPU
    REQUIRES = ("scikit-learn", "skl2onnx", "onnxruntime")
    OPTIONAL = {"xgboost": "the XGBoost algorithm", "onnxmltools": "XGBoost models as ONNX",
                "torch": "the fully connected network"}
    # the table beside the HTML report, the card beside the model
    SIDE_FILES = {"OUTPUT_REPORT": (".csv",), "OUTPUT_MODEL": (".json",)}

    def initAlgorithm(self, config=None):
        self.addParameter(QgsProcessingParameterFeatureSource(
            "SAMPLES", self.tr("Soil samples (points)"),
            [QgsProcessing.TypeVectorPoint]))
        self.addParameter(QgsProcessingParameterField(
            "TARGET_FIELDS", self.tr("Target fields (lab values)"), None, "SAMPLES",
            QgsProcessingParameterField.Numeric, allowMultiple=True))
        self.addParameter(QgsProcessingParameterString(
            "TARGET_UNITS", self.tr("Target units (e.g. pH,%)"), optional=True))
        self.addParameter(QgsProcessingParameterRasterLayer(
            "INPUT", self.tr("Sentinel-2 image")))
        self.addParameter(QgsProcessingParameterString(
            "BANDS", self.tr("Band names (e.g. B02,B03,B04)"), optional=True))
        self.addParameter(QgsProcessingParameterMultipleLayers(
            "COVARIATES", self.tr("Covariate rasters (any grid)"), QgsProcessing.TypeRaster,
            optional=True))
        self.addParameter(QgsProcessingParameterEnum(
            "FEATURES", self.tr("Features"), options=FEATURE_OPTIONS, allowMultiple=True,
            defaultValue=[0, 3]))
        self.addParameter(QgsProcessingParameterEnum(
            "ALGORITHM", self.tr("Algorithm"), options=ALGORITHM_OPTIONS, defaultValue=0))
        self.addParameter(QgsProcessingParameterEnum(
            "CV", self.tr("Cross-validation"), options=CV_OPTIONS, defaultValue=0))
        self.addParameter(QgsProcessingParameterNumber(
            "CV_BLOCK_SIZE", self.tr("Spatial block size (metres)"),
            QgsProcessingParameterNumber.Double, 250.0, minValue=0.001))
        self.addParameter(QgsProcessingParameterNumber(
            "CV_FOLDS", self.tr("Number of folds"), QgsProcessingParameterNumber.Integer, 5,
            minValue=2))
        self.addParameter(QgsProcessingParameterField(
            "FOLD_FIELD", self.tr("Fold field"), None, "SAMPLES",
            optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            "INTERVAL", self.tr("Prediction interval coverage"),
            QgsProcessingParameterNumber.Double, 0.9, minValue=0.5, maxValue=0.99))
        for name, label, default in (("TREES", "Trees (Random Forest, XGBoost)", 500),
                                     ("SEED", "Random seed", 0)):
            parameter = QgsProcessingParameterNumber(
                name, self.tr(label), QgsProcessingParameterNumber.Integer, default,
                minValue=1 if name == "TREES" else 0)
            parameter.setFlags(parameter.flags() | parameter.FlagAdvanced)
            self.addParameter(parameter)
        self.addParameter(QgsProcessingParameterFileDestination(
            "OUTPUT_MODEL", self.tr("Model (ONNX)"), self.tr("ONNX files (*.onnx)")))
        self.addParameter(QgsProcessingParameterFileDestination(
            "OUTPUT_REPORT", self.tr("Report"), self.tr("HTML files (*.html)")))
        self.addOutput(QgsProcessingOutputFile("OUTPUT_CARD", self.tr("Model card (JSON)")))
        self.addOutput(QgsProcessingOutputFile("OUTPUT_CSV", self.tr("Scores (CSV)")))
        for name, label in (("R2", "R2 (first target)"), ("RMSE", "RMSE (first target)"),
                            ("BIAS", "Bias (first target)"),
                            ("CCC", "Lin's concordance (first target)"),
                            ("COVERAGE", "Held-out interval coverage (first target)"),
                            ("SAMPLES_USED", "Samples used"),
                            ("SAMPLES_SKIPPED", "Samples skipped")):
            self.addOutput(QgsProcessingOutputNumber(name, self.tr(label)))

    def run_tool(self, parameters, context, callbacks):
        samples, layer = vector_file(self, parameters, "SAMPLES", context, callbacks.log)
        targets = self.parameterAsFields(parameters, "TARGET_FIELDS", context)
        covariates = [lyr.source() for lyr in
                      self.parameterAsLayerList(parameters, "COVARIATES", context)]
        chosen = set(self.parameterAsEnums(parameters, "FEATURES", context))
        cv_method = ("given" if self.parameterAsString(parameters, "FOLD_FIELD", context)
                     else ("spatial", "random")[self.parameterAsEnum(parameters, "CV", context)])
        seed = self.parameterAsInt(parameters, "SEED", context)
        model_path = self.parameterAsFileOutput(parameters, "OUTPUT_MODEL", context)
        report = self.parameterAsFileOutput(parameters, "OUTPUT_REPORT", context)
        if not chosen:
            raise UserError("choose at least one kind of FEATURES")
        result = train_from_files(
            samples, targets, self.parameterAsRasterLayer(parameters, "INPUT", context).source(),
            model_path, layer=layer, covariates=covariates,
            bands=comma_list(self.parameterAsString(parameters, "BANDS", context)),
            units=comma_list(self.parameterAsString(parameters, "TARGET_UNITS", context)),
            fold_field=self.parameterAsString(parameters, "FOLD_FIELD", context) or None,
            pixel=0 in chosen, windows=[s for i, s in ((1, 3), (2, 5)) if i in chosen],
            indices="all" if 3 in chosen else (),
            algorithm=ALGORITHMS[self.parameterAsEnum(parameters, "ALGORITHM", context)],
            cv=CrossValidation(cv_method,
                               self.parameterAsDouble(parameters, "CV_BLOCK_SIZE", context),
                               self.parameterAsInt(parameters, "CV_FOLDS", context), seed),
            coverage=self.parameterAsDouble(parameters, "INTERVAL", context),
            options=LearnerOptions(seed=seed, n_jobs=os.cpu_count() or 1,
                                   trees=self.parameterAsInt(parameters, "TREES", context)),
            report_html=report, report_csv=str(Path(report).with_suffix(".csv")),
            callbacks=callbacks)
        trained = result.result
        callbacks.log(f"{len(trained.table.features)} samples, "
                      f"{len(trained.table.feature_set.names)} features, "
                      f"{trained.cv_description}")
        outputs = {"OUTPUT_MODEL": result.model, "OUTPUT_CARD": result.card,
                   "OUTPUT_REPORT": result.report_html, "OUTPUT_CSV": result.report_csv,
                   "SAMPLES_USED": len(trained.table.features),
                   "SAMPLES_SKIPPED": sum(trained.table.skipped.values())}
        for index, target in enumerate(trained.targets):
            values = {name: getattr(target.scores, key) for name, key in SCORES.items()}
            values["COVERAGE"] = target.coverage
            callbacks.log(f"{target.name}: " + ", ".join(
                f"{name} {value:.4g}" for name, value in values.items()))
            for name, value in values.items():
                outputs[score_key(name, target.name)] = value
                if index == 0:
                    outputs[name] = value
        callbacks.log(f"Please cite {CITATION}")
        return outputs
