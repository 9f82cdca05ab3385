"""rsai:fusion_landcover: land cover from an aerial image, fused with a satellite raster."""

from qgis.core import (QgsProcessingParameterBand, QgsProcessingParameterRasterDestination,
                       QgsProcessingParameterRasterLayer, QgsProcessingParameterString)

from ...models.fusion.landcover import classify_land_cover
from ...models.runtime.engine import RunOptions
from ..algorithm import RsaiAlgorithm
from ..models import load_model
from .. import styles


class FusionLandcover(RsaiAlgorithm):
    NAME = "fusion_landcover"
    DISPLAY_NAME = "Land cover from aerial + satellite imagery (DeepLabV3+ fusion)"
    GROUP = "Land cover"
    GROUP_ID = "landcover"
    HELP = """Classifies an aerial orthophoto into land cover (background, building, \
woodland, water, road for LandCover.ai models), tile by tile on your GPU or CPU. Fusion models \
also read a satellite raster (e.g. Sentinel-2 at 10 m) whose spectral bands help where the \
aerial image is ambiguous (water or shadow, meadow or woodland).

<b>Aerial image</b>: RGB (or RGBN) orthophoto; the outputs are on its grid. An alpha band is \
used as a mask (transparent pixels become nodata), not as a band.
<b>Satellite image</b> (optional): a multi-band raster on any grid and CRS. For each aerial tile \
only its footprint is read (a window read when the grids line up, else that footprint alone \
resampled); nothing is warped as a whole. Rasters that do not overlap are refused; where it \
does not cover the aerial image the outputs are nodata. Leave it empty for single-source \
models; a fusion model without it says so.
<b>Satellite bands</b> (advanced): band numbers in the model's order; empty finds them by \
their descriptions (B02 / B2 / blue ...), whatever their order in the file.
<b>Model</b>: a model card id, a card .json or an .onnx with its card: e.g. your model \
trained with models/fusion/train.py (aerial + Sentinel-2), or deepness-landcover \
(single-source, RGB at 40 cm/px).
<b>Device, tile size, overlap, batch</b>: as in Run a model; tile size and overlap must be \
multiples of the satellite's pixel ratio.

Outputs: a Byte class raster on the aerial grid (nodata 255) with the model's class names and \
colours, and optionally the class probabilities (Float32, one band per class). Chain it into \
Polygonize or Zonal statistics in the graphical modeler.

Warnings: a satellite much coarser than the model reads it is refused; an aerial image far \
from the model's resolution, and acquisition dates more than a year apart (when the metadata \
has them), are warned about.

Cite: Berka, A. et al. (2025), Enhancing DeepLabV3+ to Fuse Aerial and Satellite Images for \
Semantic Segmentation, arXiv:2503.22909. LandCover.ai (Boguszewski et al., CVPRW 2021) is \
licensed CC BY-NC-SA 4.0 (non-commercial, share-alike): so are models trained on it unless \
their card says otherwise. deepness-landcover: weights Apache-2.0 (PUTvision \
qgis-plugin-deepness), trained on LandCover.ai. Each model's licence is logged at every run."""

    def initAlgorithm(self, config=None):
        self.addParameter(QgsProcessingParameterRasterLayer(
            "AERIAL", self.tr("Aerial image (RGB or RGBN)")))
        self.addParameter(QgsProcessingParameterRasterLayer(
            "SATELLITE", self.tr("Satellite image (fusion models; any grid and CRS)"),
            optional=True))
        bands = QgsProcessingParameterBand(
            "SATELLITE_BANDS", self.tr("Satellite bands in the model's order (empty: by "
                                       "band description)"), None, "SATELLITE", optional=True,
            allowMultiple=True)
        bands.setFlags(bands.flags() | bands.FlagAdvanced)
        self.addParameter(bands)
        self.addParameter(QgsProcessingParameterString(
            "MODEL", self.tr("Model (card id, card .json or .onnx)")))
        self.add_device_parameter()
        self.add_tiling_parameters()
        self.addParameter(QgsProcessingParameterRasterDestination(
            "OUTPUT", self.tr("Land cover")))
        self.addParameter(QgsProcessingParameterRasterDestination(
            "OUTPUT_PROBABILITIES", self.tr("Class probabilities"), optional=True,
            createByDefault=False))

    def run_tool(self, parameters, context, callbacks):
        satellite = self.parameterAsRasterLayer(parameters, "SATELLITE", context)
        output = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        probabilities = self.parameterAsOutputLayer(parameters, "OUTPUT_PROBABILITIES", context)
        card, predictor = load_model(self.parameterAsString(parameters, "MODEL", context),
                                     self.device(parameters, context), callbacks,
                                     tasks=("segmentation",))
        classify_land_cover(
            card, predictor, output, probabilities or None,
            aerial=self.parameterAsRasterLayer(parameters, "AERIAL", context).source(),
            satellite=satellite.source() if satellite is not None else None,
            satellite_bands=self.parameterAsInts(parameters, "SATELLITE_BANDS", context),
            options=RunOptions(**self.tiling(parameters, context)),
            callbacks=callbacks.part(0.1, 1))
        styles.style_model_output(context, output, card)
        results = {"OUTPUT": output}
        if probabilities:
            results["OUTPUT_PROBABILITIES"] = probabilities
        return results
