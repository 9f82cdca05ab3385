"""rsai:farmland_segmentation: field / boundary classes from two Sentinel-2 dates (FTW)."""

from qgis.core import (QgsProcessingParameterRasterDestination, QgsProcessingParameterRasterLayer,
                       QgsProcessingParameterString)

from ...models.errors import UserError
from ...models.farmland.segment import segment_fields
from ...models.runtime.engine import RunOptions
from ..algorithm import RsaiAlgorithm
from ..model_loading import load_card_and_predictor
from .. import styles


def parse_band_list(text: str) -> list:
    """'1,2,3,4' or '1 2 3 4' -> [1, 2, 3, 4]; empty -> []."""
    try:
        return [int(v) for v in text.replace(",", " ").split()]
    except ValueError:
        raise UserError(f"BANDS must be band numbers separated by commas, e.g. 3,2,1,7; got {text!r}")


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

        output = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        probabilities = self.parameterAsOutputLayer(parameters, "OUTPUT_PROBABILITIES", context)
        card, predictor = load_card_and_predictor(
            self.parameterAsString(parameters, "MODEL", context), self.device(parameters, context),
            callbacks, tasks=("segmentation",),
            weights_file=self.parameterAsFile(parameters, "WEIGHTS", context) or None)
        segment_fields(card, predictor, output, probabilities or None,
                       input_a=source("INPUT_A"), input_b=source("INPUT_B"), stack=source("INPUT"),
                       bands=parse_band_list(self.parameterAsString(parameters, "BANDS", context)),
                       options=RunOptions(**self.tiling(parameters, context)),
                       callbacks=callbacks.part(0.1, 1))
        styles.style_model_outputs(context, card, output, probabilities or None)
        results = {"OUTPUT": output}
        if probabilities:
            results["OUTPUT_PROBABILITIES"] = probabilities
        return results
