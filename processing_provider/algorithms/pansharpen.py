"""rsai:pansharpen: fuse a PAN and an MS raster with a classical method or an ADWM network."""

from qgis.core import (QgsProcessingParameterEnum, QgsProcessingParameterFile,
                       QgsProcessingParameterRasterDestination, QgsProcessingParameterRasterLayer)

from ...models import registry
from ...models.errors import UserError
from ...models.pansharpening import adwm, rasters
from ...models.pansharpening.filters import get_sensor
from ..algorithm import RsaiAlgorithm
from ..model_loading import resolve_model_parameter
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
    """(model, torch device, card) for an ADWM METHOD; WEIGHTS overrides the card's source.
    The MS's band count is checked before anything is downloaded."""
    card = registry.find_card(method, [settings.user_cards_dir()])
    rasters.check_model_bands(pair, len(rasters.ms_input(card).bands))
    local = algorithm.parameterAsFile(parameters, "WEIGHTS", context)
    if local:
        card = card.with_local_weights(local)
        weights = registry.weights_path(card, settings.weights_store(callbacks.log))
        source = f"local file {weights}"
    else:
        resolved = resolve_model_parameter(method, callbacks)
        card, weights = resolved.card, resolved.weights
        source = card.weights.url if card.weights and card.weights.url else str(weights)
    device = algorithm.device(parameters, context)
    model, dev, described = adwm.load_for_card(card, weights, device)
    callbacks.log(f"Model {card.id} ({card.licence}) from {source} (file {weights}); "
                  f"device {described}")
    return model, dev, card


def open_checked_pair(parameters, context, algorithm, callbacks):
    """(pair, method, sensor, unit_scale): the PAN/MS pair checked, the sensor resolved (from
    the metadata for auto) and the value range warned about."""
    pan = algorithm.parameterAsRasterLayer(parameters, "PAN", context).source()
    ms = algorithm.parameterAsRasterLayer(parameters, "MS", context).source()
    method, sensor = method_and_sensor(algorithm, parameters, context)
    pair = rasters.open_pair(pan, ms)
    sensor = rasters.resolve_sensor(sensor, pair, callbacks)
    warnings, unit_scale = rasters.check_values(pair, sensor)
    for warning in warnings:
        callbacks.warn(warning)
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
        output = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        output_type = rasters.OUTPUT_TYPES[self.parameterAsEnum(parameters, "OUTPUT_TYPE", context)]
        pair, method, sensor, unit_scale = open_checked_pair(parameters, context, self, callbacks)
        callbacks.log(f"PAN {pair.pan.width} x {pair.pan.height}, MS {pair.band_count} bands, "
                      f"ratio {pair.ratio}, method {method}, sensor {sensor}")
        if rasters.is_deep(method):
            model, dev, card = load_deep_model(self, parameters, context, method, pair,
                                               callbacks.part(0, 0.1))
            scale = 1.0 if unit_scale else get_sensor(sensor).max_value
            rasters.pansharpen_deep(pair, model, card, output, scale, output_type, dev,
                                    callbacks=callbacks.part(0.1, 1.0))
        else:
            if parameters.get("WEIGHTS"):
                raise UserError("WEIGHTS is for the ADWM methods; clear it or choose an ADWM METHOD.")
            rasters.pansharpen_classical(pair, method, output, sensor, output_type,
                                         callbacks=callbacks)
        qml = styles.write_rgb_style(output, *rasters.rgb_bands(sensor, pair.band_count))
        styles.style_on_load(context, output, qml)
        return {"OUTPUT": output}
