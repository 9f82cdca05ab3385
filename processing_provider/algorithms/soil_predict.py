"""rsai:soil_predict: soil-property maps (or values at points) from a model of rsai:soil_train."""

from qgis.core import (QgsProcessing, QgsProcessingOutputNumber,
                       QgsProcessingParameterFeatureSource, QgsProcessingParameterFile,
                       QgsProcessingParameterMultipleLayers, QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterDestination, QgsProcessingParameterRasterLayer,
                       QgsProcessingParameterString, QgsProcessingParameterVectorDestination)

from ...models.tools import SOIL_MAPS, SOIL_PREDICT, layer_source
from ..algorithm import RsaiAlgorithm
from ..model_loading import tool_environment
from ..vectors import vector_file
from .. import styles


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
        values = {
            "INPUT": self.parameterAsRasterLayer(parameters, "INPUT", context).source(),
            "BANDS": self.parameterAsString(parameters, "BANDS", context),
            "COVARIATES": [layer.source() for layer in
                           self.parameterAsLayerList(parameters, "COVARIATES", context)],
            "MODEL": self.parameterAsFile(parameters, "MODEL", context),
            "MASK": self._mask(parameters, context), "DEVICE": self.device(parameters, context),
            "TILE_SIZE": None if parameters.get("TILE_SIZE") in (None, "") else
            self.parameterAsInt(parameters, "TILE_SIZE", context),
            **{name: self.parameterAsOutputLayer(parameters, name, context) or None
               for name in (*SOIL_MAPS, "OUTPUT_POINTS")}}
        if parameters.get("POINTS") not in (None, ""):  # the layer is read (or copied) only when its predictions are written
            values["POINTS"] = layer_source(*vector_file(
                self, parameters, "POINTS", context, callbacks.log)) \
                if values["OUTPUT_POINTS"] else str(parameters["POINTS"])
        result = SOIL_PREDICT.run(values, tool_environment(callbacks), callbacks)
        labels = {"OUTPUT": "Soil properties", "OUTPUT_INTERVAL": "Prediction intervals",
                  "OUTPUT_EXTRAPOLATION": "Extrapolation flag"}
        for name in SOIL_MAPS:
            path = result.outputs.get(name)
            if path:
                qml = (styles.write_class_style(path, EXTRAPOLATION_CLASSES)
                       if name == "OUTPUT_EXTRAPOLATION" else styles.write_value_style(path))
                styles.style_on_load(context, path, qml, f"{labels[name]} ({result.card.title})",
                                     below=None if name == "OUTPUT" else values["OUTPUT"])
        return {**result.outputs, **result.details}

    def _mask(self, parameters, context):
        layer = self.parameterAsRasterLayer(parameters, "MASK", context)
        return layer.source() if layer else None
