"""The engine's per-tile reads of a satellite input against pairs whose alignment is known.

Every aerial tile of each synthetic pair (tests/helpers_fusion.py) must receive the satellite
values of its footprint on the grid of ``ratio`` x the aerial pixel: exactly (float32 storage,
VALUE_TOLERANCE) where the resampling kernel sees only real pixels, within the field's change
over one kernel reach next to the satellite's edges, and nodata more than half a satellite
pixel outside it. Integer and non-integer resolution ratios, a grid shifted by a fraction of a
pixel, another CRS, tiles at the satellite's edge, partial and no overlap.
"""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import helpers_fusion as hf  # noqa: E402

from rsai_toolbox.models.callbacks import Callbacks  # noqa: E402
from rsai_toolbox.models.cards import card_from_dict  # noqa: E402
from rsai_toolbox.models.errors import UserError  # noqa: E402
from rsai_toolbox.models.runtime.sources import open_sources  # noqa: E402

# (scenario, card ratio, tile size in aerial pixels, a plain window read expected?)
CASES = [("aligned_ratio_40", 40, 160, True), ("aligned_ratio_32", 32, 128, True),
         ("non_integer_ratio", 32, 128, False), ("non_integer_ratio", 33, 132, False),
         ("shifted_grid", 40, 160, False), ("other_crs", 40, 160, False),
         ("satellite_edge", 40, 160, False), ("partial_overlap", 40, 160, True)]


def fusion_card(ratio, tile, satellite_bands=hf.SATELLITE_BANDS):
    return card_from_dict({
        "id": "fusion-alignment", "task": "segmentation", "format": "onnx",
        "inputs": [{"name": "aerial", "bands": list(hf.AERIAL_BANDS), "scale": 255},
                   {"name": "satellite", "bands": list(satellite_bands), "ratio": ratio}],
        "tiling": {"tile_size": tile, "overlap": 0},
        "outputs": {"classes": [{"value": 0, "name": "background"},
                                {"value": 1, "name": "building"}]}})


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pairs")
    return {name: make(folder) for name, make in hf.SCENARIOS.items()}


def sources_of(pair, ratio, tile, bands=None, **card_kwargs):
    warnings = []
    sources = open_sources(fusion_card(ratio, tile, **card_kwargs),
                           {"aerial": str(pair.aerial_path),
                            "satellite": str(pair.satellite_path)},
                           bands, Callbacks(warn=warnings.append, log=lambda m: None))
    return sources["satellite"], warnings


@pytest.mark.parametrize("scenario, ratio, tile, window_read", CASES)
def test_each_tile_gets_the_satellite_values_of_its_footprint(pairs, scenario, ratio, tile,
                                                              window_read):
    pair = pairs[scenario]
    satellite, warnings = sources_of(pair, ratio, tile)
    assert satellite.aligned is window_read
    assert bool(warnings) is (scenario in ("satellite_edge", "partial_overlap"))  # covers <100%
    side = tile // ratio
    checked = {"interior": 0, "edge": 0, "outside": 0}
    for row0 in range(0, pair.aerial.height, tile):  # the last tiles reach past the raster
        for col0 in range(0, pair.aerial.width, tile):
            got = satellite.read(col0 // ratio, row0 // ratio, side, side)
            want = pair.expected(col0, row0, tile, tile, ratio)
            assert got.values.shape == (4, side, side)
            assert got.valid[want.interior].all()
            np.testing.assert_allclose(got.values[:, want.interior],
                                       want.values[:, want.interior], atol=hf.VALUE_TOLERANCE)
            edge = want.covered & ~want.interior & got.valid
            assert np.all(np.abs(got.values[:, edge] - want.values[:, edge])
                          <= want.edge_tolerance)
            assert not got.valid[want.outside].any()
            for key, mask in (("interior", want.interior), ("edge", edge),
                              ("outside", want.outside)):
                checked[key] += int(mask.sum())
    assert checked["interior"] > 0  # each scenario exercises what it is named for
    if scenario in ("satellite_edge", "partial_overlap"):
        assert checked["outside"] > 0 and checked["edge"] > 0


def test_no_overlap_is_refused_up_front(pairs):
    with pytest.raises(UserError, match="do not overlap"):
        sources_of(pairs["no_overlap"], 40, 160)


def test_bands_are_read_in_the_card_order(pairs):
    """Band descriptions B02, B03, B04, B08 in the file; a card asking B08, B02 gets them so."""
    for scenario, ratio in (("other_crs", 40), ("aligned_ratio_40", 40)):
        pair = pairs[scenario]
        satellite, _ = sources_of(pair, ratio, 160, satellite_bands=("B08", "B02"))
        assert satellite.bands == [4, 1]
        got = satellite.read(4, 4, 4, 4)
        want = pair.expected(160, 160, 160, 160, ratio)
        np.testing.assert_allclose(got.values[:, want.interior],
                                   want.values[[3, 0]][:, want.interior],
                                   atol=hf.VALUE_TOLERANCE)


def test_satellite_nodata_is_not_a_value(tmp_path):
    aerial = hf._aerial(160)
    grid = hf._satellite_over(aerial, pad=0)
    field = hf.satellite_field(grid)
    field[:, 1, 2] = -1.0
    hf.write_raster(tmp_path / "s.tif", grid, field, hf.SATELLITE_BANDS, nodata=-1.0)
    hf.write_raster(tmp_path / "a.tif", aerial, hf.aerial_image(aerial), hf.AERIAL_BANDS)
    pair = hf.SyntheticPair(tmp_path / "a.tif", tmp_path / "s.tif", aerial, grid, "nodata")
    for ratio in (40, 20):  # window read, then warped onto 5 m pixels
        satellite, _ = sources_of(pair, ratio, 160)
        assert satellite.aligned is (ratio == 40)
        got = satellite.read(0, 0, 160 // ratio, 160 // ratio)
        scale = 40 // ratio
        assert not got.valid[1 * scale:2 * scale, 2 * scale:3 * scale].any()
        assert got.valid.sum() >= got.valid.size - (scale + 1) ** 2
