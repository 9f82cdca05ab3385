"""Soil maps on the engine's pixel-table head: a map's pixels hold exactly the predictions made
at sample points on the same pixels (window means, indices and a covariate on another grid
included, across block edges, next to nodata and at the image's edge)."""

import numpy as np
import pytest
from osgeo import gdal, ogr, osr

from rsai_toolbox.models.errors import UserError
from rsai_toolbox.models.soil.points import predict_points
from rsai_toolbox.models.soil.predict import load_soil_model, predict_map
from rsai_toolbox.models.soil.regressors import LearnerOptions
from rsai_toolbox.models.soil.train import CrossValidation
from rsai_toolbox.models.soil.train_files import train_from_files

from helpers import write_geotiff

BANDS = ("B02", "B03", "B04", "B05", "B08", "B11", "B12")
GT = (500000.0, 10.0, 0.0, 5800000.0, 0.0, -10.0)
HEIGHT, WIDTH = 70, 90


def smooth(rng, shape, scale):
    field = rng.normal(0, 1, shape)
    for _ in range(4):  # a few box blurs: spatially correlated values
        field = (field + np.roll(field, 1, -1) + np.roll(field, 1, -2)) / 3
    return field * scale


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    folder = tmp_path_factory.mktemp("soil_map")
    rng = np.random.default_rng(11)
    image = np.stack([2000 + 300 * b + smooth(rng, (HEIGHT, WIDTH), 600)
                      for b in range(len(BANDS))]).clip(1, 60000).astype(np.uint16)
    image[:, 30:34, 40:45] = 0  # a nodata hole (cloud mask)
    image[2, 50, 60] = 0  # one band missing at one pixel
    write_geotiff(folder / "s2.tif", image, GT, 32633, nodata=0, descriptions=BANDS)
    # a covariate (elevation) on its own grid in WGS 84, ~ 25 m pixels, beyond the image
    source = gdal.GetDriverByName("MEM").Create("", WIDTH // 2 + 20, HEIGHT // 2 + 20, 1,
                                                gdal.GDT_Float32)
    source.SetGeoTransform((GT[0] - 200, 20.0, 0, GT[3] + 200, 0, -20.0))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    source.SetProjection(srs.ExportToWkt())
    source.GetRasterBand(1).WriteArray(100 + smooth(rng, (HEIGHT // 2 + 20, WIDTH // 2 + 20), 30))
    gdal.Warp(str(folder / "dem.tif"), source, dstSRS="EPSG:4326", resampleAlg="bilinear",
              xRes=0.00025, yRes=0.00025)
    # samples: random pixels, a few at the image's edge and next to the hole
    cells = {(int(r), int(c)) for r, c in zip(rng.integers(0, HEIGHT, 150),
                                              rng.integers(0, WIDTH, 150))}
    cells |= {(0, 0), (0, WIDTH - 1), (HEIGHT - 1, 5), (29, 42), (34, 39), (50, 61)}
    cells = sorted((r, c) for r, c in cells if image[:, r, c].all())
    ndvi = (image[4] - image[2]) / (image[4] + image[2] + 1e-9)
    values = [6 + 3 * ndvi[r, c] + rng.normal(0, 0.1) for r, c in cells]
    points = folder / "samples.gpkg"
    layer_source = ogr.GetDriverByName("GPKG").CreateDataSource(str(points))
    layer = layer_source.CreateLayer("samples", srs=srs, geom_type=ogr.wkbPoint)
    layer.CreateField(ogr.FieldDefn("pH", ogr.OFTReal))
    for (r, c), value in zip(cells, values):
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetGeometry(ogr.CreateGeometryFromWkt(
            f"POINT ({GT[0] + (c + 0.5) * 10} {GT[3] - (r + 0.5) * 10})"))
        feature.SetField("pH", value)
        layer.CreateFeature(feature)
    layer = None
    layer_source = None
    files = train_from_files(points, ["pH"], folder / "s2.tif", folder / "model.onnx",
                             units=["pH"], covariates=[folder / "dem.tif"], windows=(3, 5),
                             algorithm="xgboost", cv=CrossValidation("spatial", 200, 4),
                             options=LearnerOptions(trees=40))
    return {"folder": folder, "image": folder / "s2.tif", "dem": folder / "dem.tif",
            "points": points, "cells": np.array(cells), "files": files, "raw": image}


def read(path):
    dataset = gdal.Open(str(path))
    bands = [dataset.GetRasterBand(i + 1) for i in range(dataset.RasterCount)]
    return (dataset.ReadAsArray(), [b.GetDescription() for b in bands],
            [b.GetNoDataValue() for b in bands], dataset)


def test_a_map_holds_the_point_predictions_at_the_sample_pixels(scene, tmp_path):
    card, predictor = load_soil_model(scene["files"].model)
    assert card.head.halo == 2 and [s.name for s in card.inputs] == ["s2", "covariate_1"]
    result = predict_map(card, predictor, scene["image"], tmp_path / "ph.tif",
                         tmp_path / "interval.tif", tmp_path / "outside.tif",
                         covariates=[scene["dem"]], tile_size=32)
    assert result.tiles == 9  # 3 x 3 blocks: every sample window crosses block edges somewhere
    values, names, nodata, dataset = read(tmp_path / "ph.tif")
    assert names == ["pH (pH)"] and nodata == [-9999]
    image = gdal.Open(str(scene["image"]))
    assert dataset.GetGeoTransform() == image.GetGeoTransform()
    assert dataset.GetSpatialRef().IsSame(image.GetSpatialRef())
    rows, cols = scene["cells"].T
    points = predict_points(card, predictor, scene["points"], scene["image"],
                            tmp_path / "p.gpkg", covariates=[scene["dem"]])
    assert points.predicted == len(rows)
    source = ogr.Open(str(tmp_path / "p.gpkg"))
    at_points = np.array([(f["pH_pred"], f["pH_lower"], f["pH_upper"]) for f in
                          source.GetLayer(0)])
    source = None
    np.testing.assert_allclose(values[rows, cols], at_points[:, 0], rtol=1e-6)
    trained = scene["files"].result
    np.testing.assert_allclose(values[rows, cols],
                               trained.learner.predict(trained.table.features)[:, 0], rtol=1e-5)

    interval, names, _, _ = read(tmp_path / "interval.tif")
    assert names == ["pH lower (pH)", "pH upper (pH)"]
    np.testing.assert_allclose(interval[:, rows, cols].T, at_points[:, 1:], rtol=1e-6)
    half = trained.targets[0].half_width
    valid = values != -9999
    np.testing.assert_allclose(values[valid] - interval[0][valid], half, rtol=1e-4)

    outside, names, nodata, dataset = read(tmp_path / "outside.tif")
    assert names == ["extrapolation"] and nodata == [255]
    assert dataset.GetRasterBand(1).DataType == gdal.GDT_Byte
    assert (outside[rows, cols] == 0).all()  # the training samples are inside their range
    assert set(np.unique(outside[valid])) <= {0, 1} and (outside[valid] == 1).any()
    hole = scene["raw"].min(axis=0) == 0
    assert (values[hole] == -9999).all() and (outside[hole] == 255).all()
    assert (interval[:, hole] == -9999).all()
    assert valid.sum() == HEIGHT * WIDTH - hole.sum()


def test_mask_and_band_order(scene, tmp_path):
    card, predictor = load_soil_model(scene["files"].model)
    mask = np.ones((HEIGHT, WIDTH), np.uint8)
    mask[:, :20] = 0
    mask_path = write_geotiff(tmp_path / "mask.tif", mask, GT, 32633)
    reversed_path = write_geotiff(tmp_path / "rev.tif", scene["raw"][::-1], GT, 32633,
                                  nodata=0, descriptions=BANDS[::-1])
    predict_map(card, predictor, scene["image"], tmp_path / "a.tif",
                covariates=[scene["dem"]], tile_size=64)
    predict_map(card, predictor, reversed_path, tmp_path / "b.tif", covariates=[scene["dem"]],
                mask=mask_path)
    a, _, _, _ = read(tmp_path / "a.tif")
    b, _, _, _ = read(tmp_path / "b.tif")
    assert (b[:, :20] == -9999).all()
    np.testing.assert_allclose(b[:, 20:], a[:, 20:], rtol=1e-6)


def test_maps_refuse_other_bands_covariates_and_models(scene, tmp_path):
    card, predictor = load_soil_model(scene["files"].model)
    fewer = write_geotiff(tmp_path / "fewer.tif", scene["raw"][:5], GT, 32633, nodata=0,
                          descriptions=BANDS[:5])
    with pytest.raises(UserError, match="missing: B11, B12"):
        predict_map(card, predictor, fewer, tmp_path / "o.tif", covariates=[scene["dem"]])
    with pytest.raises(UserError, match="trained with 1 covariate raster\\(s\\) but 0 were"):
        predict_map(card, predictor, scene["image"], tmp_path / "o.tif")
    with pytest.raises(UserError, match="choose at least one output"):
        predict_map(card, predictor, scene["image"], covariates=[scene["dem"]])
    with pytest.raises(UserError, match="is the same file as an input"):
        predict_map(card, predictor, scene["image"], scene["image"], covariates=[scene["dem"]])
    assert not (tmp_path / "o.tif").exists()
