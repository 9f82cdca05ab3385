"""rsai:download_model: prefetch a model's weights into the cache."""

from qgis.core import QgsProcessingOutputFile, QgsProcessingOutputString

from ..algorithm import RsaiAlgorithm
from ..model_loading import resolve_model_parameter


class DownloadModel(RsaiAlgorithm):
    NAME = "download_model"
    DISPLAY_NAME = "Download model weights"
    REQUIRES = ("huggingface_hub",)

    def initAlgorithm(self, config=None):
        self.add_model_parameter()
        self.addOutput(QgsProcessingOutputFile("WEIGHTS", self.tr("Cached weights file")))
        self.addOutput(QgsProcessingOutputString("MODEL", self.tr("Model")))

    def run_tool(self, parameters, context, callbacks):
        reference = self.parameterAsString(parameters, "MODEL", context)
        model = resolve_model_parameter(reference, callbacks)
        callbacks.log(f"{model.card.id}: weights ready at {model.weights} "
                      f"(licence: {model.card.licence})")
        return {"WEIGHTS": str(model.weights), "MODEL": reference}
