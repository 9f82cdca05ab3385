"""rsai:farmland_prompt_mask: a mask of whatever a text prompt describes, with CLIPSeg."""

from qgis.core import (QgsProcessingParameterFile, QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterDestination, QgsProcessingParameterRasterLayer,
                       QgsProcessingParameterString)

from ...models.farmland.clipseg import ClipSegPrompter
from ...models.farmland.prompt import MASK_CLASSES, prompt_mask, resolve_clipseg_files
from ...models.runtime.engine import RunOptions
from ..algorithm import RsaiAlgorithm
from .. import settings, styles
from .farmland_segmentation import parse_band_list


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
        layer = self.parameterAsRasterLayer(parameters, "INPUT", context)
        output = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        probabilities = self.parameterAsOutputLayer(parameters, "OUTPUT_PROBABILITIES", context)
        prompt = self.parameterAsString(parameters, "PROMPT", context)
        onnx, tokenizer, origin = resolve_clipseg_files(
            self.parameterAsString(parameters, "MODEL", context),
            self.parameterAsString(parameters, "TOKENIZER", context) or None,
            settings.weights_store(log=callbacks.log), callbacks.part(0, 0.05))
        prompter = ClipSegPrompter(onnx, tokenizer)
        callbacks.log(f"Model CLIPSeg: {origin}, tokenizer {tokenizer}; device onnxruntime "
                      f"{prompter.session.get_providers()[0]}")
        prompt_mask(prompter, prompt, layer.source(), output, probabilities or None,
                    self.parameterAsDouble(parameters, "THRESHOLD", context),
                    parse_band_list(self.parameterAsString(parameters, "BANDS", context)),
                    RunOptions(**self.tiling(parameters, context)), callbacks.part(0.05, 1))
        qml = styles.write_class_style(output, list(MASK_CLASSES))
        styles.style_on_load(context, output, qml, f"Mask: {prompt}")
        results = {"OUTPUT": output}
        if probabilities:
            results["OUTPUT_PROBABILITIES"] = probabilities
            styles.style_on_load(context, probabilities,
                                 styles.write_probability_style(probabilities),
                                 f"Probability: {prompt}", below=output)
        return results
