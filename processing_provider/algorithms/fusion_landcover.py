"""rsai:fusion_landcover: land cover from an aerial image, fused with a satellite raster."""

from qgis.core import (QgsProcessingParameterBand, QgsProcessingParameterRasterDestination,
                       QgsProcessingParameterRasterLayer)

from ...models.fusion.landcover import classify_land_cover
from ...models.runtime.engine import RunOptions
from ..algorithm import RsaiAlgorithm
from ..model_loading import load_card_and_predictor
from .. import styles


class FusionLandcover(RsaiAlgorithm):
    NAME = "fusion_landcover"
    DISPLAY_NAME = "Land cover from aerial + satellite imagery (DeepLabV3+ fusion)"
    GROUP = "Land cover"
    GROUP_ID = "landcover"
    OPTIONAL = {"onnxruntime": "ONNX models", "torch": "models whose weights are not ONNX",
                "huggingface_hub": "models from the Hugging Face Hub"}
    LOCAL_WEIGHTS = ("Or give MODEL as a local file: an .onnx model, or a card .json next to "
                     "the weights file it describes.")

    def initAlgorithm(self, config=None):
        self.addParameter(QgsProcessingParameterRasterLayer(
            "AERIAL", self.tr("Aerial image (RGB or RGBN)")))
        self.addParameter(QgsProcessingParameterRasterLayer(
            "SATELLITE", self.tr("Satellite image"),
            optional=True))
        bands = QgsProcessingParameterBand(
            "SATELLITE_BANDS", self.tr("Satellite bands"), None, "SATELLITE", optional=True,
            allowMultiple=True)
        bands.setFlags(bands.flags() | bands.FlagAdvanced)
        self.addParameter(bands)
        self.add_model_parameter(("segmentation",), inputs=("aerial", "input"))
        self.add_device_parameter()
        self.add_tiling_parameters()
        self.addParameter(QgsProcessingParameterRasterDestination(
            "OUTPUT", self.tr("Land cover")))
        self.addParameter(QgsProcessingParameterRasterDestination(
            "OUTPUT_PROBABILITIES", self.tr("Class probabilities"), optional=True,
            createByDefault=False))

    def run_tool(self, parameters, context, callbacks):
        satellite = self.parameterAsRasterLayer(parameters, "SATELLITE", context)
        output = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        probabilities = self.parameterAsOutputLayer(parameters, "OUTPUT_PROBABILITIES", context)
        card, predictor = load_card_and_predictor(
            self.parameterAsString(parameters, "MODEL", context), self.device(parameters, context),
            callbacks, tasks=("segmentation",))
        classify_land_cover(
            card, predictor, output, probabilities or None,
            aerial=self.parameterAsRasterLayer(parameters, "AERIAL", context).source(),
            satellite=satellite.source() if satellite is not None else None,
            satellite_bands=self.parameterAsInts(parameters, "SATELLITE_BANDS", context),
            options=RunOptions(**self.tiling(parameters, context)),
            callbacks=callbacks.part(0.1, 1))
        styles.style_model_outputs(context, card, output, probabilities or None)
        results = {"OUTPUT": output}
        if probabilities:
            results["OUTPUT_PROBABILITIES"] = probabilities
        return results
