"""rsai:run_model: any model card, local ONNX file or Hub ONNX on any raster."""

from qgis.core import (QgsProcessing, QgsProcessingParameterBand,
                       QgsProcessingParameterMultipleLayers,
                       QgsProcessingParameterRasterDestination,
                       QgsProcessingParameterRasterLayer, QgsProcessingParameterString)

from ...models.errors import UserError
from ...models.runtime.engine import Destination, RunOptions, run
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
<b>Bands</b>: input bands in the model's order; empty takes the bands named in the model's card (by band description), else all bands.
<b>Extra inputs</b>: for models with several inputs (e.g. an aerial image and a Sentinel-2 scene), the other rasters in the card's order; Input is the first, and the outputs are on its grid. Each extra raster may have its own grid and CRS: each tile's footprint is read from it (resampled per tile when its pixels do not line up with the model's grid).
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
        self.addParameter(QgsProcessingParameterMultipleLayers(
            "EXTRA_INPUTS", self.tr("Extra inputs (models with several inputs, in order)"),
            QgsProcessing.TypeRaster, optional=True))
        self.add_device_parameter()
        self.add_tiling_parameters()
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", self.tr("Output")))
        self.addParameter(QgsProcessingParameterRasterDestination(
            "OUTPUT_PROBABILITIES", self.tr("Class probabilities"), optional=True,
            createByDefault=False))

    def run_tool(self, parameters, context, callbacks):
        layer = self.parameterAsRasterLayer(parameters, "INPUT", context)
        extra = [extra.source() for extra in
                 self.parameterAsLayerList(parameters, "EXTRA_INPUTS", context)]
        output = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        probabilities = self.parameterAsOutputLayer(parameters, "OUTPUT_PROBABILITIES", context)
        card, predictor = load_model(self.parameterAsString(parameters, "MODEL", context),
                                     self.device(parameters, context), callbacks,
                                     tasks=("segmentation", "regression"))
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
        styles.style_model_output(context, output, card)
        results = {"OUTPUT": output}
        if probabilities:
            results["OUTPUT_PROBABILITIES"] = probabilities
        return results
