"""rsai:run_model: any model card, local ONNX file or Hub ONNX on any raster."""

from qgis.core import (QgsProcessingParameterBand, QgsProcessingParameterRasterDestination,
                       QgsProcessingParameterRasterLayer, QgsProcessingParameterString)

from ...models.runtime.engine import RunOptions, run_on_raster
from ..algorithm import RsaiAlgorithm
from ..models import load_model
from .. import styles


class RunModel(RsaiAlgorithm):
    NAME = "run_model"
    DISPLAY_NAME = "Run a model on a raster"
    HELP = """Runs a segmentation or regression model over a raster, tile by tile, and writes \
a styled class raster (or value raster) on the input's grid.

<b>Model</b>: the id of a model card (see the model manager), a local .onnx file (its \
metadata or a card JSON beside it describes bands and classes; Deepness model-zoo files work \
too), or a Hugging Face reference <i>owner/repo@revision:path/model.onnx</i>.
<b>Bands</b>: input bands in the model's order; empty takes all bands.
<b>Device</b>: auto uses a GPU when onnxruntime or torch finds one; the log names the device \
actually used.
<b>Tile size / overlap</b>: empty takes the model card's values; overlapping tiles are \
blended so no seams show. Memory depends on tile and batch size, not on the raster size.

Outputs: a Byte class raster with the model's colours and class names (nodata 255) and \
optionally class probabilities (Float32, one band per class); for regression models a Float32 \
raster with the unit in each band's name (nodata -9999). Input nodata stays nodata.

Weights are fetched once into the cache (Settings > Options > Processing > Providers) and \
verified by sha256 on every use. The licence and citation of each model are on its card."""

    def initAlgorithm(self, config=None):
        self.addParameter(QgsProcessingParameterRasterLayer("INPUT", self.tr("Input raster")))
        self.addParameter(QgsProcessingParameterString(
            "MODEL", self.tr("Model (card id, .onnx file or owner/repo@revision:file.onnx)")))
        self.addParameter(QgsProcessingParameterBand(
            "BANDS", self.tr("Bands in the model's order (empty: all)"), None, "INPUT",
            optional=True, allowMultiple=True))
        self.add_device_parameter()
        self.add_tiling_parameters()
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", self.tr("Output")))
        self.addParameter(QgsProcessingParameterRasterDestination(
            "OUTPUT_PROBABILITIES", self.tr("Class probabilities"), optional=True,
            createByDefault=False))

    def run_tool(self, parameters, context, callbacks):
        layer = self.parameterAsRasterLayer(parameters, "INPUT", context)
        output = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        probabilities = self.parameterAsOutputLayer(parameters, "OUTPUT_PROBABILITIES", context)
        card, predictor = load_model(self.parameterAsString(parameters, "MODEL", context),
                                     self.device(parameters, context), callbacks,
                                     tasks=("segmentation", "regression"))
        run_on_raster(layer.source(), card, predictor, output, probabilities or None,
                      RunOptions(bands=self.parameterAsInts(parameters, "BANDS", context) or None,
                                 **self.tiling(parameters, context)),
                      callbacks.part(10, 95).progress, callbacks.is_cancelled, callbacks.log)
        styles.style_model_output(context, output, card)
        results = {"OUTPUT": output}
        if probabilities:
            results["OUTPUT_PROBABILITIES"] = probabilities
        return results
