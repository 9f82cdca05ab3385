"""Vector inputs for core functions that read files with OGR.

A layer from QGIS may live in memory, in a database or behind a filter; the core needs a file.
A plain file-based OGR layer is passed as it is (path and layer name); anything else is written
to a temporary GeoPackage first.
"""

from pathlib import Path

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
