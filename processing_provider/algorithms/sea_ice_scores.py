"""rsai:sea_ice_scores: the AutoICE scores of sea-ice maps against ice charts."""

from qgis.core import (QgsProcessingOutputNumber, QgsProcessingParameterFileDestination,
                       QgsProcessingParameterRasterLayer)

from ...models.seaice.scoring import score_rasters, write_table
from ..algorithm import RsaiAlgorithm

CHARTS = (("SOD", "", "stage of development (ice types)"),
          ("SIC", "_SIC", "concentration"),
          ("FLOE", "_FLOE", "floe size"))
NUMBERS = (("SOD_F1", "SOD weighted F1 (x100)"), ("SIC_R2", "SIC R2 (x100)"),
           ("FLOE_F1", "FLOE weighted F1 (x100)"),
           ("COMBINED", "Combined score (2 SIC + 2 SOD + FLOE) / 5 (x100)"))


class SeaIceScores(RsaiAlgorithm):
    NAME = "sea_ice_scores"
    DISPLAY_NAME = "Sea-ice scores against an ice chart (AutoICE)"
    GROUP = "Sea ice"
    GROUP_ID = "seaice"
    LOG_DEVICES = False
    HELP = """Scores sea-ice maps against ice charts with the metrics of the AutoICE \
challenge: R2 for concentration (SIC), weighted F1 for stage of development (SOD) and floe \
size (FLOE), and the combined score (2 SIC + 2 SOD + FLOE) / 5, reported x 100.

<b>Prediction / Chart</b>: the SOD map (OUTPUT of "Sea-ice types from Sentinel-1 SAR") and the \
chart rasterised with the same codes; <b>Prediction SIC / Chart SIC</b> and <b>Prediction FLOE \
/ Chart FLOE</b> likewise where the model has those outputs. Give at least one pair. The codes \
must mean the same in both rasters (the NERSC model's 0-3 are its own four classes, not \
AutoICE's six: recode the chart first). Pixels masked in either raster (255 or the raster's \
nodata) are left out. A chart on another grid is read through a nearest-neighbour warp onto \
the prediction's grid (with a warning). Rasters are read strip by strip, so scene size does \
not matter.

Outputs: a table (CSV, or HTML when the file name ends in .html) with the scores, the \
per-class precision, recall and F1 and the confusion matrices, and the scores as numbers \
(SOD_F1, SIC_R2, FLOE_F1, COMBINED; NaN where not computed) to chain in models.
Reference: Stokholm et al. (2024), The AutoICE challenge, The Cryosphere 18, 3471-3494."""

    def initAlgorithm(self, config=None):
        for name, suffix, what in CHARTS:
            for kind in ("PREDICTION", "CHART"):
                self.addParameter(QgsProcessingParameterRasterLayer(
                    f"{kind}{suffix}", self.tr(f"{kind.title()}: {name} codes ({what})"),
                    optional=True))
        self.addParameter(QgsProcessingParameterFileDestination(
            "OUTPUT_TABLE", self.tr("Score table"), "HTML (*.html);;CSV (*.csv)"))
        for name, label in NUMBERS:
            self.addOutput(QgsProcessingOutputNumber(name, self.tr(label)))

    def run_tool(self, parameters, context, callbacks):
        pairs = {}
        for name, suffix, _ in CHARTS:
            layers = [self.parameterAsRasterLayer(parameters, f"{kind}{suffix}", context)
                      for kind in ("PREDICTION", "CHART")]
            if all(layers):
                pairs[name] = (layers[0].source(), layers[1].source())
            elif any(layers):
                given, missing = ("PREDICTION", "CHART") if layers[0] else ("CHART", "PREDICTION")
                callbacks.warn(f"{given}{suffix} is given without {missing}{suffix}: {name} is "
                               "not scored.")
        table = self.parameterAsFileOutput(parameters, "OUTPUT_TABLE", context)
        scores = score_rasters(pairs, callbacks)
        write_table(scores, table, [f"{name}: prediction {p}, chart {c}"
                                    for name, (p, c) in pairs.items()])
        summary = scores.summary()
        results = {name: float("nan") for name, _ in NUMBERS}
        results.update({key: float(value) for key, value in summary.items()
                        if value is not None})
        for key, value in results.items():
            callbacks.log(f"{key}: {value:.2f}")
        results["OUTPUT_TABLE"] = table
        return results
