"""rsai:embed_image_chips: a raster cut into chips, each embedded by a CLIP, into a GeoPackage
index that later searches reuse."""

from qgis.core import (QgsProcessingOutputNumber, QgsProcessingParameterRasterLayer,
                       QgsProcessingParameterVectorDestination)

from ...models.clip.index import DEFAULT_LAYER
from ...models.clip.tools import embed_image_chips
from ..algorithm import RsaiAlgorithm
from ..clip_parameters import CHIP_HELP, add_chip_parameters, add_model_parameter, chip_options
from ..models import clip_models
from ..vectors import geopackage_destination, load_layer_on_completion
from .. import styles


class EmbedImageChips(RsaiAlgorithm):
    NAME = "embed_image_chips"
    DISPLAY_NAME = "Embed image chips (CLIP index for text search)"
    GROUP = "Search imagery with words"
    GROUP_ID = "clip"
    HELP = """Cuts a raster into square chips and embeds each with a remote-sensing CLIP \
model, into a GeoPackage index: one polygon per chip with its embedding. Text search and \
zero-shot classification then read the index and embed only the words: under a second \
even for 100,000 chips.

<b>Input</b>: an RGB raster (aerial photo, true-colour satellite image) or a multispectral \
one with Bands set to its red, green and blue bands.
<b>Model</b>: a CLIP card id: lrsclip-vit-b-16 (LRSCLIP, long descriptions up to 248 \
tokens; default) or remoteclip-vit-b-32 (RemoteCLIP, 77 tokens), or a user card.
""" + CHIP_HELP + """

Output: a GeoPackage polygon layer "chips" in the raster's CRS (or the layer named in "Save to \
GeoPackage"); each chip has its embedding (BLOB), col and row on the chip grid. The layer \
metadata holds the model id, the sha256 of its weights, the chip grid, bands and brightness, \
so a search refuses an index of another model. Other layers of an existing GeoPackage are kept; \
a layer of the same name written by an earlier run is replaced (a warning says so), one of \
yours is never replaced.

Weights are downloaded once into the cache and verified by sha256 on every use. Cite: Chen et \
al. (2025), LRSCLIP, arXiv:2503.19311 (with Long-CLIP, Zhang et al., ECCV 2024), or Liu et al. \
(2024), RemoteCLIP, IEEE TGRS 62; licences on each model card."""

    def initAlgorithm(self, config=None):
        self.addParameter(QgsProcessingParameterRasterLayer("INPUT", self.tr("Input raster")))
        add_model_parameter(self, optional=False)
        add_chip_parameters(self)
        self.addParameter(QgsProcessingParameterVectorDestination(
            "OUTPUT", self.tr("Chip index (GeoPackage)")))
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
