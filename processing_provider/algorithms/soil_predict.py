"""rsai:soil_predict: soil-property maps (or values at points) from a model of rsai:soil_train."""

from qgis.core import (QgsProcessing, QgsProcessingOutputNumber,
                       QgsProcessingParameterFeatureSource, QgsProcessingParameterFile,
                       QgsProcessingParameterMultipleLayers, QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterDestination, QgsProcessingParameterRasterLayer,
                       QgsProcessingParameterString, QgsProcessingParameterVectorDestination)

from ...models.errors import UserError
from ...models.soil.points import predict_points
from ...models.soil.predict import predict_map, soil_features
from ...models.soil.train import CITATION
from ..algorithm import RsaiAlgorithm
from ..model_loading import load_card_and_predictor
from ..vectors import vector_file
from .. import styles
from .soil_train import comma_list


EXTRAPOLATION_CLASSES = [(0, "within the training range", "#f0f0f0"),
                         (1, "outside the training range (a guess)", "#d7301f")]


class SoilPredict(RsaiAlgorithm):
    NAME = "soil_predict"
    DISPLAY_NAME = "Predict soil properties"
    GROUP = "Soil"
    GROUP_ID = "soil"
    REQUIRES = ("onnxruntime",)

    def initAlgorithm(self, config=None):
        self.addParameter(QgsProcessingParameterRasterLayer("INPUT", self.tr("Sentinel-2 image")))
        self.addParameter(QgsProcessingParameterString(
            "BANDS", self.tr("Band names (e.g. B02,B03,B04)"), optional=True))
        self.addParameter(QgsProcessingParameterMultipleLayers(
            "COVARIATES", self.tr("Covariate rasters (as in training)"),
            QgsProcessing.TypeRaster, optional=True))
        self.addParameter(QgsProcessingParameterFile(
            "MODEL", self.tr("Soil model (.onnx)"), extension="onnx"))
        self.addParameter(QgsProcessingParameterRasterLayer(
            "MASK", self.tr("Mask (0 = leave out)"), optional=True))
        self.addParameter(QgsProcessingParameterFeatureSource(
            "POINTS", self.tr("Points to predict at"),
            [QgsProcessing.TypeVectorPoint], optional=True))
        self.add_device_parameter()
        tile = QgsProcessingParameterNumber(
            "TILE_SIZE", self.tr("Block size (px)"),
            QgsProcessingParameterNumber.Integer, None, optional=True, minValue=16)
        tile.setFlags(tile.flags() | tile.FlagAdvanced)
        self.addParameter(tile)
        self.addParameter(QgsProcessingParameterRasterDestination(
            "OUTPUT", self.tr("Soil properties"), optional=True))
        self.addParameter(QgsProcessingParameterRasterDestination(
            "OUTPUT_INTERVAL", self.tr("Prediction intervals"),
            optional=True, createByDefault=False))
        self.addParameter(QgsProcessingParameterRasterDestination(
            "OUTPUT_EXTRAPOLATION", self.tr("Extrapolation flag"),
            optional=True, createByDefault=False))
        self.addParameter(QgsProcessingParameterVectorDestination(
            "OUTPUT_POINTS", self.tr("Points with predictions"),
            QgsProcessing.TypeVectorPoint, optional=True, createByDefault=False))
        for name, label in (("PREDICTED_PIXELS", "Pixels predicted"),
                            ("PREDICTED_POINTS", "Points predicted"),
                            ("EXTRAPOLATED_POINTS", "Points outside the training range")):
            self.addOutput(QgsProcessingOutputNumber(name, self.tr(label)))

    def run_tool(self, parameters, context, callbacks):
        image = self.parameterAsRasterLayer(parameters, "INPUT", context).source()
        covariates = [layer.source() for layer in
                      self.parameterAsLayerList(parameters, "COVARIATES", context)]
        bands = comma_list(self.parameterAsString(parameters, "BANDS", context))
        maps = {name: self.parameterAsOutputLayer(parameters, name, context) or None
                for name in ("OUTPUT", "OUTPUT_INTERVAL", "OUTPUT_EXTRAPOLATION")}
        has_points = parameters.get("POINTS") not in (None, "")
        points_output = self.parameterAsOutputLayer(parameters, "OUTPUT_POINTS", context)
        if has_points and not points_output:
            raise UserError("POINTS was given but OUTPUT_POINTS was not: choose a GeoPackage "
                            "for the points with predictions")
        if not has_points and not any(maps.values()):
            raise UserError("nothing to write: choose OUTPUT (and/or OUTPUT_INTERVAL, "
                            "OUTPUT_EXTRAPOLATION), or POINTS and OUTPUT_POINTS")
        card, predictor = load_card_and_predictor(
            self.parameterAsFile(parameters, "MODEL", context), self.device(parameters, context),
            callbacks, tasks=("regression",))
        soil_features(card)
        results = {}
        if has_points:
            points, layer = vector_file(self, parameters, "POINTS", context, callbacks.log)
            done = predict_points(card, predictor, points, image, points_output, layer=layer,
                                  covariates=covariates, bands=bands,
                                  callbacks=callbacks.part(0.1, 0.3 if any(maps.values())
                                                           else 1.0))
            for reason, count in done.skipped.items():
                callbacks.warn(f"{count} points not predicted: {reason}")
            callbacks.log(f"{done.predicted} points predicted into layer {done.layer} of "
                          f"{done.path}; {done.extrapolated} outside the training range")
            results.update(OUTPUT_POINTS=points_output, PREDICTED_POINTS=done.predicted,
                           EXTRAPOLATED_POINTS=done.extrapolated)
        if any(maps.values()):
            tile = parameters.get("TILE_SIZE")
            run = predict_map(card, predictor, image, maps["OUTPUT"], maps["OUTPUT_INTERVAL"],
                              maps["OUTPUT_EXTRAPOLATION"], covariates=covariates, bands=bands,
                              mask=self._mask(parameters, context),
                              tile_size=None if tile in (None, "") else
                              self.parameterAsInt(parameters, "TILE_SIZE", context),
                              callbacks=callbacks.part(0.3 if has_points else 0.1, 1.0))
            labels = {"OUTPUT": "Soil properties", "OUTPUT_INTERVAL": "Prediction intervals",
                      "OUTPUT_EXTRAPOLATION": "Extrapolation flag"}
            for name, path in maps.items():
                if path:
                    qml = (styles.write_class_style(path, EXTRAPOLATION_CLASSES)
                           if name == "OUTPUT_EXTRAPOLATION" else styles.write_value_style(path))
                    styles.style_on_load(context, path, qml, f"{labels[name]} ({card.title})",
                                         below=None if name == "OUTPUT" else maps["OUTPUT"])
                    results[name] = path
            results["PREDICTED_PIXELS"] = run.valid_pixels
        callbacks.log(f"Please cite {CITATION}")
        return results

    def _mask(self, parameters, context):
        layer = self.parameterAsRasterLayer(parameters, "MASK", context)
        return layer.source() if layer else None
