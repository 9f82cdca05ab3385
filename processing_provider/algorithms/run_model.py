"""rsai:run_model: any model card, local ONNX file or Hub ONNX on any raster."""

from qgis.core import (QgsProcessing, QgsProcessingParameterBand,
                       QgsProcessingParameterMultipleLayers,
                       QgsProcessingParameterRasterDestination,
                       QgsProcessingParameterRasterLayer)

from ...models.tools import RUN_MODEL, RUN_MODEL_TASKS as TASKS
from ..algorithm import RsaiAlgorithm
from ..model_loading import tool_environment
from .. import styles


class RunModel(RsaiAlgorithm):
    NAME = "run_model"
    DISPLAY_NAME = "Run a model on a raster"
    OPTIONAL = {"onnxruntime": "ONNX models", "torch": "models whose weights are not ONNX",
                "huggingface_hub": "models from the Hugging Face Hub"}
    LOCAL_WEIGHTS = ("Or give MODEL as a local file: an .onnx model, or a card .json next to "
                     "the weights file it describes.")

    def initAlgorithm(self, config=None):
        self.addParameter(QgsProcessingParameterRasterLayer("INPUT", self.tr("Input raster")))
        self.add_model_parameter(TASKS)
        self.addParameter(QgsProcessingParameterBand(
            "BANDS", self.tr("Bands, in the model's order"), None, "INPUT", optional=True,
            allowMultiple=True))
        self.addParameter(QgsProcessingParameterMultipleLayers(
            "EXTRA_INPUTS", self.tr("Extra inputs"), QgsProcessing.TypeRaster, optional=True))
        self.add_device_parameter()
        self.add_tiling_parameters()
        self.addParameter(QgsProcessingParameterRasterDestination(
            "OUTPUT", self.tr("Classes or values")))
        self.addParameter(QgsProcessingParameterRasterDestination(
            "OUTPUT_PROBABILITIES", self.tr("Class probabilities"), optional=True,
            createByDefault=False))

    def run_tool(self, parameters, context, callbacks):
        output = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        probabilities = self.parameterAsOutputLayer(parameters, "OUTPUT_PROBABILITIES", context)
        values = {
            "INPUT": self.parameterAsRasterLayer(parameters, "INPUT", context).source(),
            "MODEL": self.parameterAsString(parameters, "MODEL", context),
            "BANDS": self.parameterAsInts(parameters, "BANDS", context),
            "EXTRA_INPUTS": [extra.source() for extra in
                             self.parameterAsLayerList(parameters, "EXTRA_INPUTS", context)],
            "DEVICE": self.device(parameters, context), **self.tiling_values(parameters, context),
            "OUTPUT": output, "OUTPUT_PROBABILITIES": probabilities}
        result = RUN_MODEL.run(values, tool_environment(callbacks), callbacks)
        styles.style_model_outputs(context, result.card, output, probabilities or None)
        return result.outputs
