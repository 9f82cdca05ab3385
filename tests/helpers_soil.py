"""LimeSoDa soil samples (../shared/data/soil) as tables, sample points and rasters for tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from osgeo import gdal, ogr, osr

from rsai_toolbox.models.soil.tables import read_csv_columns, table_from_columns

from helpers import write_geotiff

S2_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12")
NOT_COVARIATES = ("sample_id", "x", "y", "fold")
EPSG = {"BB_250": 25833, "BB_72": 25833, "B_204": 32723, "G_104": 32722, "G_150": 32722,
        "MG_112": 32721, "MGS_101": 32721}
# Random Forest (500 trees) 10-fold CV R2 (pH, SOC) on the given folds, issue 13
BAR = {"BB_250": (0.647, 0.895), "BB_72": (0.438, 0.556), "B_204": (0.225, -0.03),
       "G_104": (0.046, 0.055), "G_150": (0.380, 0.403), "MGS_101": (0.010, 0.211),
       "MG_112": (-0.04, 0.605)}
PIXEL = 10.0


def columns(shared_data: Path, name: str) -> dict:
    return read_csv_columns(shared_data / "soil" / f"limesoda_{name}.csv")


def bands_and_covariates(cols: dict) -> tuple[list, list]:
    """The S2 band columns and every other predictor column (what the benchmark's 'same
    features' are: all columns but ids, coordinates, fold and targets)."""
    bands = [b for b in S2_BANDS if b in cols]
    covariates = [c for c in cols if c not in bands and c not in NOT_COVARIATES
                  and not c.endswith("_target")]
    return bands, covariates


def limesoda_table(shared_data: Path, name: str, indices=()):
    cols = columns(shared_data, name)
    bands, covariates = bands_and_covariates(cols)
    return table_from_columns(cols, bands=bands, covariates=covariates,
                              targets=["pH_target", "SOC_target"], units=["pH", "%"],
                              fold="fold", indices=indices, crs=f"EPSG:{EPSG[name]}")


def grid(cols: dict, margin: int = 3):
    """A 10 m grid covering the samples with ``margin`` pixels around: (geotransform, w, h)."""
    x0 = np.floor(cols["x"].min() / PIXEL) * PIXEL - margin * PIXEL
    y1 = np.ceil(cols["y"].max() / PIXEL) * PIXEL + margin * PIXEL
    width = int(np.ceil((cols["x"].max() - x0) / PIXEL)) + margin + 1
    height = int(np.ceil((y1 - cols["y"].min()) / PIXEL)) + margin + 1
    return (x0, PIXEL, 0.0, y1, 0.0, -PIXEL), width, height


def pixel_of(cols: dict, geotransform) -> tuple[np.ndarray, np.ndarray]:
    col = np.floor((cols["x"] - geotransform[0]) / PIXEL).astype(int)
    row = np.floor((geotransform[3] - cols["y"]) / PIXEL).astype(int)
    return col, row


def s2_raster(shared_data: Path, name: str, path: Path, nodata: float = 0,
              descriptions=True) -> Path:
    """Each sample's S2 values in the 10 m pixel under it, ``nodata`` elsewhere (UInt16)."""
    cols = columns(shared_data, name)
    bands, _ = bands_and_covariates(cols)
    geotransform, width, height = grid(cols)
    image = np.full((len(bands), height, width), nodata, np.uint16)
    col, row = pixel_of(cols, geotransform)
    for b, band in enumerate(bands):
        image[b, row, col] = cols[band].astype(np.uint16)
    return write_geotiff(path, image, geotransform, EPSG[name], nodata=nodata,
                         descriptions=bands if descriptions else ())


def covariate_raster(shared_data: Path, name: str, column: str, path: Path,
                     epsg: int = 4326, pixel_degrees: float = 0.0002) -> Path:
    """``column`` interpolated (inverse distance) over the samples' area, then warped to
    another CRS and grid (default WGS 84, ~20 m): a covariate that is not on the image grid."""
    cols = columns(shared_data, name)
    points = path.with_suffix(".points.gpkg")
    sample_points(shared_data, name, points, fields=(column,))
    geotransform, width, height = grid(cols, margin=10)
    native = path.with_suffix(".native.tif")
    gdal.Grid(str(native), str(points), zfield=column, algorithm="invdist:power=2:smoothing=1",
              outputBounds=[geotransform[0], geotransform[3] + height * geotransform[5],
                            geotransform[0] + width * geotransform[1], geotransform[3]],
              width=width, height=height, outputType=gdal.GDT_Float32)
    gdal.Warp(str(path), str(native), dstSRS=f"EPSG:{epsg}", xRes=pixel_degrees,
              yRes=pixel_degrees, resampleAlg="bilinear", dstNodata=-9999)
    return path


def sample_points(shared_data: Path, name: str, path: Path, fields=("pH_target", "SOC_target",
                                                                        "fold"),
                  epsg: int | None = None, rows=None, extra_xy=(), extra=None) -> Path:
    """The samples as a point GeoPackage (layer 'samples') with ``fields``, optionally
    reprojected to ``epsg``; ``rows`` picks samples, ``extra_xy`` adds points (dataset CRS,
    fields copied from the first sample) and ``extra`` adds fields {name: values per point}
    (float, str or None)."""
    cols = dict(columns(shared_data, name))
    rows = np.arange(len(cols["x"])) if rows is None else np.asarray(rows)
    if len(extra_xy):
        extra_xy = np.asarray(extra_xy, np.float64)
        cols = {k: np.concatenate([v[rows], np.repeat(v[rows[:1]], len(extra_xy))])
                for k, v in cols.items()}
        cols["x"][len(rows):], cols["y"][len(rows):] = extra_xy[:, 0], extra_xy[:, 1]
        rows = np.arange(len(cols["x"]))
    extra = extra or {}
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(EPSG[name])
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    out_srs, transform = srs, None
    if epsg:
        out_srs = osr.SpatialReference()
        out_srs.ImportFromEPSG(epsg)
        out_srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        transform = osr.CoordinateTransformation(srs, out_srs)
    source = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = source.CreateLayer("samples", srs=out_srs, geom_type=ogr.wkbPoint)
    for field in fields:
        kind = ogr.OFTInteger if field == "fold" else ogr.OFTReal
        layer.CreateField(ogr.FieldDefn(field, kind))
    for field, values in extra.items():
        text = any(isinstance(v, str) for v in values)
        layer.CreateField(ogr.FieldDefn(field, ogr.OFTString if text else ogr.OFTReal))
    for n, i in enumerate(rows):
        feature = ogr.Feature(layer.GetLayerDefn())
        point = ogr.Geometry(ogr.wkbPoint)
        point.AddPoint_2D(float(cols["x"][i]), float(cols["y"][i]))
        if transform is not None:
            point.Transform(transform)
        feature.SetGeometry(point)
        for field in fields:
            value = cols[field][i]
            feature.SetField(field, int(value) if field == "fold" else float(value))
        for field, values in extra.items():
            if values[n] is not None:
                feature.SetField(field, values[n])
        layer.CreateFeature(feature)
    layer = None
    source = None
    return path
