"""rsai:pansharpening_quality: quality indices of a pansharpening, at full or reduced resolution."""

from qgis.core import (QgsProcessingOutputNumber, QgsProcessingParameterEnum,
                       QgsProcessingParameterFileDestination, QgsProcessingParameterRasterLayer)

from ...models.errors import UserError
from ...models.pansharpening import metrics, quality, rasters
from ...models.pansharpening.filters import get_sensor
from ..algorithm import RsaiAlgorithm
from .pansharpen import CITATION_ADWM, add_method_parameters, load_deep_model, method_and_sensor

MODES = ("full", "reduced")


class PansharpeningQuality(RsaiAlgorithm):
    NAME = "pansharpening_quality"
    DISPLAY_NAME = "Pansharpening quality indices"
    GROUP = "Pansharpening"
    GROUP_ID = "pansharpening"
    HELP = f"""Measures how good a pansharpening is, with the indices of Vivone's \
pansharpening toolbox.

<b>Mode full resolution</b> (default): no reference exists; FUSED (the output of \
rsai:pansharpen, on the PAN grid) is compared with its own MS and PAN: D_lambda (spectral \
distortion), D_s (spatial distortion), QNR = (1-D_lambda)(1-D_s), D_lambda of Khan (1 - Q2n \
of the MTF-filtered fused image against the MS) and HQNR = (1-D_lambda_K)(1-D_s). Lower \
distortions and higher QNR/HQNR are better. The image size must be a multiple of 32 pixels.
The MS is upsampled where GDAL places its pixels (the geometric phase, as rsai:pansharpen does); \
FUSED must lie on the PAN grid (same size, pixel and origin), else the tool stops.
<b>Mode reduced resolution</b> (Wald protocol): MS and PAN are degraded by the ratio, the \
degraded pair is fused with <b>Method</b> (the same method as rsai:pansharpen, with the same \
WEIGHTS and DEVICE for ADWM), and the result is compared with the original MS: SAM (degrees, \
0 best), ERGAS (0 best), Q2n (Q4/Q8, 1 best) and SCC (1 best), with the toolbox's 21-pixel \
border cut (skipped for very small images). FUSED is not used. The MS is degraded with the \
sensor's MTF filters and decimated as in Vivone's toolbox, and the classical methods fuse the \
degraded pair at the toolbox's phase (the degraded MS pixel sits where the toolbox puts it).
<b>PAN degradation</b> (reduced resolution): <i>bicubic</i> (default) is the toolbox's own \
protocol (resize_images: bicubic imresize of the PAN), so figures compare with published tables; \
<i>MTF filter</i> blurs the PAN with its MTF filter before decimation (a stricter protocol: \
every method scores about 0.8 ERGAS worse on WorldView-2). The table names the protocol used.
<b>Sensor</b>: MTF gains and value scale (Q2n works on DN).
Rasters with nodata pixels are refused: clip them to their valid area first.

Outputs: a table (CSV, or HTML when the file name ends in .html) and each index as a number \
output (SAM, ERGAS, Q2n, SCC, D_lambda, D_s, QNR, D_lambda_K, HQNR; those of the other mode \
are NaN) for chaining in the graphical modeler.
Reference: Vivone et al., A new benchmarking framework for pansharpening, IEEE GRSM 2021; \
Khan et al., IEEE TGRS 2009 (D_lambda_K). ADWM: {CITATION_ADWM}; weights MIT licence."""

    def initAlgorithm(self, config=None):
        self.addParameter(QgsProcessingParameterRasterLayer(
            "FUSED", self.tr("Pansharpened raster (full resolution mode)"), optional=True))
        self.addParameter(QgsProcessingParameterRasterLayer("MS", self.tr("Multispectral raster (MS)")))
        self.addParameter(QgsProcessingParameterRasterLayer("PAN", self.tr("Panchromatic raster (PAN)")))
        self.addParameter(QgsProcessingParameterEnum(
            "MODE", self.tr("Mode"), options=["full resolution (no reference)",
                                              "reduced resolution (Wald protocol)"], defaultValue=0))
        add_method_parameters(self, "Method (reduced resolution mode)")
        self.addParameter(QgsProcessingParameterEnum(
            "PAN_DEGRADATION", self.tr("PAN degradation (reduced resolution mode)"),
            options=["bicubic (toolbox resize_images)", "MTF filter and decimation"],
            defaultValue=0))
        self.addParameter(QgsProcessingParameterFileDestination(
            "OUTPUT_TABLE", self.tr("Quality table"), "CSV (*.csv);;HTML (*.html)"))
        for name in quality.REDUCED + quality.FULL:
            self.addOutput(QgsProcessingOutputNumber(name, name))

    def run_tool(self, parameters, context, callbacks):
        ms = self.parameterAsRasterLayer(parameters, "MS", context).source()
        pan = self.parameterAsRasterLayer(parameters, "PAN", context).source()
        mode = MODES[self.parameterAsEnum(parameters, "MODE", context)]
        method, sensor = method_and_sensor(self, parameters, context)
        table = self.parameterAsFileOutput(parameters, "OUTPUT_TABLE", context)
        pair = rasters.open_pair(pan, ms, sensor)
        warnings, unit_scale = rasters.check_values(pair, sensor)
        for warning in pair.warnings + warnings:
            callbacks.log(warning)
        about = {"mode": mode, "sensor": sensor, "MS": ms, "PAN": pan, "ratio": pair.ratio}
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
            callbacks.log(f"{key}: {value:.6f}")
        results = {name: float("nan") for name in quality.REDUCED + quality.FULL}
        results.update({k: float(v) for k, v in indices.items()})
        results["OUTPUT_TABLE"] = table
        return results
