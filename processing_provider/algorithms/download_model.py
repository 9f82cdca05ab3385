"""rsai:download_model: prefetch a model's weights into the cache."""

from qgis.core import QgsProcessingOutputFile, QgsProcessingOutputString, QgsProcessingParameterString

from ..algorithm import RsaiAlgorithm
from ..models import resolve_model


class DownloadModel(RsaiAlgorithm):
    NAME = "download_model"
    DISPLAY_NAME = "Download model weights"
    HELP = """Fetches a model's weights into the weights cache and verifies their sha256, so \
later runs work offline (air-gapped machines: run this where there is a network, then copy the \
cache folder). In a graphical model, chain its MODEL output into a tool's model parameter.

<b>Model</b>: a model card id or a Hugging Face reference owner/repo@revision:file.onnx.
Outputs: the local weights file and the model reference, unchanged, for chaining."""

    def initAlgorithm(self, config=None):
        self.addParameter(QgsProcessingParameterString(
            "MODEL", self.tr("Model (card id or owner/repo@revision:file.onnx)")))
        self.addOutput(QgsProcessingOutputFile("WEIGHTS", self.tr("Cached weights file")))
        self.addOutput(QgsProcessingOutputString("MODEL", self.tr("Model")))

    def run_tool(self, parameters, context, callbacks):
        reference = self.parameterAsString(parameters, "MODEL", context)
        model = resolve_model(reference, callbacks)
        callbacks.log(f"{model.card.id}: weights ready at {model.weights} "
                      f"(licence: {model.card.licence})")
        return {"WEIGHTS": str(model.weights), "MODEL": reference}
