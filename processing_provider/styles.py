"""Styles for outputs: a .qml file beside each raster (QGIS loads it as the layer's default
style, also for outputs of headless runs) and a post-processor that applies it when Processing
adds the layer to the project, with the layer's name and its place in the layer list.

A .qml is written whole under a temporary name and carries ``STYLE_MARKER``; a .qml without the
marker is the user's own style and is never replaced (ours then goes to Processing's temporary
folder, and is still applied when the dialog loads the layer).
"""

import uuid
from pathlib import Path
from typing import Sequence

from qgis.core import (QgsColorRampShader, QgsContrastEnhancement, QgsMessageLog,
                       QgsMultiBandColorRenderer, QgsPalettedRasterRenderer,
                       QgsProcessingLayerPostProcessorInterface, QgsProcessingUtils, QgsProject,
                       QgsRasterLayer, QgsRasterShader, QgsSingleBandPseudoColorRenderer,
                       QgsStyle)
from qgis.PyQt.QtGui import QColor

from ..models.files import write_files

STYLE_MARKER = "<!-- rsai_toolbox style: replaced by the next run writing this output -->"


def write_class_style(raster_path: str, classes: Sequence[tuple[int, str, str]]) -> Path:
    """Paletted style with the classes' names and colours."""
    layer = QgsRasterLayer(raster_path, "classes", "gdal")
    renderer = QgsPalettedRasterRenderer(layer.dataProvider(), 1, [
        QgsPalettedRasterRenderer.Class(value, QColor(colour), name)
        for value, name, colour in classes])
    return _save(layer, renderer)


def write_value_style(raster_path: str, band: int = 1, ramp: str = "Viridis",
                      value_range: tuple[float, float] | None = None) -> Path:
    """One band in a continuous colour ramp, stretched over ``value_range`` (default: the band's
    min..max)."""
    layer = QgsRasterLayer(raster_path, "values", "gdal")
    if value_range is None:
        stats = layer.dataProvider().bandStatistics(band)
        value_range = (stats.minimumValue, stats.maximumValue)
    low, high = value_range
    shader_function = QgsColorRampShader(low, high, QgsStyle.defaultStyle().colorRamp(ramp))
    shader_function.classifyColorRamp(5, band)
    shader = QgsRasterShader(low, high)
    shader.setRasterShaderFunction(shader_function)
    renderer = QgsSingleBandPseudoColorRenderer(layer.dataProvider(), band, shader)
    renderer.setClassificationMin(low)
    renderer.setClassificationMax(high)
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
    return save_style(layer, Path(vector_path).with_suffix(".qml"))


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
    return save_style(layer, Path(layer.source()).with_suffix(".qml"))


def save_style(layer, qml: Path) -> Path:
    """The layer's style as ``qml`` (marked, written atomically); when ``qml`` is a style the
    user wrote, it is kept and ours goes to a temporary file, whose path is returned."""
    if qml.exists() and STYLE_MARKER not in qml.read_text(encoding="utf-8", errors="replace"):
        QgsMessageLog.logMessage(f"kept your style {qml}; the toolbox's style for the output "
                                 "is applied when the layer is loaded", "rsai")
        qml = Path(QgsProcessingUtils.tempFolder()) / f"{qml.stem}.{uuid.uuid4().hex[:8]}.qml"
    scratch = Path(QgsProcessingUtils.tempFolder()) / f"style-{uuid.uuid4().hex}.qml"
    layer.saveNamedStyle(str(scratch))
    text = scratch.read_text(encoding="utf-8")
    scratch.unlink()
    head, newline, rest = text.partition("\n")  # after the <!DOCTYPE qgis ...> line
    write_files({qml: f"{head}{newline}{STYLE_MARKER}\n{rest}" if rest else
                 f"{STYLE_MARKER}\n{text}"})
    return qml


class LoadStyle(QgsProcessingLayerPostProcessorInterface):
    """Applies the .qml beside an output when the dialog loads it into the project, and puts
    the layer just below the layer of ``below`` (an output path) when that one is above it."""

    def __init__(self, qml: Path, below: str | None = None):
        super().__init__()
        self.qml = str(qml)
        self.below = below

    def postProcessLayer(self, layer, context, feedback):
        if layer is None or not layer.isValid():
            return
        layer.loadNamedStyle(self.qml)
        layer.triggerRepaint()
        if self.below:
            move_below(context.project() or QgsProject.instance(), layer, self.below)


def move_below(project, layer, above_source: str) -> None:
    """Move ``layer`` right under the layer whose source is ``above_source`` when both sit in
    the same group and ``layer`` is above it (Processing adds each new layer on top)."""
    root = project.layerTreeRoot()
    node = root.findLayer(layer.id())
    above = next((n for n in root.findLayers()
                  if n.layer() is not None and n.layer().source() == above_source), None)
    if node is None or above is None or node.parent() is not above.parent():
        return
    parent = node.parent()
    children = parent.children()
    if children.index(node) > children.index(above):
        return  # already below
    clone = node.clone()
    parent.insertChildNode(children.index(above) + 1, clone)
    parent.removeChildNode(node)


def style_on_load(context, output_path: str, qml: Path, name: str | None = None,
                  below: str | None = None) -> None:
    """Have Processing apply ``qml`` when it loads ``output_path`` into the project, name the
    layer ``name`` (unless the user prefers file names for the files they named) and keep it
    below the output ``below``."""
    if context.willLoadLayerOnCompletion(output_path):
        details = context.layerToLoadOnCompletionDetails(output_path)
        if name:
            details.name = name
        post_processor = LoadStyle(qml, below)
        details.setPostProcessor(post_processor)
        # Processing does not own the post-processor: keep it alive with the context.
        _keep_alive.append(post_processor)


_keep_alive: list = []


def style_model_outputs(context, card, output: str, probabilities: str | None = None) -> None:
    """A model run's rasters, each with its .qml: paletted classes for segmentation cards (a
    colour ramp for regression) and the class probabilities as one band on a fixed 0..1 ramp
    (never an accidental RGB of the first three classes). When the dialog loads them they are
    named after the model and the probabilities sit below the classes."""
    if card.task == "segmentation":
        qml = write_class_style(output, [(c.value, c.name, c.color) for c in card.classes])
        name = f"Classes ({card.title})"
    else:
        qml = write_value_style(output)
        name = f"{', '.join(t.name for t in card.targets) or 'Values'} ({card.title})"
    style_on_load(context, output, qml, name)
    if probabilities:
        style_on_load(context, probabilities, write_probability_style(probabilities),
                      f"Class probabilities ({card.title})", below=output)


def write_probability_style(raster_path: str, band: int = 1) -> Path:
    """A probability band (0..1) as a single-band colour ramp over the full 0..1 range, so
    colours mean the same in every run (pick another band in the layer's properties)."""
    return write_value_style(raster_path, band, "Viridis", (0.0, 1.0))
