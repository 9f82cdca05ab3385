"""Styles for outputs: a .qml file beside each raster (QGIS loads it as the layer's default
style, also for outputs of headless runs) and a post-processor that applies it when Processing
adds the layer to the project."""

from pathlib import Path
from typing import Sequence

from qgis.core import (QgsColorRampShader, QgsContrastEnhancement,
                       QgsMultiBandColorRenderer, QgsPalettedRasterRenderer,
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


def write_fill_style(vector_path: str, fill: str = "77,175,74,110", outline: str = "#1b5e20",
                     layer_name: str = "") -> Path:
    """Simple semi-transparent fill with a thin outline (field polygons), as a .qml beside it."""
    from qgis.core import QgsFillSymbol, QgsSingleSymbolRenderer
    symbol = QgsFillSymbol.createSimple({"color": fill, "outline_color": outline,
                                         "outline_width": "0.3"})
    return _save_vector(vector_path, layer_name, lambda layer: QgsSingleSymbolRenderer(symbol))


def write_category_style(vector_path: str, field: str, classes: Sequence[tuple[int, str, str]],
                         layer_name: str = "") -> Path:
    """Polygons filled by class: each value of ``field`` in its colour, named, as a .qml."""
    from qgis.core import QgsCategorizedSymbolRenderer, QgsFillSymbol, QgsRendererCategory
    categories = [QgsRendererCategory(value, QgsFillSymbol.createSimple(
        {"color": colour, "outline_color": "#404040", "outline_width": "0.1"}), name)
        for value, name, colour in classes]
    return _save_vector(vector_path, layer_name,
                        lambda layer: QgsCategorizedSymbolRenderer(field, categories))


def write_graduated_style(vector_path: str, field: str, layer_name: str = "",
                          ramp: str = "Viridis", classes: int = 5) -> Path:
    """Polygons coloured by a numeric field in equal intervals of a colour ramp (search
    matches by similarity), as a .qml beside the file."""
    from qgis.core import (QgsClassificationEqualInterval, QgsFillSymbol,
                           QgsGraduatedSymbolRenderer)

    def renderer(layer):
        graduated = QgsGraduatedSymbolRenderer(field)
        graduated.setSourceSymbol(QgsFillSymbol.createSimple({"outline_color": "#202020",
                                                              "outline_width": "0.3"}))
        graduated.setSourceColorRamp(QgsStyle.defaultStyle().colorRamp(ramp))
        graduated.setClassificationMethod(QgsClassificationEqualInterval())
        graduated.updateClasses(layer, classes)  # from the layer's values
        return graduated

    return _save_vector(vector_path, layer_name, renderer)


def _save_vector(vector_path: str, layer_name: str, make_renderer) -> Path:
    """The renderer ``make_renderer(layer)`` gives for a layer of ``vector_path``, saved as
    the .qml beside the file."""
    from qgis.core import QgsVectorLayer
    source = f"{vector_path}|layername={layer_name}" if layer_name else vector_path
    layer = QgsVectorLayer(source, "polygons", "ogr")
    layer.setRenderer(make_renderer(layer))
    qml = Path(vector_path).with_suffix(".qml")
    layer.saveNamedStyle(str(qml))
    return qml


def write_rgb_style(raster_path: str, red: int, green: int, blue: int,
                    percentiles: tuple[float, float] = (2.0, 98.0)) -> Path:
    """Multiband colour composite of three bands, each stretched over its 2-98% range."""
    layer = QgsRasterLayer(raster_path, "rgb", "gdal")
    provider = layer.dataProvider()
    renderer = QgsMultiBandColorRenderer(provider, red, green, blue)
    for band, setter in ((red, renderer.setRedContrastEnhancement),
                         (green, renderer.setGreenContrastEnhancement),
                         (blue, renderer.setBlueContrastEnhancement)):
        enhancement = QgsContrastEnhancement(provider.dataType(band))
        enhancement.setContrastEnhancementAlgorithm(
            QgsContrastEnhancement.StretchToMinimumMaximum)
        low, high = provider.cumulativeCut(band, percentiles[0] / 100, percentiles[1] / 100,
                                           sampleSize=250000)
        enhancement.setMinimumValue(low)
        enhancement.setMaximumValue(high)
        setter(enhancement)
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


def style_model_output(context, output_path: str, card) -> Path:
    """Paletted classes for segmentation cards, a colour ramp for regression; applied when the
    dialog loads the layer."""
    if card.task == "segmentation":
        qml = write_class_style(output_path, [(c.value, c.name, c.color) for c in card.classes])
    else:
        qml = write_value_style(output_path)
    style_on_load(context, output_path, qml)
    return qml
