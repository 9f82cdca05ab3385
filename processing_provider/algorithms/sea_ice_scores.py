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

    def initAlgorithm(self, config=None):
        for name, suffix, _ in CHARTS:
            for kind in ("PREDICTION", "CHART"):
                self.addParameter(QgsProcessingParameterRasterLayer(
                    f"{kind}{suffix}", self.tr(f"{kind.title()} {name}"), optional=True))
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
