"""rsai:zero_shot_classify: each chip labelled with the description it matches best, with no
training: a class raster on the chip grid."""

from qgis.core import (QgsProcessingParameterNumber, QgsProcessingParameterRasterDestination,
                       QgsProcessingParameterString)

from ...models.clip.queries import parse_labels
from ...models.clip.tools import zero_shot_classify
from ..algorithm import RsaiAlgorithm
from ..clip_parameters import (CHIP_HELP, add_chip_parameters, add_model_parameter,
                               add_source_parameters, chip_source)
from ..models import clip_models
from .. import styles


class ZeroShotClassify(RsaiAlgorithm):
    NAME = "zero_shot_classify"
    DISPLAY_NAME = "Zero-shot classification of image chips"
    GROUP = "Search imagery with words"
    GROUP_ID = "clip"
    HELP = """Labels every chip with the description it matches best, with no training \
data: probabilities are softmax(temperature x cosine similarity) of the chip's CLIP embedding \
with each label's.

<b>Chip index</b> or <b>raster</b>: as in "Search imagery with words" (an index: only the \
labels are embedded; MODEL may be left empty).
<b>Labels</b>: one description per class, separated by |, e.g. \
"farmland|forest|water|residential area" (at least two; fuller descriptions such as "an \
aerial image of dense forest" often work better).
<b>Temperature</b>: the multiplier of the cosine similarities before the softmax; empty takes \
the model's own (its trained logit scale, about 100). Lower values give softer probabilities; \
the classes do not change.

Outputs: a Byte class raster on the chip grid (one pixel per chip, value i = label i, the \
labels as class names with colours; nodata 255 where no chip was embedded) and optionally the \
probabilities (Float32, one band per label, named P(label)).

""" + CHIP_HELP + """

Cite the model's paper (see Embed image chips); licences on each model card."""

    def initAlgorithm(self, config=None):
        add_source_parameters(self)
        add_model_parameter(self, optional=True)
        self.addParameter(QgsProcessingParameterString(
            "LABELS", self.tr("Labels, separated by | (e.g. farmland|forest|water)")))
        self.addParameter(QgsProcessingParameterNumber(
            "TEMPERATURE", self.tr("Temperature (empty: the model's)"),
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
