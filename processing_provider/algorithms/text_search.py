"""rsai:text_search: the chips that best match a description, from a stored index (only the
words are embedded) or a raster embedded now."""

from qgis.core import (QgsProcessingOutputNumber, QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterDestination, QgsProcessingParameterString,
                       QgsProcessingParameterVectorDestination)

from ...models.clip.outputs import MATCHES_LAYER
from ...models.clip.tools import text_search
from ..algorithm import RsaiAlgorithm
from ..clip_parameters import (CHIP_HELP, add_chip_parameters, add_model_parameter,
                               add_source_parameters, chip_source)
from ..models import clip_models
from ..vectors import geopackage_destination, load_layer_on_completion
from .. import styles


class TextSearch(RsaiAlgorithm):
    NAME = "text_search"
    DISPLAY_NAME = "Search imagery with words"
    GROUP = "Search imagery with words"
    GROUP_ID = "clip"
    HELP = """Finds the places in imagery that match a description, e.g. "a dense \
residential area with red roofs beside a river bend": the chips most similar to the text by \
the cosine of their CLIP embeddings.

<b>Chip index</b>: an index made by "Embed image chips": only the query is embedded (the log \
says so), so a search takes under a second even for 100,000 chips. MODEL may be left \
empty (the index's model is used); another model than the index's is refused.
<b>Or a raster</b>: embeds its chips now (the chip parameters below, under Advanced), then \
searches them; nothing is stored.
<b>Query</b>: free text in English. Long descriptions are welcome up to the model's context \
(248 tokens for lrsclip-vit-b-16, 77 for remoteclip-vit-b-32); a longer one is refused with its \
token count, never cut silently.
<b>Top K</b>: how many of the best chips to return.

Outputs: the best chips as polygons (GeoPackage layer "matches") with rank (1 = best) and \
similarity (cosine, -1..1), coloured by similarity; optionally a Float32 heat map of every \
chip's similarity on the chip grid (one pixel per chip, nodata -9999 where no chip was \
embedded). Similarities compare chips with each other for one query; their absolute values \
differ between models.

""" + CHIP_HELP + """

Cite the model's paper (see Embed image chips); licences on each model card."""

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
