"""Vector inputs for core functions that read files with OGR.

A layer from QGIS may live in memory, in a database or behind a filter; the core needs a file.
A plain file-based OGR layer is passed as it is (path and layer name); anything else is written
to a temporary GeoPackage first.
"""

import re
from pathlib import Path

from osgeo import ogr
from qgis.core import (QgsFeatureRequest, QgsProcessingException,
                       QgsProcessingFeatureSourceDefinition, QgsProcessingUtils,
                       QgsProviderRegistry, QgsVectorFileWriter)


def vector_file(algorithm, parameters, name, context, log=lambda message: None):
    """(path, layer) for the vector parameter ``name``; layer is a name, an index or None."""
    layer = algorithm.parameterAsVectorLayer(parameters, name, context)
    if layer is None:
        raise QgsProcessingException(f"{name}: the layer could not be read")
    definition = parameters.get(name)
    filtered = isinstance(definition, QgsProcessingFeatureSourceDefinition) and (
        definition.selectedFeaturesOnly or getattr(definition, "featureLimit", -1) != -1)
    if layer.providerType() == "ogr" and not layer.subsetString() and not filtered:
        parts = QgsProviderRegistry.instance().decodeUri("ogr", layer.source())
        path = parts.get("path") or ""
        if Path(path).is_file():
            layer_name = parts.get("layerName") or None
            layer_id = parts.get("layerId")
            return path, layer_name if layer_name else (
                int(layer_id) if layer_id not in (None, "") else None)
    return export_to_geopackage(algorithm, parameters, name, context, log), None


def export_to_geopackage(algorithm, parameters, name, context, log) -> str:
    """The features of the parameter ``name`` (selection and filters applied) as a temporary
    GeoPackage in the layer's own CRS."""
    source = algorithm.parameterAsSource(parameters, name, context)
    path = QgsProcessingUtils.generateTempFilename(f"{name.lower()}.gpkg")
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = "GPKG"
    options.layerName = name.lower()
    writer = QgsVectorFileWriter.create(path, source.fields(), source.wkbType(),
                                        source.sourceCrs(), context.transformContext(), options)
    if writer.hasError() != QgsVectorFileWriter.NoError:
        raise QgsProcessingException(f"could not write {path}: {writer.errorMessage()}")
    count = 0
    for feature in source.getFeatures(QgsFeatureRequest()):
        writer.addFeature(feature)
        count += 1
    del writer  # closes the file
    log(f"{name}: {count} features copied to {path} (the layer is not a plain file)")
    return path


def geopackage_destination(destination: str, default_layer: str) -> tuple[str, str]:
    """(file, layer) of a vector destination: a plain path (the layer gets ``default_layer``)
    or QGIS's "Save to GeoPackage" form ``ogr:dbname='x.gpkg' table="name" (geom)``."""
    match = re.match(r"""^ogr:dbname='(?P<path>(?:[^']|'')*)'\s+table="(?P<table>(?:[^"]|"")*)\"""",
                     destination or "")
    if match:
        return match["path"].replace("''", "'"), match["table"].replace('""', '"')
    return destination, default_layer


def layer_uri(path: str, layer: str) -> str:
    """The source string QGIS opens one layer of a GeoPackage with."""
    return f"{path}|layername={layer}"


def load_layer_on_completion(context, destination: str, path: str, layer: str) -> str:
    """Have the dialog load ``layer`` of ``path`` (the file may hold other layers) where it
    would have loaded ``destination``; returns the layer's URI."""
    uri = layer_uri(path, layer)
    if context.willLoadLayerOnCompletion(destination):
        layers = context.layersToLoadOnCompletion()
        details = layers.pop(destination)
        layers[uri] = details
        context.setLayersToLoadOnCompletion(layers)
    return uri


def layer_file(algorithm, parameters, name, context, log=lambda message: None):
    """(path, layer name) of a vector parameter, the layer named even when QGIS gave its
    index; (None, None) when the optional parameter is empty."""
    if not parameters.get(name):
        return None, None
    path, layer = vector_file(algorithm, parameters, name, context, log)
    if isinstance(layer, int):
        dataset = ogr.Open(path)
        layer = dataset.GetLayer(layer).GetName() if dataset is not None else None
    return path, layer
