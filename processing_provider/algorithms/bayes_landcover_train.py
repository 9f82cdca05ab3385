"""rsai:bayes_landcover_train: fit a Bayesian QDA land-cover model on labelled polygons or points."""

from pathlib import Path

from qgis.core import (QgsProcessing, QgsProcessingOutputFile, QgsProcessingOutputNumber,
                       QgsProcessingParameterFeatureSource, QgsProcessingParameterField,
                       QgsProcessingParameterFileDestination, QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterLayer, QgsProcessingParameterString)

from ...models.landcover_bayes import (DEFAULT_PRIOR_STRENGTH, train_from_files,
                                       uncertainty_from_text)
from ..algorithm import RsaiAlgorithm
from ..vectors import vector_file

CITATION = ("Bilson & Pustogvar, \"Uncertainty-aware Bayesian machine learning modelling of "
            "land cover classification\", arXiv 2503.21510")
SCORES = {"OVERALL_ACCURACY": "overall_accuracy", "KAPPA": "kappa", "LOG_LOSS": "log_loss",
          "ECE": "ece"}


def add_uncertainty_parameters(algorithm) -> None:
    """UNCERTAINTY and UNCERTAINTY_SIGMA, the same in the train and classify tools."""
    algorithm.addParameter(QgsProcessingParameterRasterLayer(
        "UNCERTAINTY", algorithm.tr("Measurement sigma raster"), optional=True))
    algorithm.addParameter(QgsProcessingParameterString(
        "UNCERTAINTY_SIGMA", algorithm.tr("Measurement sigma (values or %)"), optional=True))


def measurement_uncertainty(algorithm, parameters, context):
    sigma_layer = algorithm.parameterAsRasterLayer(parameters, "UNCERTAINTY", context)
    return uncertainty_from_text(
        sigma_layer.source() if sigma_layer else None,
        algorithm.parameterAsString(parameters, "UNCERTAINTY_SIGMA", context))


class BayesLandcoverTrain(RsaiAlgorithm):
    NAME = "bayes_landcover_train"
    DISPLAY_NAME = "Train Bayesian land cover classifier"
    GROUP = "Land cover"
    GROUP_ID = "landcover"
    ICON = "bayes_landcover_train.svg"
    LOG_DEVICES = False  # numpy on the CPU; no model backend involved
    OPTIONAL = {"scikit-learn": "the QDA and random-forest rows of the accuracy report"}
    SIDE_FILES = {"OUTPUT_REPORT": (".csv",)}  # the table beside the HTML report

    def initAlgorithm(self, config=None):
        self.addParameter(QgsProcessingParameterRasterLayer("INPUT", self.tr("Input raster")))
        self.addParameter(QgsProcessingParameterFeatureSource(
            "TRAINING", self.tr("Training polygons or points"),
            [QgsProcessing.TypeVectorPolygon, QgsProcessing.TypeVectorPoint]))
        self.addParameter(QgsProcessingParameterField(
            "CLASS_FIELD", self.tr("Class field"), None, "TRAINING"))
        self.addParameter(QgsProcessingParameterField(
            "NAME_FIELD", self.tr("Class name field"), None, "TRAINING", optional=True))
        add_uncertainty_parameters(self)
        prior = QgsProcessingParameterNumber(
            "PRIOR_STRENGTH", self.tr("Prior strength"),
            QgsProcessingParameterNumber.Double, DEFAULT_PRIOR_STRENGTH, minValue=0)
        prior.setFlags(prior.flags() | prior.FlagAdvanced)
        self.addParameter(prior)
        self.addParameter(QgsProcessingParameterNumber(
            "TEST_FRACTION", self.tr("Test fraction (by polygon)"),
            QgsProcessingParameterNumber.Double, 0.3, minValue=0, maxValue=0.9))
        self.addParameter(QgsProcessingParameterFileDestination(
            "OUTPUT_MODEL", self.tr("Model"), self.tr("JSON files (*.json)")))
        self.addParameter(QgsProcessingParameterFileDestination(
            "OUTPUT_REPORT", self.tr("Accuracy report"), self.tr("HTML files (*.html)")))
        self.addOutput(QgsProcessingOutputFile("OUTPUT_CSV", self.tr("Accuracy table (CSV)")))
        for name, label in (("OVERALL_ACCURACY", "Overall accuracy"), ("KAPPA", "Cohen's kappa"),
                            ("LOG_LOSS", "Log-loss"), ("ECE", "Expected calibration error"),
                            ("TRAIN_PIXELS", "Training pixels"), ("TEST_PIXELS", "Test pixels")):
            self.addOutput(QgsProcessingOutputNumber(name, self.tr(label)))

    def run_tool(self, parameters, context, callbacks):
        raster = self.parameterAsRasterLayer(parameters, "INPUT", context).source()
        vector, layer = vector_file(self, parameters, "TRAINING", context, callbacks.log)
        model_path = self.parameterAsFileOutput(parameters, "OUTPUT_MODEL", context)
        report = self.parameterAsFileOutput(parameters, "OUTPUT_REPORT", context)
        csv = str(Path(report).with_suffix(".csv")) if report else None
        result = train_from_files(
            raster, vector, self.parameterAsString(parameters, "CLASS_FIELD", context),
            model_path, layer=layer,
            name_field=self.parameterAsString(parameters, "NAME_FIELD", context) or None,
            report_html=report or None, report_csv=csv,
            test_fraction=self.parameterAsDouble(parameters, "TEST_FRACTION", context),
            prior_strength=self.parameterAsDouble(parameters, "PRIOR_STRENGTH", context),
            uncertainty=measurement_uncertainty(self, parameters, context), callbacks=callbacks)
        callbacks.log(f"{len(result.model.class_ids)} classes, {result.n_train} training / "
                      f"{result.n_test} test pixels; model saved to {result.model_path}")
        for s in result.scores:
            callbacks.log(f"{s.method}: accuracy {s.overall_accuracy:.4f}, kappa {s.kappa:.4f}, "
                          f"log-loss {s.log_loss:.4f}, ECE {s.ece:.4f}")
        callbacks.log(f"Please cite {CITATION}")
        ours = result.scores[0].row() if result.scores else {}
        outputs = {"OUTPUT_MODEL": result.model_path, "OUTPUT_REPORT": result.report_html,
                   "OUTPUT_CSV": result.report_csv, "TRAIN_PIXELS": result.n_train,
                   "TEST_PIXELS": result.n_test}
        outputs.update({name: ours.get(key) for name, key in SCORES.items()})
        return outputs
