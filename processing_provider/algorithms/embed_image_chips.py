"""rsai:embed_image_chips: a raster cut into chips, each embedded by a CLIP, into a GeoPackage
index that later searches reuse."""

from qgis.core import (QgsProcessingOutputNumber, QgsProcessingParameterRasterLayer,
                       QgsProcessingParameterVectorDestination)

from ...models.clip.index import DEFAULT_LAYER
from ...models.clip.tools import embed_image_chips
from ..clip_parameters import (ClipAlgorithm, add_chip_parameters, add_model_parameter,
                               chip_options)
from ..model_loading import clip_models
from ..vectors import geopackage_destination, load_layer_on_completion
from .. import styles


class EmbedImageChips(ClipAlgorithm):
    NAME = "embed_image_chips"
    DISPLAY_NAME = "Embed image chips (CLIP index for text search)"

    def initAlgorithm(self, config=None):
        self.addParameter(QgsProcessingParameterRasterLayer("INPUT", self.tr("Input raster")))
        add_model_parameter(self, optional=False)
        add_chip_parameters(self)
        self.addParameter(QgsProcessingParameterVectorDestination(
            "OUTPUT", self.tr("Chip index")))
        self.addOutput(QgsProcessingOutputNumber("COUNT", self.tr("Number of chips")))

    def run_tool(self, parameters, context, callbacks):
        layer = self.parameterAsRasterLayer(parameters, "INPUT", context)
        destination = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        path, layer_name = geopackage_destination(destination, DEFAULT_LAYER)
        count = embed_image_chips(
            clip_models(self.device(parameters, context), callbacks),
            self.parameterAsString(parameters, "MODEL", context), layer.source(),
            chip_options(self, parameters, context, callbacks.log), path,
            self.parameterAsInt(parameters, "BATCH_SIZE", context), layer_name, callbacks)
        uri = load_layer_on_completion(context, destination, path, layer_name)
        qml = styles.write_fill_style(path, fill="0,0,0,0", outline="#ffd92f",
                                      layer_name=layer_name)
        styles.style_on_load(context, uri, qml)
        return {"OUTPUT": uri, "COUNT": count}
