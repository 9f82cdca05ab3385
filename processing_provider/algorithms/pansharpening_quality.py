"""rsai:pansharpening_quality: quality indices of a pansharpening, at full or reduced resolution."""

from qgis.core import (QgsProcessingOutputNumber, QgsProcessingParameterEnum,
                       QgsProcessingParameterFileDestination, QgsProcessingParameterRasterLayer)

from ...models.errors import UserError
from ...models.pansharpening import metrics, quality, rasters
from ...models.pansharpening.filters import get_sensor
from ..algorithm import RsaiAlgorithm
from .pansharpen import add_method_parameters, load_deep_model, open_checked_pair

MODES = ("full", "reduced")


class PansharpeningQuality(RsaiAlgorithm):
    NAME = "pansharpening_quality"
    DISPLAY_NAME = "Pansharpening quality indices"
    GROUP = "Pansharpening"
    GROUP_ID = "pansharpening"
    OPTIONAL = {"torch": "ADWM in reduced resolution mode"}
    LOCAL_WEIGHTS = "Or download the ADWM weights file (.pth) elsewhere and give it as WEIGHTS."

    def initAlgorithm(self, config=None):
        self.addParameter(QgsProcessingParameterRasterLayer(
            "FUSED", self.tr("Pansharpened raster"), optional=True))
        self.addParameter(QgsProcessingParameterRasterLayer("MS", self.tr("Multispectral raster (MS)")))
        self.addParameter(QgsProcessingParameterRasterLayer("PAN", self.tr("Panchromatic raster (PAN)")))
        self.addParameter(QgsProcessingParameterEnum(
            "MODE", self.tr("Mode"), options=["full resolution (no reference)",
                                              "reduced resolution (Wald protocol)"], defaultValue=0))
        add_method_parameters(self, "Method (reduced resolution)")
        self.addParameter(QgsProcessingParameterEnum(
            "PAN_DEGRADATION", self.tr("PAN degradation"),
            options=["bicubic (toolbox resize_images)", "MTF filter and decimation"],
            defaultValue=0))
        self.addParameter(QgsProcessingParameterFileDestination(
            "OUTPUT_TABLE", self.tr("Quality table"), "CSV (*.csv);;HTML (*.html)"))
        for name in quality.REDUCED + quality.FULL:
            self.addOutput(QgsProcessingOutputNumber(name, f"{name} (better {quality.BETTER[name]})"))

    def run_tool(self, parameters, context, callbacks):
        mode = MODES[self.parameterAsEnum(parameters, "MODE", context)]
        table = self.parameterAsFileOutput(parameters, "OUTPUT_TABLE", context)
        pair, method, sensor, unit_scale = open_checked_pair(parameters, context, self, callbacks)
        about = {"mode": mode, "sensor": sensor, "MS": pair.ms_path, "PAN": pair.pan_path,
                 "ratio": pair.ratio}
        if mode == "full":
            fused_layer = self.parameterAsRasterLayer(parameters, "FUSED", context)
            if fused_layer is None:
                raise UserError("full resolution mode needs FUSED (the pansharpened raster); give "
                                "it, or choose MODE reduced resolution to fuse a degraded pair.")
            about["FUSED"] = fused_layer.source()
            about["protocol"] = quality.FULL_RESOLUTION_PROTOCOL
            indices = quality.full_resolution(pair, fused_layer.source(), sensor)
        else:
            degradation = metrics.PAN_DEGRADATIONS[
                self.parameterAsEnum(parameters, "PAN_DEGRADATION", context)]
            about["method"] = method
            about["protocol"] = quality.PROTOCOL_NAMES[degradation]
            callbacks.log(f"Reduced resolution: {about['protocol']}")
            model, dev = None, None
            if rasters.is_deep(method):
                model, dev, _ = load_deep_model(self, parameters, context, method, pair,
                                                callbacks.part(0, 0.1))
            scale = 1.0 if unit_scale else get_sensor(sensor).max_value
            indices = quality.reduced_resolution(
                pair, method, sensor, model, scale, dev, callbacks.log, degradation,
                warn=callbacks.warn)
        callbacks.progress(0.95)
        quality.write_table(table, indices, about)
        for key, value in indices.items():
            callbacks.log(f"{key}: {value:.6f} (better {quality.BETTER.get(key, '')})")
        results = {name: float("nan") for name in quality.REDUCED + quality.FULL}
        results.update({k: float(v) for k, v in indices.items()})
        results["OUTPUT_TABLE"] = table
        return results
