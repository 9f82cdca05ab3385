"""rsai:text_search: the chips that best match a description, from a stored index (only the
words are embedded) or a raster embedded now."""

from qgis.core import (QgsProcessingOutputNumber, QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterDestination, QgsProcessingParameterString,
                       QgsProcessingParameterVectorDestination)

from ...models.clip.outputs import MATCHES_LAYER
from ...models.clip.tools import text_search
from ..clip_parameters import (ClipAlgorithm, add_chip_parameters, add_model_parameter,
                               add_source_parameters, chip_source)
from ..model_loading import clip_models
from ..vectors import geopackage_destination, load_layer_on_completion
from .. import styles


class TextSearch(ClipAlgorithm):
    NAME = "text_search"
    DISPLAY_NAME = "Search imagery with words"

    def initAlgorithm(self, config=None):
        add_source_parameters(self)
        add_model_parameter(self, optional=True)
        self.addParameter(QgsProcessingParameterString(
            "QUERY", self.tr("Query (what to find)"), multiLine=True))
        self.addParameter(QgsProcessingParameterNumber(
            "TOP_K", self.tr("Number of best chips"), QgsProcessingParameterNumber.Integer, 10,
            minValue=1))
        add_chip_parameters(self, advanced=True)
        self.addParameter(QgsProcessingParameterVectorDestination(
            "OUTPUT", self.tr("Best matching chips")))
        self.addParameter(QgsProcessingParameterRasterDestination(
            "OUTPUT_HEATMAP", self.tr("Similarity heat map"), optional=True,
            createByDefault=False))
        self.addOutput(QgsProcessingOutputNumber("COUNT", self.tr("Number of matches")))

    def run_tool(self, parameters, context, callbacks):
        destination = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        path, layer_name = geopackage_destination(destination, MATCHES_LAYER)
        heatmap = self.parameterAsOutputLayer(parameters, "OUTPUT_HEATMAP", context) or None
        count = text_search(
            clip_models(self.device(parameters, context), callbacks),
            self.parameterAsString(parameters, "MODEL", context),
            chip_source(self, parameters, context, callbacks.log),
            self.parameterAsString(parameters, "QUERY", context),
            self.parameterAsInt(parameters, "TOP_K", context), path, heatmap, layer_name,
            callbacks)
        uri = load_layer_on_completion(context, destination, path, layer_name)
        styles.style_on_load(context, uri, styles.write_graduated_style(path, "similarity",
                                                                        layer_name))
        results = {"OUTPUT": uri, "COUNT": count}
        if heatmap:
            styles.style_on_load(context, heatmap, styles.write_value_style(heatmap))
            results["OUTPUT_HEATMAP"] = heatmap
        return results
