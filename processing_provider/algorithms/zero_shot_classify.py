"""rsai:zero_shot_classify: each chip labelled with the description it matches best, with no
training: a class raster on the chip grid."""

from qgis.core import (QgsProcessingParameterNumber, QgsProcessingParameterRasterDestination,
                       QgsProcessingParameterString)

from ...models.clip.queries import parse_labels
from ...models.clip.tools import zero_shot_classify
from ..clip_parameters import (ClipAlgorithm, add_chip_parameters, add_model_parameter,
                               add_source_parameters, chip_source)
from ..model_loading import clip_models
from .. import styles


class ZeroShotClassify(ClipAlgorithm):
    NAME = "zero_shot_classify"
    DISPLAY_NAME = "Zero-shot classification of image chips"

    def initAlgorithm(self, config=None):
        add_source_parameters(self)
        add_model_parameter(self, optional=True)
        self.addParameter(QgsProcessingParameterString(
            "LABELS", self.tr("Labels (separated by |)")))
        self.addParameter(QgsProcessingParameterNumber(
            "TEMPERATURE", self.tr("Temperature"),
            QgsProcessingParameterNumber.Double, None, optional=True, minValue=0.0))
        add_chip_parameters(self, advanced=True)
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", self.tr("Classes")))
        self.addParameter(QgsProcessingParameterRasterDestination(
            "OUTPUT_PROBABILITIES", self.tr("Probabilities"), optional=True,
            createByDefault=False))

    def run_tool(self, parameters, context, callbacks):
        output = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        probabilities = self.parameterAsOutputLayer(parameters, "OUTPUT_PROBABILITIES",
                                                    context) or None
        temperature = parameters.get("TEMPERATURE")
        classes = zero_shot_classify(
            clip_models(self.device(parameters, context), callbacks),
            self.parameterAsString(parameters, "MODEL", context),
            chip_source(self, parameters, context, callbacks.log),
            parse_labels(self.parameterAsString(parameters, "LABELS", context)),
            None if temperature in (None, "") else
            self.parameterAsDouble(parameters, "TEMPERATURE", context),
            output, probabilities, callbacks)
        styles.style_on_load(context, output, styles.write_class_style(output, classes))
        results = {"OUTPUT": output}
        if probabilities:
            styles.style_on_load(context, probabilities, styles.write_value_style(probabilities))
            results["OUTPUT_PROBABILITIES"] = probabilities
        return results
