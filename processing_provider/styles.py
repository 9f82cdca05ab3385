"""Styles for outputs: a .qml file beside each raster (QGIS loads it as the layer's default
style, also for outputs of headless runs) and a post-processor that applies it when Processing
adds the layer to the project."""

from pathlib import Path
from typing import Sequence

from qgis.core import (QgsColorRampShader, QgsPalettedRasterRenderer,
                       QgsProcessingLayerPostProcessorInterface, QgsRasterLayer,
                       QgsRasterShader, QgsSingleBandPseudoColorRenderer, QgsStyle)
from qgis.PyQt.QtGui import QColor


def write_class_style(raster_path: str, classes: Sequence[tuple[int, str, str]]) -> Path:
    """Paletted style with the classes' names and colours."""
    layer = QgsRasterLayer(raster_path, "classes", "gdal")
    renderer = QgsPalettedRasterRenderer(layer.dataProvider(), 1, [
        QgsPalettedRasterRenderer.Class(value, QColor(colour), name)
        for value, name, colour in classes])
    return _save(layer, renderer)


def write_value_style(raster_path: str, band: int = 1, ramp: str = "Viridis") -> Path:
    """Continuous colour ramp stretched over the band's min..max."""
    layer = QgsRasterLayer(raster_path, "values", "gdal")
    stats = layer.dataProvider().bandStatistics(band)
    shader_function = QgsColorRampShader(stats.minimumValue, stats.maximumValue,
                                         QgsStyle.defaultStyle().colorRamp(ramp))
    shader_function.classifyColorRamp(5, band)
    shader = QgsRasterShader(stats.minimumValue, stats.maximumValue)
    shader.setRasterShaderFunction(shader_function)
    renderer = QgsSingleBandPseudoColorRenderer(layer.dataProvider(), band, shader)
    return _save(layer, renderer)


def _save(layer: QgsRasterLayer, renderer) -> Path:
    layer.setRenderer(renderer)
    qml = Path(layer.source()).with_suffix(".qml")
    layer.saveNamedStyle(str(qml))
    return qml


class LoadStyle(QgsProcessingLayerPostProcessorInterface):
    """Applies the .qml beside an output when the dialog loads it into the project."""

    def __init__(self, qml: Path):
        super().__init__()
        self.qml = str(qml)

    def postProcessLayer(self, layer, context, feedback):
        if layer is not None and layer.isValid():
            layer.loadNamedStyle(self.qml)
            layer.triggerRepaint()


def style_on_load(context, output_path: str, qml: Path) -> None:
    """Have Processing apply ``qml`` when it loads ``output_path`` into the project."""
    if context.willLoadLayerOnCompletion(output_path):
        post_processor = LoadStyle(qml)
        context.layerToLoadOnCompletionDetails(output_path).setPostProcessor(post_processor)
        # Processing does not own the post-processor: keep it alive with the context.
        _keep_alive.append(post_processor)


_keep_alive: list = []
