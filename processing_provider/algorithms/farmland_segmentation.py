"""rsai:farmland_segmentation: field / boundary classes from two Sentinel-2 dates (FTW)."""

from qgis.core import (QgsProcessingParameterRasterDestination, QgsProcessingParameterRasterLayer,
                       QgsProcessingParameterString)

from ...models.errors import UserError
from ...models.farmland.segment import segment_fields
from ...models.runtime.engine import RunOptions
from ..algorithm import RsaiAlgorithm
from ..models import load_model
from .. import styles


def parse_band_list(text: str) -> list:
    """'1,2,3,4' or '1 2 3 4' -> [1, 2, 3, 4]; empty -> []."""
    try:
        return [int(v) for v in text.replace(",", " ").split()]
    except ValueError:
        raise UserError(f"BANDS must be band numbers separated by commas, e.g. 3,2,1,7; got {text!r}")


class FarmlandSegmentation(RsaiAlgorithm):
    NAME = "farmland_segmentation"
    DISPLAY_NAME = "Farmland segmentation (Fields of The World, Sentinel-2)"
    GROUP = "Farmland"
    GROUP_ID = "farmland"
    ICON = "farmland_segmentation.svg"
    HELP = """Segments agricultural fields and their boundaries from two Sentinel-2 L2A \
acquisitions with the Fields of The World (FTW) U-Net, tile by tile, on your GPU or CPU.

<b>Window A / window B</b>: one Sentinel-2 L2A raster per date (A: planting / start of season, \
B: harvest / end of season), in digital numbers (reflectance x 10000), 10 m. Bands B04, B03, \
B02, B08 are found by their descriptions ("B04", "B4", "red", "nir"...), else by BANDS, else a \
4-band raster is read as B04, B03, B02, B08. B on another grid is resampled (bilinear) onto \
A's grid, with a warning; rasters that do not overlap are refused.
<b>8-band stack</b> (instead of A and B): B04, B03, B02, B08 of A then of B.
<b>Bands</b> (advanced): band numbers separated by commas: 4 (the same for both dates) or 8 (A's \
then B's); with a stack, 8.
<b>Model</b>: a model card id: ftw-3class (background, field, boundary) or ftw-2class, or your \
own card with the same inputs.
<b>Device, tile size, overlap, batch</b>: as in Run a model; empty tile size / overlap take the \
model's (256 / 32 px).

Outputs: a Byte class raster on window A's grid (0 background, 1 field, 2 boundary; nodata \
255), styled, and optionally the class probabilities (Float32, one band per class). Chain it \
into "Polygonize fields" to get one polygon per field.

Cite: Kerner, H. et al. (2024), Fields of The World: A Machine Learning Benchmark Dataset For \
Global Agricultural Field Boundary Segmentation, arXiv:2409.16252. Weights: TorchGeo, \
huggingface.co/torchgeo/ftw (pinned revision), licence CC-BY-4.0. No checksum is published: \
the file's sha256 is recorded at the first download and checked on every later use."""

    def initAlgorithm(self, config=None):
        for name, label in (("INPUT_A", "Window A (planting), Sentinel-2 L2A"),
                            ("INPUT_B", "Window B (harvest), Sentinel-2 L2A"),
                            ("INPUT", "Or: 8-band stack (B04, B03, B02, B08 of A, then of B)")):
            self.addParameter(QgsProcessingParameterRasterLayer(name, self.tr(label), optional=True))
        self.addParameter(QgsProcessingParameterString(
            "MODEL", self.tr("Model (card id)"), defaultValue="ftw-3class"))
        bands = QgsProcessingParameterString(
            "BANDS", self.tr("Band numbers B04,B03,B02,B08 (empty: by band description)"),
            optional=True)
        bands.setFlags(bands.flags() | bands.FlagAdvanced)
        self.addParameter(bands)
        self.add_device_parameter()
        self.add_tiling_parameters()
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", self.tr("Fields")))
        self.addParameter(QgsProcessingParameterRasterDestination(
            "OUTPUT_PROBABILITIES", self.tr("Class probabilities"), optional=True,
            createByDefault=False))

    def run_tool(self, parameters, context, callbacks):
        def source(name):
            layer = self.parameterAsRasterLayer(parameters, name, context)
            return layer.source() if layer is not None else None

        output = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        probabilities = self.parameterAsOutputLayer(parameters, "OUTPUT_PROBABILITIES", context)
        card, predictor = load_model(self.parameterAsString(parameters, "MODEL", context),
                                     self.device(parameters, context), callbacks,
                                     tasks=("segmentation",))
        segment_fields(card, predictor, output, probabilities or None,
                       input_a=source("INPUT_A"), input_b=source("INPUT_B"), stack=source("INPUT"),
                       bands=parse_band_list(self.parameterAsString(parameters, "BANDS", context)),
                       options=RunOptions(**self.tiling(parameters, context)),
                       callbacks=callbacks.part(0.1, 1))
        styles.style_model_output(context, output, card)
        results = {"OUTPUT": output}
        if probabilities:
            results["OUTPUT_PROBABILITIES"] = probabilities
        return results
