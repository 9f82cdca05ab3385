"""Ice-chart-like polygons from a class raster: one polygon per connected region of a class.

Analysts lay these beside DMI / CIS / NIC charts. GDAL traces the regions (``Polygonize``,
4-connected, bounded memory); each polygon is burnt back onto the grid as its id so its pixels
can be counted and its class probabilities averaged strip by strip. Area is in km2: pixels x
pixel area on a projected grid, the polygon's area in a Lambert equal-area projection around
the scene on a geographic one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from osgeo import gdal, ogr, osr

from ..callbacks import Callbacks
from ..cards import ClassInfo
from ..runtime import raster
from ..runtime.grids import Grid
from ..runtime.vectors import Field, geopackage_layer

LAYER = "sea_ice_polygons"
FIELDS = (Field("class", "int"), Field("class_name", "str"), Field("area_km2", "float"),
          Field("mean_probability", "float"), Field("pixels", "int"))
STRIP_ROWS = 256


def class_polygons(classes_path: str, probabilities_path: str, classes: Sequence[ClassInfo],
                   output: str, work: Path, callbacks: Callbacks = Callbacks()) -> int:
    """Write ``output`` (GeoPackage layer ``sea_ice_polygons``); returns the polygon count.

    ``probabilities_path``: one band per class, in the order of ``classes``, on the same grid.
    """
    source = raster.open_raster(classes_path, "class raster")
    grid = Grid.of(source)
    traced = _polygonize(source, work / "regions.gpkg")
    layer = traced.GetLayer(0)
    count = layer.GetFeatureCount()
    callbacks.log(f"{count} connected regions traced")
    ids = _burn_ids(traced, grid, work / "region_ids.tif")
    sums, pixels = _region_statistics(ids, source, raster.open_raster(probabilities_path),
                                      count, classes, callbacks)
    by_value = {c.value: c for c in classes}
    to_area = _area_function(grid)
    with geopackage_layer(output, LAYER, grid.crs, "polygon", FIELDS,
                          {"source": str(classes_path)}, callbacks) as writer:
        layer.ResetReading()
        for feature in layer:
            fid, value = feature.GetFID(), feature.GetField("class")
            geometry = feature.GetGeometryRef()
            n = int(pixels[fid])
            writer.add(geometry, [value, by_value[value].name if value in by_value else "",
                                  to_area(geometry, n), float(sums[fid] / n) if n else None, n])
    return count


def _polygonize(source: gdal.Dataset, target: Path) -> gdal.Dataset:
    band = source.GetRasterBand(1)
    vectors = ogr.GetDriverByName("GPKG").CreateDataSource(str(target))
    srs = source.GetSpatialRef()
    layer = vectors.CreateLayer("regions", srs, ogr.wkbPolygon, ["FID=fid"])
    layer.CreateField(ogr.FieldDefn("class", ogr.OFTInteger))
    layer.CreateField(ogr.FieldDefn("region", ogr.OFTInteger))
    layer.StartTransaction()
    gdal.Polygonize(band, band.GetMaskBand(), layer, 0, [])
    layer.CommitTransaction()
    layer.StartTransaction()
    for feature in layer:  # the id each region is burnt back with
        feature.SetField("region", feature.GetFID())
        layer.SetFeature(feature)
    layer.CommitTransaction()
    return vectors


def _burn_ids(traced: gdal.Dataset, grid: Grid, target: Path) -> gdal.Dataset:
    """Each region's feature id on the grid (0 outside every region): the pixels it holds."""
    ids = gdal.GetDriverByName("GTiff").Create(str(target), grid.width, grid.height, 1,
                                               gdal.GDT_Int32, options=list(raster.GTIFF_OPTIONS))
    ids.SetGeoTransform(grid.geotransform)
    if grid.crs:
        ids.SetProjection(grid.crs)
    gdal.RasterizeLayer(ids, [1], traced.GetLayer(0), options=["ATTRIBUTE=region"])
    return ids


def _region_statistics(ids: gdal.Dataset, classes_ds: gdal.Dataset,
                       probabilities: gdal.Dataset, count: int, classes: Sequence[ClassInfo],
                       callbacks: Callbacks) -> tuple[np.ndarray, np.ndarray]:
    """Per region id: the sum of its class's probability over its pixels, and its pixels."""
    band_of = np.full(256, -1, np.int64)
    for index, info in enumerate(classes):
        band_of[info.value] = index
    width, height = ids.RasterXSize, ids.RasterYSize
    sums = np.zeros(count + 2, np.float64)
    pixels = np.zeros(count + 2, np.int64)
    for row in range(0, height, STRIP_ROWS):
        callbacks.check_cancelled("the polygons")
        rows = min(STRIP_ROWS, height - row)
        region = ids.GetRasterBand(1).ReadAsArray(0, row, width, rows).astype(np.int64)
        values = classes_ds.GetRasterBand(1).ReadAsArray(0, row, width, rows)
        inside = region > 0
        index = band_of[values[inside]]
        known = index >= 0
        p = probabilities.ReadAsArray(0, row, width, rows).reshape(len(classes), rows, width)
        chosen = p[:, inside][index[known], np.flatnonzero(known)]
        ids_inside = region[inside]
        sums += np.bincount(ids_inside[known], weights=chosen, minlength=sums.size)[:sums.size]
        pixels += np.bincount(ids_inside, minlength=pixels.size)[:pixels.size]
    return sums, pixels


def _area_function(grid: Grid):
    """(geometry, pixel count) -> km2."""
    srs = osr.SpatialReference(wkt=grid.crs) if grid.crs else None
    if srs is not None and srs.IsGeographic():
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        lon, lat = grid.to_map(grid.width / 2, grid.height / 2)
        equal_area = osr.SpatialReference()
        equal_area.ImportFromProj4(f"+proj=laea +lat_0={lat} +lon_0={lon} +datum=WGS84 "
                                   "+units=m +no_defs")
        transform = osr.CoordinateTransformation(srs, equal_area)

        def geodesic(geometry, _n):
            copy = geometry.Clone()
            copy.Transform(transform)
            return copy.GetArea() / 1e6
        return geodesic
    gt = grid.geotransform
    unit = srs.GetLinearUnits() if srs is not None else 1.0
    pixel_km2 = abs(gt[1] * gt[5] - gt[2] * gt[4]) * unit * unit / 1e6
    return lambda _geometry, n: n * pixel_km2
