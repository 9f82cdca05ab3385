"""rsai:sea_ice_types: ice-chart classes from Sentinel-1 HH/HV (NERSC CNN, multi-task U-Nets)."""

from qgis.core import (QgsProcessing, QgsProcessingParameterEnum,
                       QgsProcessingParameterMapLayer, QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterDestination,
                       QgsProcessingParameterRasterLayer, QgsProcessingParameterString,
                       QgsProcessingParameterVectorDestination, QgsRasterLayer)

from ...models.seaice.ice_types import IceTypeOutputs
from ...models.seaice.sentinel1 import is_sentinel1_product
from ...models.tools import SEA_ICE_OUTPUTS, SEA_ICE_TYPES, layer_source
from .. import styles
from ..algorithm import RsaiAlgorithm
from ..model_loading import tool_environment
from ..vectors import vector_file

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
        stride = parameters.get("STRIDE")
        values = {
            "INPUT": self._input(parameters, context),
            "MODEL": self.parameterAsString(parameters, "MODEL", context),
            "WEIGHTS": self.parameterAsFile(parameters, "WEIGHTS", context) or None,
            "LAND_MASK": self._land_mask(parameters, context, callbacks),
            "DEVICE": self.device(parameters, context),
            "STRIDE": None if stride in (None, "") else
            self.parameterAsInt(parameters, "STRIDE", context),
            "BANDS": self.parameterAsString(parameters, "BANDS", context),
            "UNITS": UNITS[self.parameterAsEnum(parameters, "UNITS", context)],
            **self.tiling_values(parameters, context),
            **{name: self.parameterAsOutputLayer(parameters, name, context) or None
               for name in SEA_ICE_OUTPUTS}}
        card = SEA_ICE_TYPES.run(values, tool_environment(callbacks), callbacks).card
        outputs = IceTypeOutputs(*(values[name] for name in SEA_ICE_OUTPUTS))
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
        return results

    def _input(self, parameters, context) -> str:
        """A Sentinel-1 product path as given (GDAL's SAFE driver reads it in the core), any
        other input as the raster layer's source."""
        value = parameters.get("INPUT")
        if isinstance(value, str) and is_sentinel1_product(value):
            return value
        return self.parameterAsRasterLayer(parameters, "INPUT", context).source()

    def _land_mask(self, parameters, context, callbacks) -> str | None:
        """A raster's source, or a vector's file (and layer) as the core reads it."""
        layer = self.parameterAsLayer(parameters, "LAND_MASK", context)
        if layer is None:
            return None
        if isinstance(layer, QgsRasterLayer):
            return layer.source()
        return layer_source(*vector_file(self, parameters, "LAND_MASK", context, callbacks.log))
