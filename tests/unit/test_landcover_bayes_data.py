"""Bayesian land cover on the real Sentinel-2 patch: samples, split, accuracy, calibration."""

import re

import numpy as np
import pytest
from osgeo import gdal

from rsai_toolbox.models.callbacks import Callbacks
from rsai_toolbox.models.errors import UserError
from rsai_toolbox.models.landcover_bayes import (MeasurementUncertainty, extract_samples, fit,
                                                 score, split_by_group, train_from_files)
from rsai_toolbox.models.landcover_bayes.report import baseline_probabilities

from helpers import (LANDCOVER_GEOTRANSFORM, S2_L1C_BANDS, landcover_polygons, landcover_scene,
                     write_geotiff)

MASK_COUNTS = {1: 11, 2: 7601, 3: 1777, 4: 358, 8: 198}
QUIET = Callbacks(warn=lambda text: None)  # for the tests that do not look at the warnings


def warned(warnings: list, pattern: str) -> bool:
    return any(re.search(pattern, text) for text in warnings)


@pytest.fixture(scope="module")
def patch(shared_data, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("s2")
    raster = write_geotiff(tmp / "scene2.tif", landcover_scene(shared_data, 2),
                           descriptions=S2_L1C_BANDS)
    samples = extract_samples(raster, landcover_polygons(shared_data), "LULC_ID",
                              name_field="LULC_NAME", callbacks=QUIET)
    return raster, samples


def _split(samples, seed):
    return split_by_group(samples.labels, samples.groups, 0.3, seed, QUIET)


def test_samples_match_the_reference_mask(patch, shared_data):
    raster, s = patch
    assert s.class_ids == (1, 2, 3, 4, 8)
    assert s.class_names == ("cultivated land", "forest", "grassland", "schrubland",
                             "artificial surface")
    assert s.band_names == S2_L1C_BANDS
    assert {c: int(np.sum(s.labels == c)) for c in s.class_ids} == MASK_COUNTS
    # the values are the raster's pixels under the mask
    mask = np.load(shared_data / "landcover_s2" / "LULC_mask.npy")[..., 0]
    img = landcover_scene(shared_data, 2)
    ref = np.sort(img[:, mask == 2].T, axis=0)
    np.testing.assert_allclose(np.sort(s.values[s.labels == 2], axis=0), ref)


def test_split_is_by_polygon_and_stratified(patch):
    _, s = patch
    train = _split(s, 0)
    assert not set(s.groups[train]) & set(s.groups[~train])
    for c in s.class_ids:  # every class keeps training pixels, and (here) test pixels
        assert np.any(train & (s.labels == c)) and np.any(~train & (s.labels == c))
    frac = (~train).mean()
    assert 0.15 < frac < 0.45
    assert np.array_equal(train, _split(s, 0))
    assert not np.array_equal(train, _split(s, 1))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_held_out_accuracy_at_least_qda(patch, seed):
    """Plain scikit-learn QDA cannot fit 'cultivated land' (7-8 training pixels for 13 bands), so
    it is trained without it and both are scored on the test pixels of the classes it models."""
    _, s = patch
    train = _split(s, seed)
    model = fit(s.values[train], s.labels[train], class_ids=s.class_ids, callbacks=QUIET)
    base = baseline_probabilities(s.values[train], s.labels[train], s.values[~train], s.class_ids)
    p_qda, note = base["QDA (scikit-learn)"]
    assert "1" in note
    test = ~train & (s.labels != 1)
    y = s.labels[test]
    proba = model.predict_proba(s.values[test])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    ours = score("bayes", y, proba, s.class_ids)
    qda = score("qda", y, p_qda[(s.labels[~train] != 1)], s.class_ids)
    assert ours.overall_accuracy >= qda.overall_accuracy
    assert ours.overall_accuracy > 0.8


@pytest.mark.parametrize("seed,kind", [(0, "constant"), (1, "constant"), (0, "percent")])
def test_noisy_inputs_with_sigma_are_better_calibrated_than_qda(patch, seed, kind):
    """The paper's claim: passing the input noise keeps the probabilities honest."""
    _, s = patch
    train = _split(s, seed)
    test = ~train & (s.labels != 1)
    rng = np.random.default_rng(100 + seed)
    x = s.values[test]
    if kind == "constant":
        sigma = 0.5 * s.values[train].std(axis=0)  # per band, half the scene's spread
    else:
        sigma = MeasurementUncertainty(percent=10.0).sigma_for(x)
    noisy = x + rng.normal(size=x.shape) * sigma
    model = fit(s.values[train], s.labels[train], class_ids=s.class_ids, callbacks=QUIET)
    base = baseline_probabilities(s.values[train], s.labels[train], noisy, s.class_ids)
    y = s.labels[test]
    ours = score("bayes", y, model.predict_proba(noisy, sigma), s.class_ids)
    blind = score("bayes, no sigma", y, model.predict_proba(noisy), s.class_ids)
    qda = score("qda", y, base["QDA (scikit-learn)"][0], s.class_ids)
    assert ours.log_loss <= qda.log_loss
    assert ours.ece <= qda.ece
    assert ours.log_loss < blind.log_loss  # the sigma is what helps
    assert ours.overall_accuracy >= qda.overall_accuracy


def test_train_from_files_writes_model_and_report(patch, shared_data, tmp_path):
    raster, _ = patch
    steps, warnings = [], []
    res = train_from_files(raster, landcover_polygons(shared_data), "LULC_ID",
                           tmp_path / "m.json",
                           name_field="LULC_NAME", report_html=tmp_path / "r.html",
                           report_csv=tmp_path / "r.csv",
                           callbacks=Callbacks(progress=steps.append, warn=warnings.append))
    msgs = " | ".join(warnings)
    assert "4 of 88 features have class 0" in msgs
    assert "'cultivated land' (id 1) has only" in msgs
    assert steps[-1] == 1.0 and all(0 <= f <= 1 for f in steps)
    assert (tmp_path / "m.json").is_file()
    page = (tmp_path / "r.html").read_text()
    assert page.count("data:image/png;base64,") >= 2 and "Reliability diagram" in page
    assert "QDA (scikit-learn)" in page and "RandomForest" in page
    csv_text = (tmp_path / "r.csv").read_text()
    assert "Bayesian QDA,,,overall_accuracy" in csv_text and "ece" in csv_text
    names = [s.method for s in res.scores]
    assert names[0] == "Bayesian QDA" and len(names) == 3
    assert res.n_train + res.n_test == sum(MASK_COUNTS.values())


def test_text_class_field_is_numbered_sorted_and_empty_values_skipped(patch, shared_data):
    raster, _ = patch
    warnings = []
    s = extract_samples(raster, landcover_polygons(shared_data), "LULC_NAME",
                        callbacks=Callbacks(warn=warnings.append))
    assert warned(warnings, "4 of 88 features have an empty class field")
    assert s.class_names == ("artificial surface", "cultivated land", "forest", "grassland",
                             "schrubland")
    assert s.class_ids == (1, 2, 3, 4, 5)
    assert int(np.sum(s.labels == 3)) == MASK_COUNTS[2]


def test_vector_in_another_crs_is_reprojected(patch, shared_data, tmp_path):
    raster, ref = patch
    wgs = str(tmp_path / "lulc_4326.gpkg")
    gdal.VectorTranslate(wgs, str(landcover_polygons(shared_data)), dstSRS="EPSG:4326")
    s = extract_samples(raster, wgs, "LULC_ID", callbacks=QUIET)
    assert abs(len(s.labels) - len(ref.labels)) <= 0.01 * len(ref.labels)
    for c in ref.class_ids:
        assert abs(np.sum(s.labels == c) - np.sum(ref.labels == c)) <= max(2, 0.02 * np.sum(
            ref.labels == c))


def test_nan_and_nodata_pixels_are_excluded(shared_data, tmp_path):
    img = landcover_scene(shared_data, 2)
    mask = np.load(shared_data / "landcover_s2" / "LULC_mask.npy")[..., 0]
    free = [r for r in range(101) if not np.any(mask[r] == 1)]  # keep 'cultivated land'
    rows_nan, rows_nodata = free[:10], free[10:20]
    img[3, rows_nan, :] = np.nan  # NaN in one band
    img[:, rows_nodata, :] = -9999.0  # nodata in all bands
    r = write_geotiff(tmp_path / "holes.tif", img, nodata=-9999.0)
    warnings = []
    s = extract_samples(r, landcover_polygons(shared_data), "LULC_ID",
                        callbacks=Callbacks(warn=warnings.append))
    assert warned(warnings, "NaN or nodata")
    assert np.all(np.isfinite(s.values)) and not np.any(s.values == -9999.0)
    kept = np.ones(101, bool)
    kept[rows_nan + rows_nodata] = False
    assert len(s.labels) == int(np.sum(mask[kept] > 0))


def test_polygons_outside_the_raster(shared_data, tmp_path):
    img = landcover_scene(shared_data, 2)
    gt = list(LANDCOVER_GEOTRANSFORM)
    gt[0] += 60 * gt[1]  # shifted east by 60 columns: part of the polygons fall outside
    r = write_geotiff(tmp_path / "shifted.tif", img, geotransform=gt)
    warnings = []
    try:
        extract_samples(r, landcover_polygons(shared_data), "LULC_ID",
                        callbacks=Callbacks(warn=warnings.append))
    except UserError as exc:  # a class may then lose all of its pixels: named in the error
        assert "has no valid pixel inside the raster" in str(exc)
    assert warned(warnings, r"\d+ of 88 features lie outside the raster")
    gt[0] += 1e6
    far = write_geotiff(tmp_path / "far.tif", img, geotransform=gt)
    with pytest.raises(UserError, match="overlaps the raster"):
        extract_samples(far, landcover_polygons(shared_data), "LULC_ID", callbacks=QUIET)


def test_class_with_no_valid_pixel_is_a_user_error(shared_data, tmp_path):
    img = landcover_scene(shared_data, 2)
    mask = np.load(shared_data / "landcover_s2" / "LULC_mask.npy")[..., 0]
    img[:, mask == 1] = np.nan
    r = write_geotiff(tmp_path / "no_class1.tif", img)
    with pytest.raises(UserError, match=r"class 'cultivated land' \(id 1\) has no valid pixel"):
        extract_samples(r, landcover_polygons(shared_data), "LULC_ID", name_field="LULC_NAME",
                        callbacks=QUIET)


def test_missing_class_field_names_the_fields(patch, shared_data):
    raster, _ = patch
    with pytest.raises(UserError, match="no class field 'CLASS'.*LULC_ID"):
        extract_samples(raster, landcover_polygons(shared_data), "CLASS")


def test_sigma_raster_must_match_band_count(patch, shared_data, tmp_path):
    raster, _ = patch
    bad = write_geotiff(tmp_path / "sig.tif", np.full((12, 101, 100), 0.01, np.float32))
    with pytest.raises(UserError, match="sigma raster has 12 bands but the input raster has 13"):
        extract_samples(raster, landcover_polygons(shared_data), "LULC_ID",
                        uncertainty=MeasurementUncertainty(sigma_raster=bad))
