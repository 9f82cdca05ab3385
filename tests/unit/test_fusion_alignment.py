"""Satellite values under aerial tiles: the footprint reader against pairs of known alignment."""
import sys
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import helpers_fusion as hf  # noqa: E402

from rsai_toolbox.models.errors import UserError  # noqa: E402
from rsai_toolbox.models.fusion.satellite import read_footprint  # noqa: E402

# (scenario, card ratio, tile size in aerial pixels, a plain window read expected?)
CASES = [("aligned_ratio_40", 40, 160, True), ("aligned_ratio_32", 32, 128, True),
         ("non_integer_ratio", 32, 128, False), ("non_integer_ratio", 33, 132, False),
         ("shifted_grid", 40, 160, False), ("other_crs", 40, 160, False),
         ("satellite_edge", 40, 160, False), ("partial_overlap", 40, 160, None),
         ("no_overlap", 40, 160, False)]


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pairs")
    return {name: make(folder) for name, make in hf.SCENARIOS.items()}


def _tiles(pair, tile):
    """Every tile of the aerial raster, the last row/column reaching past its edge."""
    for row0 in range(0, pair.aerial.height, tile):
        for col0 in range(0, pair.aerial.width, tile):
            yield col0, row0


@pytest.mark.parametrize("scenario, ratio, tile, window_read", CASES)
def test_each_tile_gets_the_satellite_values_of_its_footprint(pairs, scenario, ratio, tile,
                                                              window_read):
    pair = pairs[scenario]
    aerial, satellite = gdal.Open(str(pair.aerial_path)), gdal.Open(str(pair.satellite_path))
    checked = {"interior": 0, "edge": 0, "outside": 0}
    for col0, row0 in _tiles(pair, tile):
        got = read_footprint(satellite, aerial.GetGeoTransform(), aerial.GetProjection(),
                             col0, row0, tile, tile, ratio)
        want = pair.expected(col0, row0, tile, tile, ratio)
        assert got.values.shape == (4, tile // ratio, tile // ratio)
        if window_read is not None:
            assert got.warped is not window_read
        # exact where the resampling kernel sees only real pixels
        assert got.valid[want.interior].all()
        np.testing.assert_allclose(got.values[:, want.interior], want.values[:, want.interior],
                                   atol=hf.VALUE_TOLERANCE)
        # near the satellite's edges: close, or reported missing; outside: always missing
        edge = want.covered & ~want.interior & got.valid
        assert np.all(np.abs(got.values[:, edge] - want.values[:, edge]) <= want.edge_tolerance)
        assert not got.valid[want.outside].any()
        assert np.isnan(got.values[:, ~got.valid]).all()
        for key, mask in (("interior", want.interior), ("edge", edge), ("outside", want.outside)):
            checked[key] += int(mask.sum())
    # each scenario exercises what it is named for
    if scenario == "no_overlap":
        assert checked["interior"] == checked["edge"] == 0 and checked["outside"] > 0
    else:
        assert checked["interior"] > 0
    if scenario in ("satellite_edge", "partial_overlap"):
        assert checked["outside"] > 0 and checked["edge"] > 0


def test_bands_are_read_in_the_order_asked(pairs):
    pair = pairs["other_crs"]
    aerial, satellite = gdal.Open(str(pair.aerial_path)), gdal.Open(str(pair.satellite_path))
    args = (aerial.GetGeoTransform(), aerial.GetProjection(), 160, 160, 160, 160, 40)
    all_bands = read_footprint(satellite, *args)
    picked = read_footprint(satellite, *args, bands=[4, 1])
    np.testing.assert_array_equal(picked.values, all_bands.values[[3, 0]])
    aligned = pairs["aligned_ratio_40"]
    aerial, satellite = gdal.Open(str(aligned.aerial_path)), gdal.Open(str(aligned.satellite_path))
    window = read_footprint(satellite, aerial.GetGeoTransform(), aerial.GetProjection(),
                            0, 0, 160, 160, 40, bands=[3])
    assert not window.warped
    np.testing.assert_allclose(window.values[0], aligned.expected(0, 0, 160, 160, 40).values[2],
                               atol=hf.VALUE_TOLERANCE)


def test_satellite_nodata_is_not_a_value(tmp_path):
    aerial = hf._aerial(160)
    grid = hf._satellite_over(aerial, pad=0)
    field = hf.satellite_field(grid)
    field[:, 1, 2] = -1.0
    hf.write_raster(tmp_path / "s.tif", grid, field, nodata=-1.0)
    hf.write_raster(tmp_path / "a.tif", aerial, hf.aerial_image(aerial))
    a, s = gdal.Open(str(tmp_path / "a.tif")), gdal.Open(str(tmp_path / "s.tif"))
    for ratio in (40, 20):  # window read, then warped
        got = read_footprint(s, a.GetGeoTransform(), a.GetProjection(), 0, 0, 160, 160, ratio)
        scale = 40 // ratio
        assert not got.valid[1 * scale, 2 * scale]
        assert got.valid.sum() >= got.valid.size - scale * scale * 4


def test_bad_resampling_and_rotated_aerial_are_user_errors(pairs):
    pair = pairs["aligned_ratio_40"]
    s = gdal.Open(str(pair.satellite_path))
    with pytest.raises(UserError, match="resampling"):
        read_footprint(s, pair.aerial.geotransform, pair.aerial.wkt, 0, 0, 160, 160, 40,
                       resampling="lanczos9")
    rotated = (hf.X0, 0.25, 0.01, hf.Y0, 0.01, -0.25)
    with pytest.raises(UserError, match="rotated"):
        read_footprint(s, rotated, pair.aerial.wkt, 0, 0, 160, 160, 40)
