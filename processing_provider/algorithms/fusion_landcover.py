"""rsai:fusion_landcover: land cover from an aerial image, fused with a satellite raster."""

from qgis.core import (QgsProcessingParameterBand, QgsProcessingParameterRasterDestination,
                       QgsProcessingParameterRasterLayer)

from ...models.tools import FUSION_LANDCOVER
from ..algorithm import RsaiAlgorithm
from ..model_loading import tool_environment
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
        values = {
            "AERIAL": self.parameterAsRasterLayer(parameters, "AERIAL", context).source(),
            "SATELLITE": satellite.source() if satellite is not None else None,
            "SATELLITE_BANDS": self.parameterAsInts(parameters, "SATELLITE_BANDS", context),
            "MODEL": self.parameterAsString(parameters, "MODEL", context),
            "DEVICE": self.device(parameters, context), **self.tiling_values(parameters, context),
            "OUTPUT": output, "OUTPUT_PROBABILITIES": probabilities}
        result = FUSION_LANDCOVER.run(values, tool_environment(callbacks), callbacks)
        styles.style_model_outputs(context, result.card, output, probabilities or None)
        return result.outputs
