"""Parameters the three CLIP tools share, so their names and meanings stay the same: the chip
parameters (how a raster is cut into chips) and INDEX / INPUT (where a search's chips come
from)."""

from qgis.core import (QgsProcessing, QgsProcessingParameterBand,
                       QgsProcessingParameterFeatureSource, QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterLayer, QgsProcessingParameterString,
                       QgsProcessingParameterVectorLayer)

from ..models.clip.chips import ChipOptions
from ..models.clip.tools import DEFAULT_MODEL, ChipSource
from .vectors import layer_file

CHIP_HELP = """<b>Bands</b>: the raster's red, green and blue bands, in that order (e.g. 4, 3, 2 \
for Sentinel-2); empty takes bands described as red, green and blue, or the raster's three bands.
<b>Chip size</b>: pixels per chip side; empty takes the model's input size (224). Other sizes \
are resized to it, so a larger chip sees more ground at less detail.
<b>Stride</b>: pixels from one chip to the next; empty takes the chip size (chips side by side). \
Half the chip size gives overlapping chips and a finer heat map, at four times the work.
<b>Resolution</b>: resample the raster to this pixel size (CRS units, metres) first, e.g. to the \
ground resolution the model was trained on; empty keeps the raster's own.
<b>Mask</b>: polygons; only chips whose centre lies inside are embedded (any CRS).
<b>Brightness</b>: 8-bit rasters are read as they are (0-255, like the pictures the model was \
trained on). Other rasters (Sentinel-2 digital numbers or reflectance, 16-bit imagery) are \
stretched as QGIS displays them: the 99th percentile of the three bands becomes white, 0 stays \
black, brighter values are clipped; the value used is logged and stored in the index. \
<b>Stretch max</b> (advanced) fixes it, e.g. to compare several scenes on one scale (3000 for \
Sentinel-2 digital numbers, 0.3 for reflectance).
Chips that are mostly nodata are left out (never given to the model).
<b>Device</b>: auto uses a GPU when torch finds one. <b>Batch size</b>: chips per forward pass."""


def add_chip_parameters(algorithm, advanced: bool = False) -> None:
    """BANDS, CHIP_SIZE, STRIDE, RESOLUTION, MASK, STRETCH_MAX, DEVICE, BATCH_SIZE (all but
    DEVICE advanced when the raster is optional, i.e. for searches that embed on the fly)."""
    parameters = [
        QgsProcessingParameterBand("BANDS", algorithm.tr("Red, green and blue bands (empty: by "
                                                         "description, else all three)"),
                                   None, "INPUT", optional=True, allowMultiple=True),
        _integer("CHIP_SIZE", algorithm.tr("Chip size in pixels (empty: the model's, 224)"), 16),
        _integer("STRIDE", algorithm.tr("Stride in pixels (empty: the chip size)"), 1),
        QgsProcessingParameterNumber("RESOLUTION", algorithm.tr(
            "Resample to this pixel size first (m; empty: the raster's own)"),
            QgsProcessingParameterNumber.Double, None, optional=True, minValue=0.0),
        QgsProcessingParameterFeatureSource("MASK", algorithm.tr("Only chips inside these "
                                                                 "polygons"),
                                            [QgsProcessing.TypeVectorPolygon], optional=True)]
    stretch = QgsProcessingParameterNumber(
        "STRETCH_MAX", algorithm.tr("Value shown as white (empty: 255 for 8-bit rasters, "
                                    "else the 99th percentile)"),
        QgsProcessingParameterNumber.Double, None, optional=True, minValue=0.0)
    stretch.setFlags(stretch.flags() | stretch.FlagAdvanced)
    for parameter in parameters:
        if advanced:
            parameter.setFlags(parameter.flags() | parameter.FlagAdvanced)
        algorithm.addParameter(parameter)
    algorithm.addParameter(stretch)
    algorithm.add_device_parameter()
    batch = QgsProcessingParameterNumber("BATCH_SIZE", algorithm.tr("Chips per forward pass"),
                                         QgsProcessingParameterNumber.Integer, 16, minValue=1)
    batch.setFlags(batch.flags() | batch.FlagAdvanced)
    algorithm.addParameter(batch)


def add_model_parameter(algorithm, optional: bool) -> None:
    label = ("CLIP model (card id; empty: the index's model, or " + DEFAULT_MODEL + ")"
             if optional else "CLIP model (card id)")
    algorithm.addParameter(QgsProcessingParameterString(
        "MODEL", algorithm.tr(label), None if optional else DEFAULT_MODEL, optional=optional))


def add_source_parameters(algorithm) -> None:
    """INDEX (a stored index) or INPUT (a raster embedded now)."""
    algorithm.addParameter(QgsProcessingParameterVectorLayer(
        "INDEX", algorithm.tr("Chip index (made by Embed image chips)"),
        [QgsProcessing.TypeVectorPolygon], optional=True))
    algorithm.addParameter(QgsProcessingParameterRasterLayer(
        "INPUT", algorithm.tr("Or a raster to embed now"), optional=True))


def chip_options(algorithm, parameters, context, log) -> ChipOptions:
    mask = layer_file(algorithm, parameters, "MASK", context, log)
    return ChipOptions(
        bands=algorithm.parameterAsInts(parameters, "BANDS", context) or None,
        chip_size=_optional_int(algorithm, parameters, "CHIP_SIZE", context),
        stride=_optional_int(algorithm, parameters, "STRIDE", context),
        resolution=_optional_float(algorithm, parameters, "RESOLUTION", context),
        mask=mask if mask[0] else None,
        stretch_max=_optional_float(algorithm, parameters, "STRETCH_MAX", context))


def chip_source(algorithm, parameters, context, log) -> ChipSource:
    index = layer_file(algorithm, parameters, "INDEX", context, log)
    raster = algorithm.parameterAsRasterLayer(parameters, "INPUT", context)
    return ChipSource(index=index if index[0] else None,
                      raster=raster.source() if raster is not None else None,
                      options=chip_options(algorithm, parameters, context, log),
                      batch_size=algorithm.parameterAsInt(parameters, "BATCH_SIZE", context))


def _integer(name, label, minimum):
    return QgsProcessingParameterNumber(name, label, QgsProcessingParameterNumber.Integer, None,
                                        optional=True, minValue=minimum)


def _optional_int(algorithm, parameters, name, context):
    value = parameters.get(name)
    return None if value in (None, "") else algorithm.parameterAsInt(parameters, name, context)


def _optional_float(algorithm, parameters, name, context):
    value = parameters.get(name)
    return None if value in (None, "") else algorithm.parameterAsDouble(parameters, name, context)
