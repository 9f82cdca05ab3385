"""rsai:pansharpen: fuse a PAN and an MS raster with a classical method or an ADWM network."""

from qgis.core import (QgsProcessingParameterEnum, QgsProcessingParameterFile,
                       QgsProcessingParameterRasterDestination, QgsProcessingParameterRasterLayer)

from ...models import registry
from ...models.errors import UserError
from ...models.pansharpening import adwm, rasters
from ...models.pansharpening.filters import get_sensor
from ..algorithm import RsaiAlgorithm
from ..models import resolve_model
from .. import settings, styles

CITATION_ADWM = ("Huang, Chen, Ren, Peng, Deng: A General Adaptive Dual-level Weighting Mechanism "
                 "for Remote Sensing Pansharpening, CVPR 2025 (arXiv 2503.13214)")


def add_method_parameters(algorithm, method_label: str, optional_method: bool = False) -> None:
    """METHOD, SENSOR, WEIGHTS and DEVICE, shared by pansharpen and pansharpening_quality."""
    algorithm.addParameter(QgsProcessingParameterEnum(
        "METHOD", algorithm.tr(method_label), options=[label for _, label in rasters.METHODS],
        defaultValue=1, optional=optional_method))
    algorithm.addParameter(QgsProcessingParameterEnum(
        "SENSOR", algorithm.tr("Sensor (value scale and MTF gains)"),
        options=list(rasters.SENSOR_OPTIONS), defaultValue=0))
    algorithm.addParameter(QgsProcessingParameterFile(
        "WEIGHTS", algorithm.tr("ADWM weights file (optional; overrides the model card's source)"),
        optional=True))
    algorithm.add_device_parameter()


def method_and_sensor(algorithm, parameters, context) -> tuple[str, str]:
    method = rasters.METHODS[algorithm.parameterAsEnum(parameters, "METHOD", context)][0]
    sensor = rasters.SENSOR_OPTIONS[algorithm.parameterAsEnum(parameters, "SENSOR", context)]
    return method, sensor


def load_deep_model(algorithm, parameters, context, method: str, pair, callbacks):
    """(model, torch device, card) for an ADWM METHOD; WEIGHTS overrides the card's source.
    The MS's band count is checked before anything is downloaded."""
    card = registry.find_card(method, [settings.user_cards_dir()])
    rasters.check_model_bands(pair, len(card.primary.bands))
    local = algorithm.parameterAsFile(parameters, "WEIGHTS", context)
    if local:
        card = card.with_local_weights(local)
        weights = registry.weights_path(card, settings.weights_store(callbacks.log))
        source = f"local file {weights}"
    else:
        resolved = resolve_model(method, callbacks)
        card, weights = resolved.card, resolved.weights
        source = card.weights.url if card.weights and card.weights.url else str(weights)
    device = algorithm.device(parameters, context)
    model, dev, described = adwm.load_for_card(card, weights, device)
    callbacks.log(f"Model {card.id} ({card.licence}) from {source} (file {weights}); "
                  f"device {described}")
    return model, dev, card


class Pansharpen(RsaiAlgorithm):
    NAME = "pansharpen"
    DISPLAY_NAME = "Pansharpen (classical methods and ADWM)"
    GROUP = "Pansharpening"
    GROUP_ID = "pansharpening"
    HELP = f"""Fuses a panchromatic (PAN) raster with a multispectral (MS) raster into an MS \
image at the PAN's resolution, on the PAN's grid.

<b>PAN</b>: a single-band raster. <b>MS</b>: the multispectral bands; it may have another \
extent, resolution or CRS, or be shifted by a fraction of a pixel: GDAL resamples it (cubic) \
onto a grid aligned with the PAN, so every MS pixel is used where its geotransform puts it \
(no half-pixel shift). The resolution ratio is derived from the pixel sizes and must be close \
to a whole number (2 to 16; ADWM: 4). Nodata pixels (of either raster) are left out of the \
global statistics and are nodata in the output.
<b>Method</b>: Weighted Brovey (as GDAL's pansharpening VRT: GDAL's cubic upsampling, equal \
weights), GSA, MTF-GLP-HPM, BDSD-PC, AWLP (after Vivone's pansharpening toolbox, tiled with \
enough overlap for their filters so tiles equal the untiled result), or ADWM on FusionNet, \
LAGConv or LGPNet with the authors' weights (8 bands in WorldView-3 order, 11-bit DN).
<b>Sensor</b>: value scale (11-bit DN for WV3/WV2/QB, 10-bit for GF2) and MTF gains.
<b>Weights</b>: a local .pth state_dict for the chosen ADWM network instead of the download.
<b>Output type</b> (advanced): Float32 DN (default; nodata -9999) or the MS's own type \
(rounded and clipped; nodata 0).

Output: the fused MS on the PAN grid (size, geotransform, CRS), a tiled compressed GeoTIFF, \
styled as a true-colour composite (bands 5,3,2 for 8-band WV2/WV3, 3,2,1 for 4-band images).
Warnings: values beyond the sensor's bit depth, reflectance already scaled to 0..1, and an ADWM \
output that had to be clamped to the value range for more than 3% of its values (a sign that \
the image differs from the network's training data).

Which method (measured on the WorldView-2 pair of the tests, reduced resolution with the \
toolbox's protocol, and full resolution): MTF-GLP-HPM (ERGAS 4.24, HQNR 0.90) and AWLP (4.37, \
0.91) did best on both, then BDSD-PC and GSA. The ADWM weights were trained on WorldView-3 only: \
ADWM-FusionNet was the most consistent of them (ERGAS 5.60, HQNR 0.86 on WV2; HQNR 0.85 on a \
WV3 sample), ADWM-LAGConv scored ERGAS 5.33 on WV2 but HQNR 0.61, and its WV3 sample output \
was implausible (green band clamped to 0 on 63% of the pixels); ADWM-LGPNet (ERGAS 7.35, close \
to plain upsampling) reproduces the authors' code but did worse than bicubic on the WV3 sample.
ADWM-LAGConv runs without the LayerNorm the authors' current code puts before its weighting \
MLPs: the released weights have no parameters for it (they were trained without it); it runs \
in float64 so its output does not depend on threads or tiling.

ADWM: {CITATION_ADWM}. Weights: github.com/Jie-1203/ADWM, MIT licence; fetched once into the \
cache and verified by sha256.
Classical methods: Vivone et al., A critical comparison among pansharpening algorithms, IEEE \
TGRS 2015 (and its 2021 update); Brovey as in GDAL."""

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
        pan = self.parameterAsRasterLayer(parameters, "PAN", context).source()
        ms = self.parameterAsRasterLayer(parameters, "MS", context).source()
        output = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        method, sensor = method_and_sensor(self, parameters, context)
        output_type = rasters.OUTPUT_TYPES[self.parameterAsEnum(parameters, "OUTPUT_TYPE", context)]
        pair = rasters.open_pair(pan, ms, sensor)
        for warning in pair.warnings:
            callbacks.log(warning)
        warnings, unit_scale = rasters.check_values(pair, sensor)
        for warning in warnings:
            callbacks.log(warning)
        callbacks.log(f"PAN {pair.pan.width} x {pair.pan.height}, MS {pair.band_count} bands, "
                      f"ratio {pair.ratio}, method {method}, sensor {sensor}")
        if rasters.is_deep(method):
            model, dev, card = load_deep_model(self, parameters, context, method, pair,
                                               callbacks.part(0, 0.1))
            scale = 1.0 if unit_scale else get_sensor(sensor).max_value
            rasters.pansharpen_deep(pair, model, len(card.primary.bands), output, scale, output_type,
                                    dev, progress=callbacks.part(0.1, 0.95).progress,
                                    is_cancelled=callbacks.is_cancelled, warn=callbacks.warn)
        else:
            if parameters.get("WEIGHTS"):
                raise UserError("WEIGHTS is for the ADWM methods; clear it or choose an ADWM METHOD.")
            rasters.pansharpen_classical(pair, method, output, sensor, output_type,
                                         progress=callbacks.part(0, 0.95).progress,
                                         is_cancelled=callbacks.is_cancelled, log=callbacks.log)
        qml = styles.write_rgb_style(output, *rasters.rgb_bands(sensor, pair.band_count))
        styles.style_on_load(context, output, qml)
        return {"OUTPUT": output}
