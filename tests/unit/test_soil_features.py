"""Soil features: band names, indices, window means, and the same values for a point window as
for the same pixel in a whole block."""

import numpy as np
import pytest

from rsai_toolbox.models.callbacks import Callbacks
from rsai_toolbox.models.errors import UserError
from rsai_toolbox.models.soil.features import (FeatureSet, InputBands, canonical_band,
                                               feature_set, window_mean)

BANDS = ("B02", "B03", "B04", "B08", "B11", "B12")


def test_band_names_are_recognised_in_their_usual_spellings():
    assert [canonical_band(n) for n in ("B4", "b04", "B04 (red)", "S2_B8A", "B8a", "B12",
                                         "band_1", "elevation", "B123")] == [
        "B04", "B04", "B04", "B8A", "B8A", "B12", "band_1", "elevation", "B123"]


def test_indices_are_normalised_differences_of_the_named_bands():
    rng = np.random.default_rng(0)
    block = rng.uniform(100, 5000, (len(BANDS), 4, 5))
    features = feature_set([("s2", BANDS)], pixel=False, indices="all")
    out = features({"s2": block})
    b = dict(zip(BANDS, block))
    expected = {
        "NDVI": (b["B08"] - b["B04"]) / (b["B08"] + b["B04"]),
        "NDWI": (b["B03"] - b["B08"]) / (b["B03"] + b["B08"]),
        "NBR": (b["B08"] - b["B12"]) / (b["B08"] + b["B12"]),
        "NDMI": (b["B08"] - b["B11"]) / (b["B08"] + b["B11"]),
        "BSI": (b["B11"] + b["B04"] - b["B08"] - b["B02"]) / (
            b["B11"] + b["B04"] + b["B08"] + b["B02"]),
        "NDTI": (b["B11"] - b["B12"]) / (b["B11"] + b["B12"]),
    }
    assert features.names == tuple(f"s2:{n}" for n in expected)
    np.testing.assert_allclose(out, np.stack(list(expected.values())), rtol=1e-12)
    # scale-free: reflectance 0..1 gives the same indices as DN x 10000
    np.testing.assert_allclose(features({"s2": block / 10000}), out, rtol=1e-9)


def test_indices_that_need_missing_bands_are_skipped_with_a_warning_or_refused():
    messages = []
    features = feature_set([("s2", ("B02", "B03", "B04", "B08"))], indices="all",
                           callbacks=Callbacks(warn=messages.append))
    assert features.indices == ("NDVI", "NDWI")
    assert "NBR, NDMI, BSI, NDTI skipped" in messages[0] and "B11, B12" in messages[0]
    with pytest.raises(UserError, match="index NBR needs bands B12"):
        feature_set([("s2", ("B02", "B03", "B04", "B08", "B11"))], indices=["NBR"])


def test_window_means_ignore_nodata_and_match_a_direct_computation():
    rng = np.random.default_rng(1)
    block = rng.uniform(0, 1, (2, 9, 10))
    block[0, 3, 4] = np.nan
    block[1, 0:3, 0:3] = np.nan
    for size in (3, 5):
        out = window_mean(block, size, halo=2)
        assert out.shape == (2, 5, 6)
        r = size // 2
        for c in range(2):
            for i in range(5):
                for j in range(6):
                    window = block[c, i + 2 - r:i + 3 + r, j + 2 - r:j + 3 + r]
                    expected = np.nanmean(window) if np.isfinite(window).any() else np.nan
                    np.testing.assert_allclose(out[c, i, j], expected, rtol=1e-12)


def test_a_point_window_gives_the_features_of_that_pixel_in_the_whole_block():
    rng = np.random.default_rng(2)
    image = rng.uniform(100, 4000, (len(BANDS), 30, 40))
    covariate = rng.normal(0, 1, (1, 30, 40))
    features = feature_set([("s2", BANDS), ("dem", ("elevation",))], windows=(3, 5))
    h = features.halo
    assert h == 2 and len(features.names) == 3 * len(BANDS) + 6 + 1
    whole = features({"s2": image, "dem": covariate})  # (F, 26, 36)
    pixels = [(2, 2), (10, 17), (27, 37)]
    windows = {"s2": np.stack([image[:, r - h:r + h + 1, c - h:c + h + 1] for r, c in pixels]),
               "dem": np.stack([covariate[:, r - h:r + h + 1, c - h:c + h + 1]
                                for r, c in pixels])}
    at_points = features(windows)[:, :, 0, 0]  # (3, F)
    for i, (r, c) in enumerate(pixels):
        np.testing.assert_allclose(at_points[i], whole[:, r - h, c - h], rtol=1e-12)


def test_feature_set_round_trips_through_the_card_and_checks_its_inputs():
    features = feature_set([("s2", ("B4", "B8", "B11")), ("covariate_1", ("slope",))],
                           windows=(5,), indices=["NDVI", "NDMI"])
    assert features.spectral.bands == ("B04", "B08", "B11")
    again = FeatureSet.from_dict(features.to_dict())
    assert again == features and again.names == features.names
    with pytest.raises(UserError, match="input 'covariate_1' has 2 bands but the model uses 1"):
        features({"s2": np.zeros((3, 5, 5)), "covariate_1": np.zeros((2, 5, 5))})
    with pytest.raises(UserError, match="need the input 'covariate_1'"):
        features({"s2": np.zeros((3, 5, 5))})
    with pytest.raises(UserError, match="window sizes \\[7\\]"):
        feature_set([InputBands("s2", BANDS)], windows=(7,))
