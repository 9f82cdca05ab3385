"""rsai:pansharpen: fuse a PAN and an MS raster with a classical method or an ADWM network."""

from qgis.core import (QgsProcessingParameterEnum, QgsProcessingParameterFile,
                       QgsProcessingParameterRasterDestination, QgsProcessingParameterRasterLayer)

from ...models.pansharpening import rasters, tool as pansharpening_tool
from ...models.pansharpening.tool import load_adwm
from ...models.tools import PANSHARPEN
from ..algorithm import RsaiAlgorithm
from ..model_loading import tool_environment
from .. import settings, styles

CITATION_ADWM = ("Huang, Chen, Ren, Peng, Deng: A General Adaptive Dual-level Weighting Mechanism "
                 "for Remote Sensing Pansharpening, CVPR 2025 (arXiv 2503.13214)")


def add_method_parameters(algorithm, method_label: str, optional_method: bool = False) -> None:
    """METHOD, SENSOR, WEIGHTS and DEVICE, shared by pansharpen and pansharpening_quality."""
    algorithm.addParameter(QgsProcessingParameterEnum(
        "METHOD", algorithm.tr(method_label), options=[label for _, label in rasters.METHODS],
        defaultValue=1, optional=optional_method))
    algorithm.addParameter(QgsProcessingParameterEnum(
        "SENSOR", algorithm.tr("Sensor"),
        options=list(rasters.SENSOR_OPTIONS), defaultValue=rasters.SENSOR_OPTIONS.index("auto")))
    algorithm.addParameter(QgsProcessingParameterFile(
        "WEIGHTS", algorithm.tr("ADWM weights file (.pth)"), optional=True))
    algorithm.add_device_parameter()


def method_and_sensor(algorithm, parameters, context) -> tuple[str, str]:
    method = rasters.METHODS[algorithm.parameterAsEnum(parameters, "METHOD", context)][0]
    sensor = rasters.SENSOR_OPTIONS[algorithm.parameterAsEnum(parameters, "SENSOR", context)]
    return method, sensor


def load_deep_model(algorithm, parameters, context, method: str, pair, callbacks):
    """(model, torch device, card) for an ADWM METHOD; WEIGHTS overrides the card's source."""
    model, dev, card, _ = load_adwm(
        method, pair, algorithm.parameterAsFile(parameters, "WEIGHTS", context) or None,
        algorithm.device(parameters, context), settings.weights_store(callbacks.log),
        [settings.user_cards_dir()], callbacks)
    return model, dev, card


def open_checked_pair(parameters, context, algorithm, callbacks):
    """(pair, method, sensor, unit_scale) (models/pansharpening/tool.py)."""
    method, sensor = method_and_sensor(algorithm, parameters, context)
    pair, sensor, unit_scale = pansharpening_tool.open_checked_pair(
        algorithm.parameterAsRasterLayer(parameters, "PAN", context).source(),
        algorithm.parameterAsRasterLayer(parameters, "MS", context).source(), sensor, callbacks)
    return pair, method, sensor, unit_scale


class Pansharpen(RsaiAlgorithm):
    NAME = "pansharpen"
    DISPLAY_NAME = "Pansharpen (classical methods and ADWM)"
    GROUP = "Pansharpening"
    GROUP_ID = "pansharpening"
    OPTIONAL = {"torch": "the ADWM methods"}
    LOCAL_WEIGHTS = "Or download the ADWM weights file (.pth) elsewhere and give it as WEIGHTS."

    def initAlgorithm(self, config=None):
        self.addParameter(QgsProcessingParameterRasterLayer("PAN", self.tr("Panchromatic raster (PAN)")))
        self.addParameter(QgsProcessingParameterRasterLayer("MS", self.tr("Multispectral raster (MS)")))
        add_method_parameters(self, "Method")
        output_type = QgsProcessingParameterEnum(
            "OUTPUT_TYPE", self.tr("Output data type"),
            options=["Float32 (DN, nodata -9999)", "same as the MS (rounded, clipped)"],
            defaultValue=0)
        output_type.setFlags(output_type.flags() | output_type.FlagAdvanced)
        self.addParameter(output_type)
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", self.tr("Pansharpened")))

    def run_tool(self, parameters, context, callbacks):
        method, sensor = method_and_sensor(self, parameters, context)
        output = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        values = {
            "PAN": self.parameterAsRasterLayer(parameters, "PAN", context).source(),
            "MS": self.parameterAsRasterLayer(parameters, "MS", context).source(),
            "METHOD": method, "SENSOR": sensor,
            "WEIGHTS": self.parameterAsFile(parameters, "WEIGHTS", context) or None,
            "DEVICE": self.device(parameters, context),
            "OUTPUT_TYPE": rasters.OUTPUT_TYPES[self.parameterAsEnum(parameters, "OUTPUT_TYPE",
                                                                     context)],
            "OUTPUT": output}
        result = PANSHARPEN.run(values, tool_environment(callbacks), callbacks)
        qml = styles.write_rgb_style(output, *result.details["rgb"])
        styles.style_on_load(context, output, qml)
        return result.outputs
