"""rsai:farmland_prompt_mask: a mask of whatever a text prompt describes, with CLIPSeg."""

from qgis.core import (QgsProcessingParameterFile, QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterDestination, QgsProcessingParameterRasterLayer,
                       QgsProcessingParameterString)

from ...models.farmland.prompt import MASK_CLASSES
from ...models.tools import FARMLAND_PROMPT_MASK
from ..algorithm import RsaiAlgorithm
from ..model_loading import tool_environment
from .. import styles


class FarmlandPromptMask(RsaiAlgorithm):
    NAME = "farmland_prompt_mask"
    DISPLAY_NAME = "Farmland mask from a text prompt (CLIPSeg)"
    GROUP = "Farmland"
    GROUP_ID = "farmland"
    ICON = "farmland_prompt_mask.svg"
    REQUIRES = ("onnxruntime", "tokenizers")
    OPTIONAL = {"huggingface_hub": "downloading CLIPSeg from the Hugging Face Hub"}
    LOCAL_WEIGHTS = ("Or give MODEL as a local onnx/model.onnx, with tokenizer.json beside it "
                     "(or as TOKENIZER).")

    def initAlgorithm(self, config=None):
        self.addParameter(QgsProcessingParameterRasterLayer("INPUT", self.tr("RGB raster")))
        self.addParameter(QgsProcessingParameterString(
            "PROMPT", self.tr("Prompt (what to find)"), defaultValue="farmland"))
        self.addParameter(QgsProcessingParameterNumber(
            "THRESHOLD", self.tr("Probability threshold"), QgsProcessingParameterNumber.Double,
            0.5, minValue=0.0, maxValue=1.0))
        self.add_model_parameter(tasks=())  # no CLIPSeg card yet: a file or a Hub reference
        advanced = [
            QgsProcessingParameterFile("TOKENIZER", self.tr("tokenizer.json"), extension="json",
                                       optional=True),
            QgsProcessingParameterString("BANDS", self.tr("Red, green, blue bands"),
                                         optional=True)]
        for parameter in advanced:
            parameter.setFlags(parameter.flags() | parameter.FlagAdvanced)
            self.addParameter(parameter)
        self.add_tiling_parameters()
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", self.tr("Mask")))
        self.addParameter(QgsProcessingParameterRasterDestination(
            "OUTPUT_PROBABILITIES", self.tr("Probability"), optional=True, createByDefault=False))

    def run_tool(self, parameters, context, callbacks):
        output = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        probabilities = self.parameterAsOutputLayer(parameters, "OUTPUT_PROBABILITIES", context)
        prompt = self.parameterAsString(parameters, "PROMPT", context)
        values = {
            "INPUT": self.parameterAsRasterLayer(parameters, "INPUT", context).source(),
            "PROMPT": prompt, "THRESHOLD": self.parameterAsDouble(parameters, "THRESHOLD", context),
            "MODEL": self.parameterAsString(parameters, "MODEL", context),
            "TOKENIZER": self.parameterAsString(parameters, "TOKENIZER", context) or None,
            "BANDS": self.parameterAsString(parameters, "BANDS", context),
            **self.tiling_values(parameters, context),
            "OUTPUT": output, "OUTPUT_PROBABILITIES": probabilities}
        result = FARMLAND_PROMPT_MASK.run(values, tool_environment(callbacks), callbacks)
        qml = styles.write_class_style(output, list(MASK_CLASSES))
        styles.style_on_load(context, output, qml, f"Mask: {prompt}")
        if probabilities:
            styles.style_on_load(context, probabilities,
                                 styles.write_probability_style(probabilities),
                                 f"Probability: {prompt}", below=output)
        return result.outputs
