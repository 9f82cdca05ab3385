"""rsai:sea_ice_types: ice-chart classes from Sentinel-1 HH/HV (NERSC CNN, multi-task U-Nets)."""

from qgis.core import (QgsProcessing, QgsProcessingParameterEnum,
                       QgsProcessingParameterMapLayer, QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterDestination,
                       QgsProcessingParameterRasterLayer, QgsProcessingParameterString,
                       QgsProcessingParameterVectorDestination, QgsRasterLayer)

from ...models.runtime.engine import RunOptions
from ...models.seaice.ice_types import IceTypeOutputs, map_ice_types
from ...models.seaice.sentinel1 import is_sentinel1_product
from .. import styles
from ..algorithm import RsaiAlgorithm
from ..models import load_model
from ..vectors import vector_file
from .farmland_segmentation import parse_band_list

UNITS = ("auto", "linear", "db")


class SeaIceTypes(RsaiAlgorithm):
    NAME = "sea_ice_types"
    DISPLAY_NAME = "Sea-ice types from Sentinel-1 SAR"
    GROUP = "Sea ice"
    GROUP_ID = "seaice"
    HELP = """Maps sea-ice types (stage of development) from Sentinel-1 EW or IW GRD HH and HV \
backscatter in ice-chart colours, window by window or pixel by pixel, on your GPU or CPU.

<b>Input</b>: a GeoTIFF of HH and HV sigma0, in linear units or dB (detected from the values \
and logged), bands found by their descriptions (HH, Sigma0_HH, Sigma0_HV_db...) or chosen with \
Bands; or a Sentinel-1 .SAFE folder / .zip, used only where the installed GDAL offers \
calibrated sigma0 (otherwise the error says how to calibrate with SNAP first). GCP-only images \
are warped north-up first.
<b>Model</b>: nersc-s1-icetype (default): the NERSC CNN (4 classes: ice free, young ice, \
first-year ice, old ice) on 50 x 50 windows of 40 m pixels. It was trained on sigma0 after \
NERSC's thermal-noise and angular corrections on an unpublished scale: on plain calibrated \
GRD its map is unvalidated (see the help page). Or a card of a multi-task U-Net trained with \
models/seaice/train.py (SOD, SIC, FLOE; may need an incidence_angle band).
<b>Land mask</b>: polygons (land inside) or a raster (land where non-zero): land is nodata.
<b>Stride</b>: window step in model pixels for window models; empty takes the card's (50: \
the authors' map; 10: a finer one, 25 times the work).
<b>Units</b> (advanced): what you say the bands hold; values that say otherwise win, with a \
warning.
Finer pixels than the model's (IW GRDH at 10 m for the 40 m NERSC model) are averaged in \
linear power to the model's pixel; the outputs stay on the input grid.

Outputs: OUTPUT, a Byte class raster on the input grid (each pixel takes the window whose \
centre is nearest; nodata 255) in ice-chart colours with the classes' names; optionally the \
window-centre grid (one pixel per window), class probabilities, SIC and FLOE class rasters \
(multi-task models) and a GeoPackage with one polygon per connected region of a class \
(class name, area in km2, mean probability). Chain OUTPUT into "Sea-ice scores" to compare \
with an ice chart.

NERSC model: Boulze, Korosov & Brajard (2020), Remote Sensing 12(13) 2165; weights \
github.com/nansencenter/s1_icetype_cnn (pinned commit, sha256), licence GPL-3.0."""

    def initAlgorithm(self, config=None):
        self.addParameter(QgsProcessingParameterRasterLayer(
            "INPUT", self.tr("Sentinel-1 HH/HV raster (GeoTIFF), or a .SAFE folder / .zip")))
        self.addParameter(QgsProcessingParameterString(
            "MODEL", self.tr("Model (card id)"), defaultValue="nersc-s1-icetype"))
        self.addParameter(QgsProcessingParameterMapLayer(
            "LAND_MASK", self.tr("Land mask (polygons, or raster with land non-zero)"),
            optional=True, types=[QgsProcessing.TypeVectorPolygon, QgsProcessing.TypeRaster]))
        self.add_device_parameter()
        stride = QgsProcessingParameterNumber(
            "STRIDE", self.tr("Window step in model pixels (window models; empty: the model's)"),
            QgsProcessingParameterNumber.Integer, None, optional=True, minValue=1)
        self.addParameter(stride)
        bands = QgsProcessingParameterString(
            "BANDS", self.tr("Band numbers HH,HV[,incidence angle] (empty: by description)"),
            optional=True)
        units = QgsProcessingParameterEnum(
            "UNITS", self.tr("The SAR bands hold"), options=["detect from the values",
                                                              "linear sigma0", "dB"],
            defaultValue=0)
        for parameter in (bands, units):
            parameter.setFlags(parameter.flags() | parameter.FlagAdvanced)
            self.addParameter(parameter)
        self.add_tiling_parameters()
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", self.tr("Ice types")))
        for name, label in (("OUTPUT_WINDOWS", "Ice types on the window grid"),
                            ("OUTPUT_PROBABILITIES", "Class probabilities"),
                            ("OUTPUT_SIC", "Sea-ice concentration (SIC) classes"),
                            ("OUTPUT_FLOE", "Floe size (FLOE) classes")):
            self.addParameter(QgsProcessingParameterRasterDestination(
                name, self.tr(label), optional=True, createByDefault=False))
        self.addParameter(QgsProcessingParameterVectorDestination(
            "OUTPUT_POLYGONS", self.tr("Ice-type polygons (GeoPackage)"),
            QgsProcessing.TypeVectorPolygon, optional=True, createByDefault=False))

    def run_tool(self, parameters, context, callbacks):
        outputs = IceTypeOutputs(*(self.parameterAsOutputLayer(parameters, name, context) or None
                                   for name in ("OUTPUT", "OUTPUT_WINDOWS",
                                                "OUTPUT_PROBABILITIES", "OUTPUT_SIC",
                                                "OUTPUT_FLOE", "OUTPUT_POLYGONS")))
        land_mask, land_layer = self._land_mask(parameters, context, callbacks)
        card, predictor = load_model(self.parameterAsString(parameters, "MODEL", context),
                                     self.device(parameters, context), callbacks,
                                     tasks=("segmentation",))
        stride = parameters.get("STRIDE")
        options = RunOptions(**self.tiling(parameters, context), stride=None if stride in (
            None, "") else self.parameterAsInt(parameters, "STRIDE", context))
        result = map_ice_types(
            card, predictor, self._input(parameters, context), outputs,
            bands=parse_band_list(self.parameterAsString(parameters, "BANDS", context)),
            units=UNITS[self.parameterAsEnum(parameters, "UNITS", context)],
            land_mask=land_mask, land_mask_layer=land_layer, options=options,
            callbacks=callbacks.part(0.1, 1))
        results = {}
        for key, path, output in (("OUTPUT", outputs.classes, card.output.name),
                                  ("OUTPUT_WINDOWS", outputs.windows, card.output.name),
                                  ("OUTPUT_SIC", outputs.sic, "SIC"),
                                  ("OUTPUT_FLOE", outputs.floe, "FLOE")):
            if path:
                spec = next(s for s in card.outputs if s.name == output)
                qml = styles.write_class_style(path, [(c.value, c.name, c.color)
                                                      for c in spec.classes])
                styles.style_on_load(context, path, qml)
                results[key] = path
        if outputs.probabilities:
            results["OUTPUT_PROBABILITIES"] = outputs.probabilities
        if outputs.polygons:
            qml = styles.write_category_style(outputs.polygons, "class", [
                (c.value, c.name, c.color) for c in card.output.classes], "sea_ice_polygons")
            styles.style_on_load(context, outputs.polygons, qml)
            results["OUTPUT_POLYGONS"] = outputs.polygons
        callbacks.log(f"units {result.units}; {result.run.valid_pixels} pixels classified"
                      + (f"; {result.polygons} polygons" if result.polygons is not None else ""))
        return results

    def _input(self, parameters, context) -> str:
        """A Sentinel-1 product path as given (GDAL's SAFE driver reads it in the core), any
        other input as the raster layer's source."""
        value = parameters.get("INPUT")
        if isinstance(value, str) and is_sentinel1_product(value):
            return value
        return self.parameterAsRasterLayer(parameters, "INPUT", context).source()

    def _land_mask(self, parameters, context, callbacks):
        layer = self.parameterAsLayer(parameters, "LAND_MASK", context)
        if layer is None:
            return None, None
        if isinstance(layer, QgsRasterLayer):
            return layer.source(), None
        return vector_file(self, parameters, "LAND_MASK", context, callbacks.log)
