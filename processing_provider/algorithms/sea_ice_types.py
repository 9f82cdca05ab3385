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
from ..model_loading import load_card_and_predictor
from ..vectors import vector_file
from .farmland_segmentation import parse_band_list

UNITS = ("auto", "linear", "db")


class SeaIceTypes(RsaiAlgorithm):
    NAME = "sea_ice_types"
    DISPLAY_NAME = "Sea-ice types from Sentinel-1 SAR"
    GROUP = "Sea ice"
    GROUP_ID = "seaice"
    REQUIRES = ("torch",)
    OPTIONAL = {"segmentation-models-pytorch": "multi-task U-Net cards"}
    LOCAL_WEIGHTS = ("Or download the weights file elsewhere and give it as WEIGHTS.")

    def initAlgorithm(self, config=None):
        self.addParameter(QgsProcessingParameterRasterLayer(
            "INPUT", self.tr("Sentinel-1 HH/HV raster or .SAFE")))
        self.add_model_parameter(("segmentation",), default="nersc-s1-icetype", inputs=("sar",))
        self.add_weights_parameter()
        self.addParameter(QgsProcessingParameterMapLayer(
            "LAND_MASK", self.tr("Land mask"), optional=True,
            types=[QgsProcessing.TypeVectorPolygon, QgsProcessing.TypeRaster]))
        self.add_device_parameter()
        self.addParameter(QgsProcessingParameterNumber(
            "STRIDE", self.tr("Window step (model pixels)"),
            QgsProcessingParameterNumber.Integer, None, optional=True, minValue=1))
        bands = QgsProcessingParameterString("BANDS", self.tr("Band numbers"), optional=True)
        units = QgsProcessingParameterEnum(
            "UNITS", self.tr("SAR values are"),
            options=["detect from the values", "linear sigma0", "dB"], defaultValue=0)
        for parameter in (bands, units):
            parameter.setFlags(parameter.flags() | parameter.FlagAdvanced)
            self.addParameter(parameter)
        self.add_tiling_parameters()
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", self.tr("Ice types")))
        for name, label in (("OUTPUT_WINDOWS", "Ice types on the window grid"),
                            ("OUTPUT_PROBABILITIES", "Class probabilities"),
                            ("OUTPUT_SIC", "Concentration (SIC) classes"),
                            ("OUTPUT_FLOE", "Floe size (FLOE) classes")):
            self.addParameter(QgsProcessingParameterRasterDestination(
                name, self.tr(label), optional=True, createByDefault=False))
        self.addParameter(QgsProcessingParameterVectorDestination(
            "OUTPUT_POLYGONS", self.tr("Ice-type polygons"),
            QgsProcessing.TypeVectorPolygon, optional=True, createByDefault=False))

    def run_tool(self, parameters, context, callbacks):
        outputs = IceTypeOutputs(*(self.parameterAsOutputLayer(parameters, name, context) or None
                                   for name in ("OUTPUT", "OUTPUT_WINDOWS",
                                                "OUTPUT_PROBABILITIES", "OUTPUT_SIC",
                                                "OUTPUT_FLOE", "OUTPUT_POLYGONS")))
        land_mask, land_layer = self._land_mask(parameters, context, callbacks)
        card, predictor = load_card_and_predictor(
            self.parameterAsString(parameters, "MODEL", context), self.device(parameters, context),
            callbacks, tasks=("segmentation",),
            weights_file=self.parameterAsFile(parameters, "WEIGHTS", context) or None)
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
        for key, path, output, label in (
                ("OUTPUT", outputs.classes, card.output.name, "Ice types"),
                ("OUTPUT_WINDOWS", outputs.windows, card.output.name, "Ice types, windows"),
                ("OUTPUT_SIC", outputs.sic, "SIC", "Concentration (SIC)"),
                ("OUTPUT_FLOE", outputs.floe, "FLOE", "Floe size (FLOE)")):
            if path:
                spec = next(s for s in card.outputs if s.name == output)
                qml = styles.write_class_style(path, [(c.value, c.name, c.color)
                                                      for c in spec.classes])
                styles.style_on_load(context, path, qml, f"{label} ({card.title})",
                                     below=None if key == "OUTPUT" else outputs.classes)
                results[key] = path
        if outputs.probabilities:
            styles.style_on_load(context, outputs.probabilities,
                                 styles.write_probability_style(outputs.probabilities),
                                 f"Class probabilities ({card.title})", below=outputs.classes)
            results["OUTPUT_PROBABILITIES"] = outputs.probabilities
        if outputs.polygons:
            qml = styles.write_category_style(outputs.polygons, "class", [
                (c.value, c.name, c.color) for c in card.output.classes], "sea_ice_polygons")
            styles.style_on_load(context, outputs.polygons, qml,
                                 f"Ice-type polygons ({card.title})")
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
