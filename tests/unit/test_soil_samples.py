"""Soil samples read from rasters at points (LimeSoDa samples burnt into a 10 m GeoTIFF), and
predictions at points written to a new GeoPackage."""

import hashlib

import numpy as np
import pytest
from osgeo import gdal, ogr

from rsai_toolbox.models.errors import UserError
from rsai_toolbox.models.soil.features import feature_set
from rsai_toolbox.models.soil.onnx_model import OnnxPredictor
from rsai_toolbox.models.soil.points import predict_points
from rsai_toolbox.models.soil.predict import load_soil_model
from rsai_toolbox.models.soil.regressors import LearnerOptions
from rsai_toolbox.models.soil.samples import read_samples
from rsai_toolbox.models.soil.tables import table_from_columns
from rsai_toolbox.models.soil.train import CrossValidation
from rsai_toolbox.models.soil.train_files import train_from_files

from helpers import write_geotiff
from helpers_soil import (bands_and_covariates, columns, covariate_raster, grid, pixel_of,
                          s2_raster, sample_points)

TARGETS = ["pH_target", "SOC_target"]


@pytest.fixture(scope="module")
def bb250(shared_data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("bb250")
    return {"image": s2_raster(shared_data, "BB_250", folder / "s2.tif"),
            "points": sample_points(shared_data, "BB_250", folder / "samples.gpkg"),
            "cols": columns(shared_data, "BB_250"), "folder": folder}


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_features_read_at_the_points_equal_the_table_values(bb250, shared_data, tmp_path):
    cols = bb250["cols"]
    bands, _ = bands_and_covariates(cols)
    table = read_samples(bb250["points"], TARGETS, bb250["image"], fold_field="fold")
    expected = table_from_columns(cols, bands=bands, targets=TARGETS, fold="fold")
    assert table.feature_set.names == expected.feature_set.names
    np.testing.assert_array_equal(table.features, expected.features)
    np.testing.assert_array_equal(table.targets, expected.targets)
    np.testing.assert_array_equal(table.folds, cols["fold"].astype(int) - 1)
    np.testing.assert_allclose(table.xy, np.stack([cols["x"], cols["y"]], 1))
    assert table.crs == "EPSG:25833" and table.skipped == {}
    # the same samples in WGS 84 land in the same pixels
    wgs84 = sample_points(shared_data, "BB_250", tmp_path / "wgs84.gpkg", epsg=4326)
    again = read_samples(wgs84, TARGETS, bb250["image"])
    np.testing.assert_array_equal(again.features, table.features)


def test_a_covariate_on_another_grid_is_resampled_like_a_whole_warp(bb250, shared_data):
    cov = covariate_raster(shared_data, "BB_250", "Altitude", bb250["folder"] / "alt.tif")
    table = read_samples(bb250["points"], TARGETS, bb250["image"], covariates=[cov],
                         indices=())
    assert table.feature_set.names[-1] == "covariate_1:band_1"
    assert table.inputs[1]["title"] == "alt.tif"
    image = gdal.Open(str(bb250["image"]))
    whole = gdal.Warp("", str(cov), format="MEM", dstSRS=image.GetProjection(),
                      outputBounds=_bounds(image), width=image.RasterXSize,
                      height=image.RasterYSize, resampleAlg="bilinear").ReadAsArray()
    col, row = pixel_of(bb250["cols"], image.GetGeoTransform())
    np.testing.assert_allclose(table.features[:, -1], whole[row, col], rtol=1e-4)
    # and it is the interpolated altitude: near the lab's altitude at each sample
    assert np.corrcoef(table.features[:, -1], bb250["cols"]["Altitude"])[0, 1] > 0.95


def _bounds(dataset):
    gt = dataset.GetGeoTransform()
    return (gt[0], gt[3] + dataset.RasterYSize * gt[5], gt[0] + dataset.RasterXSize * gt[1],
            gt[3])


def test_window_means_at_points_equal_those_of_the_whole_image(tmp_path):
    rng = np.random.default_rng(3)
    image = rng.uniform(500, 3000, (4, 20, 30)).astype(np.float32)
    image[:, 5, 6] = 0  # nodata inside a window
    gt = (500000.0, 10.0, 0.0, 5800000.0, 0.0, -10.0)
    path = write_geotiff(tmp_path / "dense.tif", image, gt, 32633, nodata=0,
                         descriptions=("B02", "B04", "B08", "B11"))
    pixels = [(6, 7), (0, 0), (19, 29), (10, 15)]  # (row, col); two at the image corners
    points = tmp_path / "p.gpkg"
    _points(points, [(gt[0] + (c + 0.5) * 10, gt[3] - (r + 0.5) * 10) for r, c in pixels],
            values=[5.0, 6.0, 7.0, 5.5])
    table = read_samples(points, ["pH"], path, windows=(3, 5))
    features = feature_set([("s2", ("B02", "B04", "B08", "B11"))], windows=(3, 5))
    padded = np.pad(np.where(image == 0, np.nan, image).astype(np.float64),
                    ((0, 0), (2, 2), (2, 2)), constant_values=np.nan)
    whole = features({"s2": padded})
    for i, (r, c) in enumerate(pixels):
        np.testing.assert_allclose(table.features[i], whole[:, r, c], rtol=1e-12)


def _points(path, xy, values, epsg=32633, field="pH"):
    from osgeo import osr
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    source = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = source.CreateLayer("p", srs=srs, geom_type=ogr.wkbPoint)
    layer.CreateField(ogr.FieldDefn(field, ogr.OFTReal if not isinstance(values[0], str)
                                    else ogr.OFTString))
    for (x, y), value in zip(xy, values):
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetGeometry(ogr.CreateGeometryFromWkt(f"POINT ({x} {y})"))
        feature.SetField(field, value)
        layer.CreateFeature(feature)
    layer = None
    source = None
    return path


def test_points_outside_or_on_nodata_are_skipped_and_counted(bb250, tmp_path):
    cols = bb250["cols"]
    gt, width, height = grid(cols)
    xy = [(x, y) for x, y in zip(cols["x"][:40], cols["y"][:40])]
    xy += [(gt[0] - 500, gt[3] + 500), (gt[0] - 5, gt[3] - 5)]  # outside the image
    xy += [(gt[0] + 15, gt[3] - 15)]  # inside, on a nodata pixel
    values = list(cols["pH_target"][:40]) + [6.0, 6.0, 6.0]
    table = read_samples(_points(tmp_path / "p.gpkg", xy, values, 25833), ["pH"],
                         bb250["image"])
    assert table.skipped == {"outside the image": 2, "on nodata in the image": 1}
    assert len(table.features) == 40


def test_bad_samples_and_covariates_get_clear_errors(bb250, shared_data, tmp_path):
    cols = bb250["cols"]
    xy = list(zip(cols["x"][:10], cols["y"][:10]))
    with pytest.raises(UserError, match="1 samples lie at the same place as another"):
        read_samples(_points(tmp_path / "dup.gpkg", xy + [xy[3]], list(range(11)), 25833),
                     ["pH"], bb250["image"])
    with pytest.raises(UserError, match="'pH' is a String field, not a number"):
        read_samples(_points(tmp_path / "text.gpkg", xy, ["6.1"] * 10, 25833), ["pH"],
                     bb250["image"])
    with pytest.raises(UserError, match="has no field 'Clay'; its fields are: pH"):
        read_samples(tmp_path / "text.gpkg", ["Clay"], bb250["image"])
    with pytest.raises(UserError, match="cannot open the sample layer .*missing.gpkg"):
        read_samples(tmp_path / "missing.gpkg", ["pH"], bb250["image"])
    far = s2_raster(shared_data, "BB_72", tmp_path / "far.tif")  # another field, 40 km away
    with pytest.raises(UserError, match="far.tif and the s2 raster .* do not overlap"):
        read_samples(bb250["points"], TARGETS, bb250["image"], covariates=[far])
    gt, _, _ = grid(cols)  # the image's top-left corner: 3 pixels of margin, no sample there
    corner = write_geotiff(tmp_path / "corner.tif", np.ones((1, 3, 3), np.float32), gt, 25833)
    with pytest.raises(UserError, match="the covariate raster .*corner.tif does not cover any"):
        read_samples(bb250["points"], TARGETS, bb250["image"], covariates=[corner])
    with pytest.raises(UserError, match="none of the 250 samples lies on valid pixels"):
        read_samples(bb250["points"], TARGETS, far)
    with pytest.raises(UserError, match="BANDS names 3 bands but the image"):
        read_samples(bb250["points"], TARGETS, bb250["image"], bands=["B02", "B03", "B04"])


@pytest.fixture(scope="module")
def trained(bb250):
    folder = bb250["folder"]
    files = train_from_files(
        bb250["points"], TARGETS, bb250["image"], folder / "model.onnx", units=["pH", "%"],
        algorithm="xgboost", cv=CrossValidation("spatial", 200, 5),
        options=LearnerOptions(trees=60), report_html=folder / "report.html",
        report_csv=folder / "report.csv")
    return files


def test_training_from_files_writes_model_card_and_report_together(trained, bb250):
    folder = bb250["folder"]
    for name in ("model.onnx", "model.json", "report.html", "report.csv"):
        assert (folder / name).stat().st_size > 0
    assert not list(folder.glob("*partial*"))
    assert trained.result.cv_description == "spatial blocks of 200 m, 5 folds"
    with pytest.raises(UserError, match="is the same file as an input"):
        train_from_files(bb250["points"], TARGETS, bb250["image"], folder / "x.onnx",
                         report_html=bb250["image"])


def test_point_predictions_go_to_a_new_layer_with_intervals_and_flags(trained, bb250, tmp_path):
    cols = bb250["cols"]
    before = sha256(bb250["points"])
    card, predictor = load_soil_model(trained.model)
    result = predict_points(card, predictor, bb250["points"], bb250["image"],
                            tmp_path / "out.gpkg")
    assert sha256(bb250["points"]) == before
    assert result.predicted == 250 and result.extrapolated == 0 and result.skipped == {}
    source = ogr.Open(str(tmp_path / "out.gpkg"))
    layer = source.GetLayer(0)
    names = [layer.GetLayerDefn().GetFieldDefn(i).GetName()
             for i in range(layer.GetLayerDefn().GetFieldCount())]
    assert names == ["pH_target", "SOC_target", "fold", "pH_target_pred", "pH_target_lower",
                     "pH_target_upper", "SOC_target_pred", "SOC_target_lower",
                     "SOC_target_upper", "extrapolated", "skip_reason"]
    rows = [(f["pH_target"], f["pH_target_pred"], f["pH_target_lower"], f["pH_target_upper"],
             f["SOC_target_pred"], f["extrapolated"], f.GetGeometryRef().GetX()) for f in layer]
    layer = None
    source = None
    rows = np.array(rows, dtype=np.float64)
    np.testing.assert_array_equal(rows[:, 0], cols["pH_target"])
    np.testing.assert_allclose(rows[:, 6], cols["x"])
    expected = OnnxPredictor(trained.model).predict(trained.result.table.features)
    np.testing.assert_allclose(rows[:, 1], expected["values"][:, 0], rtol=1e-6)
    np.testing.assert_allclose(rows[:, 4], expected["values"][:, 1], rtol=1e-6)
    half = trained.result.targets[0].half_width
    np.testing.assert_allclose(rows[:, 3] - rows[:, 2], 2 * half, rtol=1e-5)
    assert (rows[:, 5] == 0).all()


def test_point_mode_flags_extrapolation_and_reorders_named_bands(trained, bb250, tmp_path):
    dataset = gdal.Open(str(bb250["image"]))  # alive while its bands are used (GDAL < 3.8)
    image = dataset.ReadAsArray()
    names = [dataset.GetRasterBand(i + 1).GetDescription() for i in range(image.shape[0])]
    cols = bb250["cols"]
    gt, _, _ = grid(cols)
    col, row = pixel_of(cols, gt)
    brighter = image.copy()
    brighter[:, row[7], col[7]] = np.minimum(brighter[:, row[7], col[7]] * 3, 65000)
    reversed_path = write_geotiff(tmp_path / "rev.tif", brighter[::-1], gt, 25833, nodata=0,
                                  descriptions=names[::-1])
    card, predictor = load_soil_model(trained.model)
    result = predict_points(card, predictor, bb250["points"], reversed_path, tmp_path / "o.gpkg")
    assert result.extrapolated == 1
    source = ogr.Open(str(tmp_path / "o.gpkg"))
    flags = [f["extrapolated"] for f in source.GetLayer(0)]
    source = None
    assert flags[7] == 1 and sum(flags) == 1
    # missing bands and unnamed bands of the wrong count are refused
    fewer = write_geotiff(tmp_path / "fewer.tif", image[:9], gt, 25833, nodata=0,
                          descriptions=names[:9])
    with pytest.raises(UserError, match="missing: B12"):
        predict_points(card, predictor, bb250["points"], fewer, tmp_path / "x.gpkg")
    unnamed = write_geotiff(tmp_path / "unnamed.tif", image[:9], gt, 25833, nodata=0)
    with pytest.raises(UserError, match="has 9 unnamed bands but the model was trained on 10"):
        predict_points(card, predictor, bb250["points"], unnamed, tmp_path / "x.gpkg")
    assert not (tmp_path / "x.gpkg").exists()


def test_point_mode_keeps_other_layers_and_never_writes_over_an_input(trained, bb250,
                                                                       tmp_path):
    card, predictor = load_soil_model(trained.model)
    with pytest.raises(UserError, match="is the same file as an input"):
        predict_points(card, predictor, bb250["points"], bb250["image"], bb250["points"])
    other = tmp_path / "other.gpkg"
    source = ogr.GetDriverByName("GPKG").CreateDataSource(str(other))
    source.CreateLayer("roads", geom_type=ogr.wkbLineString)
    source = None
    for _ in range(2):  # the second run replaces its own layer only
        predict_points(card, predictor, bb250["points"], bb250["image"], other,
                       output_layer="soil")
    source = ogr.Open(str(other))
    assert sorted(source.GetLayer(i).GetName() for i in range(source.GetLayerCount())) == [
        "roads", "soil"]
    assert source.GetLayerByName("soil").GetFeatureCount() == 250
