"""rsai:bayes_landcover_classify: classify a raster with a trained Bayesian land-cover model."""

from pathlib import Path

from qgis.core import (QgsProcessingOutputNumber, QgsProcessingParameterFile,
                       QgsProcessingParameterRasterDestination, QgsProcessingParameterRasterLayer)

from ...models.tools import BAYES_LANDCOVER_CLASSIFY
from .. import styles
from ..algorithm import RsaiAlgorithm
from ..model_loading import tool_environment
from .bayes_landcover_train import CITATION, add_uncertainty_parameters


class BayesLandcoverClassify(RsaiAlgorithm):
    NAME = "bayes_landcover_classify"
    DISPLAY_NAME = "Classify with Bayesian land cover model"
    GROUP = "Land cover"
    GROUP_ID = "landcover"
    ICON = "bayes_landcover_classify.svg"
    LOG_DEVICES = False

    def initAlgorithm(self, config=None):
        self.addParameter(QgsProcessingParameterRasterLayer("INPUT", self.tr("Input raster")))
        self.addParameter(QgsProcessingParameterFile(
            "MODEL", self.tr("Model (.json)"), extension="json"))
        add_uncertainty_parameters(self)
        self.addParameter(QgsProcessingParameterRasterLayer(
            "MASK", self.tr("Mask (0: skip)"), optional=True))
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", self.tr("Classes")))
        self.addParameter(QgsProcessingParameterRasterDestination(
            "OUTPUT_PROBABILITIES", self.tr("Class probabilities"), optional=True,
            createByDefault=False))
        self.addParameter(QgsProcessingParameterRasterDestination(
            "OUTPUT_UNCERTAINTY", self.tr("Uncertainty"),
            optional=True, createByDefault=False))
        self.addOutput(QgsProcessingOutputNumber("CLASSIFIED_PIXELS",
                                                 self.tr("Classified pixels")))

    def run_tool(self, parameters, context, callbacks):
        model_file = self.parameterAsFile(parameters, "MODEL", context)
        output = self.parameterAsOutputLayer(parameters, "OUTPUT", context)

        def source(name):
            layer = self.parameterAsRasterLayer(parameters, name, context)
            return layer.source() if layer else None

        values = {"INPUT": source("INPUT"), "MODEL": model_file,
                  "UNCERTAINTY": source("UNCERTAINTY"),
                  "UNCERTAINTY_SIGMA": self.parameterAsString(parameters, "UNCERTAINTY_SIGMA",
                                                              context),
                  "MASK": source("MASK"), "OUTPUT": output,
                  **{name: self.parameterAsOutputLayer(parameters, name, context) or None
                     for name in ("OUTPUT_PROBABILITIES", "OUTPUT_UNCERTAINTY")}}
        result = BAYES_LANDCOVER_CLASSIFY.run(values, tool_environment(callbacks), callbacks)
        callbacks.log(f"Please cite {CITATION}")
        qml = styles.write_class_style(output, result.details["classes"])
        about = Path(model_file).stem
        styles.style_on_load(context, output, qml, f"Classes ({about})")
        probabilities, uncertainty = (result.outputs.get("OUTPUT_PROBABILITIES"),
                                      result.outputs.get("OUTPUT_UNCERTAINTY"))
        for path, label, qml in (
                (probabilities, "Class probabilities",
                 probabilities and styles.write_probability_style(probabilities)),
                (uncertainty, "Uncertainty", uncertainty and styles.write_value_style(uncertainty))):
            if path:
                styles.style_on_load(context, path, qml, f"{label} ({about})", below=output)
        return {**result.outputs, "CLASSIFIED_PIXELS": result.details["CLASSIFIED_PIXELS"]}
