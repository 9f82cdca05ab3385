"""rsai:run_model: any model card, local ONNX file or Hub ONNX on any raster."""

from qgis.core import (QgsProcessing, QgsProcessingParameterBand,
                       QgsProcessingParameterMultipleLayers,
                       QgsProcessingParameterRasterDestination,
                       QgsProcessingParameterRasterLayer)

from ...models.errors import UserError
from ...models.runtime.engine import Destination, RunOptions, run
from ..algorithm import RsaiAlgorithm
from ..model_loading import load_card_and_predictor
from .. import styles

TASKS = ("segmentation", "regression")


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
        layer = self.parameterAsRasterLayer(parameters, "INPUT", context)
        extra = [extra.source() for extra in
                 self.parameterAsLayerList(parameters, "EXTRA_INPUTS", context)]
        output = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        probabilities = self.parameterAsOutputLayer(parameters, "OUTPUT_PROBABILITIES", context)
        card, predictor = load_card_and_predictor(
            self.parameterAsString(parameters, "MODEL", context),
            self.device(parameters, context), callbacks, tasks=TASKS)
        if card.method.get("features"):  # e.g. a soil model: its own feature recipe
            raise UserError(f"{card.title} computes its own features from the rasters; run it "
                            f"with its method's tool (rsai:{card.method.get('name')}_predict).")
        if len(extra) > len(card.inputs) - 1:
            raise UserError(f"{card.title} takes {len(card.inputs)} input(s) "
                            f"({', '.join(spec.name for spec in card.inputs)}) but "
                            f"{1 + len(extra)} rasters were given; remove the extra inputs.")
        paths = {spec.name: path for spec, path in zip(card.inputs, [layer.source(), *extra])}
        destinations = [Destination(output)]
        if probabilities:
            destinations.append(Destination(probabilities, what="probabilities"))
        run(card, predictor, paths, destinations,
            RunOptions(bands={card.primary.name: self.parameterAsInts(parameters, "BANDS",
                                                                      context) or None},
                       **self.tiling(parameters, context)),
            callbacks.part(0.1, 0.95))
        styles.style_model_outputs(context, card, output, probabilities or None)
        results = {"OUTPUT": output}
        if probabilities:
            results["OUTPUT_PROBABILITIES"] = probabilities
        return results
