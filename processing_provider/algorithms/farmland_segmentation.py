"""rsai:farmland_segmentation: field / boundary classes from two Sentinel-2 dates (FTW)."""

from qgis.core import (QgsProcessingParameterRasterDestination, QgsProcessingParameterRasterLayer,
                       QgsProcessingParameterString)

from ...models.farmland.inputs import check_two_dates
from ...models.tools import FARMLAND_SEGMENTATION
from ..algorithm import RsaiAlgorithm
from ..model_loading import tool_environment
from .. import styles


class FarmlandSegmentation(RsaiAlgorithm):
    NAME = "farmland_segmentation"
    DISPLAY_NAME = "Farmland segmentation (Fields of The World, Sentinel-2)"
    GROUP = "Farmland"
    GROUP_ID = "farmland"
    ICON = "farmland_segmentation.svg"
    REQUIRES = ("torch", "segmentation-models-pytorch")
    OPTIONAL = {"huggingface_hub": "downloading the FTW weights"}
    LOCAL_WEIGHTS = ("Or download the weights file (.pth) on another machine and give it as "
                     "WEIGHTS.")

    def initAlgorithm(self, config=None):
        for name, label in (("INPUT_A", "Window A (planting)"),
                            ("INPUT_B", "Window B (harvest)"),
                            ("INPUT", "Or: 8-band stack, A then B")):
            self.addParameter(QgsProcessingParameterRasterLayer(name, self.tr(label), optional=True))
        self.add_model_parameter(("segmentation",), default="ftw-3class", inputs=("date_a",))
        self.add_weights_parameter("Weights file (.pth)")
        bands = QgsProcessingParameterString("BANDS", self.tr("Band numbers"), optional=True)
        bands.setFlags(bands.flags() | bands.FlagAdvanced)
        self.addParameter(bands)
        self.add_device_parameter()
        self.add_tiling_parameters()
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", self.tr("Fields")))
        self.addParameter(QgsProcessingParameterRasterDestination(
            "OUTPUT_PROBABILITIES", self.tr("Class probabilities"), optional=True,
            createByDefault=False))

    def run_tool(self, parameters, context, callbacks):
        def source(name):
            layer = self.parameterAsRasterLayer(parameters, name, context)
            return layer.source() if layer is not None else None

        check_two_dates(source("INPUT_A"), source("INPUT_B"))  # before any download
        output = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        probabilities = self.parameterAsOutputLayer(parameters, "OUTPUT_PROBABILITIES", context)
        values = {"INPUT_A": source("INPUT_A"), "INPUT_B": source("INPUT_B"),
                  "INPUT": source("INPUT"),
                  "MODEL": self.parameterAsString(parameters, "MODEL", context),
                  "WEIGHTS": self.parameterAsFile(parameters, "WEIGHTS", context) or None,
                  "BANDS": self.parameterAsString(parameters, "BANDS", context),
                  "DEVICE": self.device(parameters, context),
                  **self.tiling_values(parameters, context),
                  "OUTPUT": output, "OUTPUT_PROBABILITIES": probabilities}
        result = FARMLAND_SEGMENTATION.run(values, tool_environment(callbacks), callbacks)
        styles.style_model_outputs(context, result.card, output, probabilities or None)
        return result.outputs
