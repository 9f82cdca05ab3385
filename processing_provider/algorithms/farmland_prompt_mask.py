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
    HELP = """Finds what a text prompt describes ("farmland", "rice paddies", "greenhouses") \
in an RGB raster of any resolution with CLIPSeg, tile by tile: a probability raster and a mask \
where the probability exceeds the threshold.

<b>Input</b>: an RGB raster (aerial photo, satellite true-colour composite); 8-bit values are \
divided by 255, 0-1 reflectance is used as is, other ranges are stretched by their 99th \
percentile. <b>Bands</b> (advanced): red, green, blue band numbers, e.g. 3,2,1.
<b>Prompt</b>: English text; it must not be empty.
<b>Threshold</b>: probability above which a pixel is in the mask (0.5).
<b>Model</b>: the CLIPSeg ONNX export: a local onnx/model.onnx (tokenizer.json beside it or \
in its parent folder, else TOKENIZER) or a pinned Hub reference \
Xenova/clipseg-rd64-refined@&lt;40-hex commit&gt;:onnx/model.onnx (tokenizer.json is fetched \
from the same commit; no checksum is published, so both files are recorded by sha256 at the \
first download and verified afterwards).
<b>Tile size / overlap</b> (advanced): empty takes 352 px (CLIPSeg's input size) and 48 px. \
CLIPSeg sees each tile alone: larger tiles give more context, smaller ones more detail.

Outputs: a Byte mask (1 prompt, 0 other, 255 nodata), styled, and optionally the probability \
(Float32). Runs on onnxruntime's CPU provider.

Cite: Lüddecke, T. & Ecker, A. (2022), Image Segmentation Using Text and Image Prompts, CVPR \
(CLIPSeg; weights CIDAS/clipseg-rd64-refined, Apache-2.0, converted to ONNX by Xenova). For \
farmland prompts see also FarmSeg-VL (Tao et al., ESSD 2025)."""

    def initAlgorithm(self, config=None):
        self.addParameter(QgsProcessingParameterRasterLayer("INPUT", self.tr("RGB raster")))
        self.addParameter(QgsProcessingParameterString(
            "PROMPT", self.tr("Prompt (what to find)"), defaultValue="farmland"))
        self.addParameter(QgsProcessingParameterNumber(
            "THRESHOLD", self.tr("Probability threshold"), QgsProcessingParameterNumber.Double,
            0.5, minValue=0.0, maxValue=1.0))
        self.addParameter(QgsProcessingParameterString(
            "MODEL", self.tr("CLIPSeg ONNX (file or owner/repo@revision:onnx/model.onnx)")))
        advanced = [
            QgsProcessingParameterFile("TOKENIZER", self.tr("tokenizer.json (empty: beside the "
                                                            "model)"), extension="json",
                                       optional=True),
            QgsProcessingParameterString("BANDS", self.tr("Red, green, blue band numbers "
                                                          "(empty: 1,2,3)"), optional=True)]
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
        styles.style_on_load(context, output, qml)
        results = {"OUTPUT": output}
        if probabilities:
            results["OUTPUT_PROBABILITIES"] = probabilities
            styles.write_value_style(probabilities)
        return results
