"""rsai:polygonize_fields: one polygon per field from a field / boundary class raster."""

from qgis.core import (QgsProcessingParameterNumber, QgsProcessingParameterRasterLayer,
                       QgsProcessingParameterVectorDestination, QgsProcessingOutputNumber)

from ...models.farmland.polygonize import polygonize_fields
from ..algorithm import RsaiAlgorithm
from .. import styles
from ..vectors import geopackage_destination, load_layer_on_completion


class PolygonizeFields(RsaiAlgorithm):
    NAME = "polygonize_fields"
    DISPLAY_NAME = "Polygonize fields"
    GROUP = "Farmland"
    GROUP_ID = "farmland"
    LOG_DEVICES = False

    def initAlgorithm(self, config=None):
        self.addParameter(QgsProcessingParameterRasterLayer("INPUT", self.tr("Field class raster")))
        self.addParameter(QgsProcessingParameterNumber(
            "MIN_AREA", self.tr("Minimum field area (m²)"), QgsProcessingParameterNumber.Double,
            0.0, minValue=0.0))
        self.addParameter(QgsProcessingParameterRasterLayer(
            "PROBABILITIES", self.tr("Field probabilities"), optional=True))
        for name, label, kind, default in (
                ("SIMPLIFY", "Simplify tolerance (m)", QgsProcessingParameterNumber.Double, 0.0),
                ("FIELD_VALUE", "Class value of fields", QgsProcessingParameterNumber.Integer, 1),
                ("BOUNDARY_VALUE", "Class value of boundaries",
                 QgsProcessingParameterNumber.Integer, 2),
                ("PROBABILITY_BAND", "Band of P(field)", QgsProcessingParameterNumber.Integer,
                 2)):
            parameter = QgsProcessingParameterNumber(name, self.tr(label), kind, default,
                                                     minValue=0)
            parameter.setFlags(parameter.flags() | parameter.FlagAdvanced)
            self.addParameter(parameter)
        self.addParameter(QgsProcessingParameterVectorDestination(
            "OUTPUT", self.tr("Field polygons")))
        self.addOutput(QgsProcessingOutputNumber("COUNT", self.tr("Number of polygons")))
        self.addOutput(QgsProcessingOutputNumber("TOTAL_AREA_M2", self.tr("Total area (m²)")))

    def run_tool(self, parameters, context, callbacks):
        classes = self.parameterAsRasterLayer(parameters, "INPUT", context)
        probabilities = self.parameterAsRasterLayer(parameters, "PROBABILITIES", context)
        destination = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        output, layer_name = geopackage_destination(destination, None)
        result = polygonize_fields(
            classes.source(), output, layer_name=layer_name,
            field_value=self.parameterAsInt(parameters, "FIELD_VALUE", context),
            boundary_value=self.parameterAsInt(parameters, "BOUNDARY_VALUE", context),
            min_area_m2=self.parameterAsDouble(parameters, "MIN_AREA", context),
            simplify_tolerance_m=self.parameterAsDouble(parameters, "SIMPLIFY", context),
            probability_raster_path=probabilities.source() if probabilities else None,
            probability_band=self.parameterAsInt(parameters, "PROBABILITY_BAND", context),
            callbacks=callbacks)
        callbacks.log(f"{result.count} field polygons, {result.total_area_m2:.0f} m² in "
                      f"total ({result.area_method}); {result.dropped} dropped below the "
                      "minimum area")
        uri = (load_layer_on_completion(context, destination, output, layer_name)
               if layer_name else output)
        qml = styles.write_fill_style(output, layer_name=result.layer)
        styles.style_on_load(context, uri, qml, "Field polygons")
        return {"OUTPUT": uri, "COUNT": result.count, "TOTAL_AREA_M2": result.total_area_m2}
