"""Every tool's destinations checked before any work, from the parameter definitions alone.

Each destination must be a file name with an extension the tool writes (a raster as GeoTIFF, a
vector as GeoPackage, a file as its filter says; a name without one gets the default), never an
existing folder, and never the same file as an input or as another destination (including the
side files a tool declares in ``SIDE_FILES``, such as the CSV beside an HTML report). The .qml
style beside a layer is not one of them: two outputs may share a base name (ice.tif and
ice.gpkg), and a user's own .qml is protected where styles are written (styles.py).
The same-file rule is models/paths.py's, so every spelling of a path is caught.
"""

import os
import re
from pathlib import Path

from qgis.core import (QgsProcessingOutputLayerDefinition, QgsProcessingParameterFeatureSource,
                       QgsProcessingParameterMultipleLayers, QgsProcessingParameterRasterLayer,
                       QgsProcessingParameterVectorLayer, QgsProcessingParameterMapLayer,
                       QgsProperty)

from ..models import paths
from ..models.runtime.raster import RASTER_EXTENSIONS
from ..models.runtime.vectors import VECTOR_EXTENSIONS

LAYER_TYPES = (QgsProcessingParameterRasterLayer, QgsProcessingParameterVectorLayer,
               QgsProcessingParameterFeatureSource, QgsProcessingParameterMapLayer)
TEMPORARY = "TEMPORARY_OUTPUT"


def checked(algorithm, parameters: dict, context, log=lambda message: None) -> dict:
    """``parameters`` with a default extension added where a destination had none; raises
    UserError when a destination is unsafe."""
    parameters = dict(parameters)
    outputs, inputs = {}, {}
    for definition in algorithm.parameterDefinitions():
        name = definition.name()
        if definition.isDestination():
            value = destination_text(parameters.get(name), context)
            if not value or value == TEMPORARY or value.startswith("memory:"):
                continue
            extensions = destination_extensions(definition)
            if extensions:
                fixed = paths.check_destination(name, value, extensions,
                                                _kind(definition.type()))
                if fixed != value:
                    log(f"{name}: {value} has no extension; writing {fixed}")
                    parameters[name] = _with_text(parameters.get(name), fixed)
                    value = fixed
            outputs[name] = value
            target = paths.file_of(value)
            for suffix in algorithm.SIDE_FILES.get(name, ()):
                outputs[f"{name} ({suffix} written beside it)"] = str(
                    Path(target).with_suffix(suffix))
        else:
            for index, source in enumerate(input_sources(algorithm, definition, parameters,
                                                         context)):
                inputs[name if index == 0 else f"{name} #{index + 1}"] = source
    paths.check_apart(outputs, inputs)
    return parameters


def destination_text(value, context) -> str:
    """The file name a destination parameter's value gives (plain text, a QgsProperty or
    QGIS's output definition)."""
    if isinstance(value, QgsProcessingOutputLayerDefinition):
        value = value.sink
    if isinstance(value, QgsProperty):
        value = value.valueAsString(context.expressionContext())
        value = value[0] if isinstance(value, tuple) else value
    return "" if value is None else str(value).strip()


def _with_text(value, text: str):
    if isinstance(value, QgsProcessingOutputLayerDefinition):
        copy = QgsProcessingOutputLayerDefinition(value)
        copy.sink = QgsProperty.fromValue(text)
        return copy
    return text


def destination_extensions(definition) -> tuple[str, ...]:
    """The extensions a destination may have, the default first; () when any is fine."""
    kind = definition.type()
    if kind == "rasterDestination":
        return RASTER_EXTENSIONS
    if kind == "vectorDestination":
        return VECTOR_EXTENSIONS
    if kind == "fileDestination":
        found = re.findall(r"\*(\.[A-Za-z0-9_]+)", definition.fileFilter() or "")
        default = "." + (definition.defaultFileExtension() or "").lstrip(".")
        ordered = [default] if default != "." else []
        ordered += [ext.lower() for ext in found if ext.lower() not in ordered]
        return tuple(ordered)
    return ()


def _kind(kind: str) -> str:
    return {"rasterDestination": "raster", "vectorDestination": "vector layer"}.get(kind, "file")


def input_sources(algorithm, definition, parameters, context) -> list[str]:
    """The sources an input parameter reads: layers' sources, and any text value that names an
    existing file (a weights file, a model card, a model .json)."""
    name = definition.name()
    value = parameters.get(name)
    if value is None or value == "":
        return []
    if isinstance(definition, QgsProcessingParameterMultipleLayers):
        return [layer.source() for layer in algorithm.parameterAsLayerList(parameters, name,
                                                                           context)]
    if isinstance(definition, LAYER_TYPES):
        if isinstance(value, str) and paths.file_of(value) and os.path.exists(
                paths.file_of(value)):
            return [value]  # a file: no need to load the layer (QGIS would compute statistics)
        layer = (algorithm.parameterAsVectorLayer(parameters, name, context)
                 if isinstance(definition, QgsProcessingParameterFeatureSource)
                 else algorithm.parameterAsLayer(parameters, name, context))
        return [layer.source()] if layer is not None else []
    if isinstance(value, str) and paths.file_of(value) and os.path.exists(paths.file_of(value)):
        return [value]
    return []
