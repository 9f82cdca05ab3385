"""Block-wise raster classification with a Bayesian QDA model on the real patch."""

import numpy as np
import pytest
from osgeo import gdal

from rsai_toolbox.models.callbacks import Callbacks
from rsai_toolbox.models.errors import Cancelled, UserError
from rsai_toolbox.models.landcover_bayes import (UNCERTAINTY_BANDS, MeasurementUncertainty,
                                                 classify_raster, extract_samples, fit,
                                                 load_model)

from helpers import (LANDCOVER_GEOTRANSFORM, S2_L1C_BANDS, landcover_polygons, landcover_scene,
                     write_geotiff)

COLOURS = ("#aa0000", "#00aa00", "#0000aa", "#aaaa00", "#00aaaa")


@pytest.fixture(scope="module")
def trained(shared_data, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("s2r")
    img = landcover_scene(shared_data, 2)
    img[:, 5, 7] = np.nan  # a NaN pixel
    img[2, 50:53, 60] = np.nan  # NaN in one band only
    raster = write_geotiff(tmp / "scene2.tif", img, descriptions=S2_L1C_BANDS)
    quiet = Callbacks(warn=lambda text: None)
    s = extract_samples(raster, landcover_polygons(shared_data), "LULC_ID",
                        name_field="LULC_NAME", callbacks=quiet)
    model = fit(s.values, s.labels, class_ids=s.class_ids, class_names=s.class_names,
                colours=COLOURS, band_names=s.band_names, callbacks=quiet)
    path = model.save(tmp / "model.json")
    return raster, img, model, path


def classify_whole_array(model, values):
    """The reference: every pixel (n, d) at once -> (class ids, probabilities); rows with a NaN
    get class 255 and NaN probabilities."""
    proba = np.full((values.shape[0], model.n_classes), np.nan, dtype=np.float32)
    ok = np.all(np.isfinite(values), axis=1)
    proba[ok] = model.predictor(None, np.float32).predict_proba(values[ok])
    classes = np.full(values.shape[0], 255, dtype=np.uint8)
    classes[ok] = model.class_ids[np.argmax(proba[ok], axis=1)]
    return classes, proba


def _read(path):
    """The dataset and its array; float nodata (-9999) read as NaN."""
    ds = gdal.Open(str(path))
    array = ds.ReadAsArray()
    if array.dtype.kind == "f":
        array[array == ds.GetRasterBand(1).GetNoDataValue()] = np.nan
    return ds, array


def test_outputs_georeferenced_styled_and_equal_to_whole_array(trained, tmp_path):
    raster, img, model, path = trained
    fractions = []
    out = classify_raster(path, raster, tmp_path / "class.tif",
                          probabilities_path=tmp_path / "proba.tif",
                          uncertainty_path=tmp_path / "unc.tif", block_size=32,
                          callbacks=Callbacks(progress=fractions.append))
    assert fractions[-1] == 1.0 and len(fractions) == 16  # 4 x 4 windows
    assert sorted(out.outputs) == sorted(str(tmp_path / f) for f in (
        "class.tif", "proba.tif", "unc.tif"))
    src = gdal.Open(str(raster))
    cds, classes = _read(tmp_path / "class.tif")
    pds, proba = _read(tmp_path / "proba.tif")
    uds, unc = _read(tmp_path / "unc.tif")
    for ds in (cds, pds, uds):
        assert ds.GetGeoTransform() == pytest.approx(LANDCOVER_GEOTRANSFORM)
        assert ds.GetProjection() == src.GetProjection()
        assert ds.GetMetadata("IMAGE_STRUCTURE").get("COMPRESSION") == "DEFLATE"
        assert ds.GetRasterBand(1).GetBlockSize() == [256, 256]
    band = cds.GetRasterBand(1)
    assert cds.GetRasterBand(1).DataType == gdal.GDT_Byte and band.GetNoDataValue() == 255
    ct = band.GetColorTable()
    for cid, colour in zip(model.class_ids, COLOURS):
        rgb = tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))
        assert ct.GetColorEntry(int(cid))[:3] == rgb
    names = band.GetCategoryNames()
    assert [names[c] for c in model.class_ids] == list(model.class_names)
    assert [pds.GetRasterBand(i + 1).GetDescription() for i in range(5)] == list(
        model.class_names)
    assert tuple(uds.GetRasterBand(i + 1).GetDescription() for i in range(3)) == UNCERTAINTY_BANDS

    # the whole image at once gives the same result as the 32 x 32 blocks
    whole_cls, whole_p = classify_whole_array(load_model(path), img.reshape(13, -1).T)
    assert np.array_equal(classes.ravel(), whole_cls)
    # float32 products may round differently with the block shape: equal to float32 precision
    np.testing.assert_allclose(np.moveaxis(proba, 0, -1).reshape(-1, 5), whole_p, atol=1e-5)

    bad = ~np.all(np.isfinite(img), axis=0)
    assert bad.sum() == 4
    assert np.all(classes[bad] == 255) and np.all(np.isnan(proba[:, bad]))
    assert np.all(np.isnan(unc[:, bad]))
    assert set(np.unique(classes[~bad])) <= set(model.class_ids)
    np.testing.assert_allclose(proba[:, ~bad].sum(axis=0), 1.0, atol=1e-5)
    # uncertainty bands agree with the probabilities
    p = np.sort(proba[:, ~bad], axis=0)
    np.testing.assert_allclose(unc[1, ~bad], 1 - p[-1], atol=1e-6)
    np.testing.assert_allclose(unc[2, ~bad], p[-1] - p[-2], atol=1e-6)
    assert np.all(unc[0, ~bad] >= -1e-6) and np.all(unc[0, ~bad] <= np.log(5) + 1e-5)


def test_mask_and_sigma_rasters(trained, tmp_path):
    raster, img, model, path = trained
    mask = np.ones((101, 100), np.uint8)
    mask[:, :10] = 0
    mpath = write_geotiff(tmp_path / "mask.tif", mask)
    sig = np.full((13, 101, 100), 0.01, np.float32)
    spath = write_geotiff(tmp_path / "sigma.tif", sig)
    a = classify_raster(model, raster, tmp_path / "a.tif", probabilities_path=tmp_path / "pa.tif",
                        mask_path=mpath, uncertainty=MeasurementUncertainty(sigma_raster=spath),
                        block_size=64)
    b = classify_raster(model, raster, tmp_path / "b.tif", probabilities_path=tmp_path / "pb.tif",
                        uncertainty=MeasurementUncertainty(constant=(0.01,)), block_size=50)
    assert a.valid_pixels == 101 * 90 - 3 and b.valid_pixels == 101 * 100 - 4  # NaN: nodata
    ca, pa = _read(tmp_path / "a.tif")[1], _read(tmp_path / "pa.tif")[1]
    cb, pb = _read(tmp_path / "b.tif")[1], _read(tmp_path / "pb.tif")[1]
    assert np.all(ca[:, :10] == 255) and np.all(np.isnan(pa[:, :, :10]))
    # exact per-pixel path (sigma raster) == fixed-sigma fast path where both classify
    np.testing.assert_allclose(pa[:, :, 10:], pb[:, :, 10:], atol=1e-5, equal_nan=True)
    # the noise makes the model less confident than without it
    classify_raster(model, raster, tmp_path / "c.tif", probabilities_path=tmp_path / "pc.tif")
    p0 = _read(tmp_path / "pc.tif")[1]
    ok = np.isfinite(p0[0])
    assert np.nanmean(pb.max(axis=0)[ok]) < np.nanmean(p0.max(axis=0)[ok])


def test_wrong_band_count_is_a_user_error_naming_both(trained, tmp_path, shared_data):
    _, _, model, path = trained
    r12 = write_geotiff(tmp_path / "twelve.tif", landcover_scene(shared_data, 2)[:12])
    with pytest.raises(UserError, match="has 12 bands but the model was trained on 13"):
        classify_raster(path, r12, tmp_path / "x.tif")
    assert not list(tmp_path.glob("x*")) and not list(tmp_path.glob(".x*"))


def test_cancel_leaves_no_output(trained, tmp_path):
    raster, _, _, path = trained
    calls = []

    def is_cancelled():
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(Cancelled):
        classify_raster(path, raster, tmp_path / "class.tif",
                        probabilities_path=tmp_path / "p.tif", block_size=20,
                        callbacks=Callbacks(is_cancelled=is_cancelled))
    assert list(tmp_path.iterdir()) == []


def test_mask_of_another_size_is_a_user_error(trained, tmp_path):
    raster, _, _, path = trained
    m = write_geotiff(tmp_path / "m.tif", np.ones((50, 50), np.uint8))
    with pytest.raises(UserError, match="mask raster is 50 x 50 pixels"):
        classify_raster(path, raster, tmp_path / "class.tif", mask_path=m)
