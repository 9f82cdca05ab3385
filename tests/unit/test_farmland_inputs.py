"""Each date's raster and bands for the FTW card: band matching, B on another grid, errors,
warnings; B is read per tile from its own file (no VRT, no whole-scene warp)."""
import numpy as np
import pytest
from osgeo import gdal

from helpers import write_geotiff
from rsai_toolbox.models.callbacks import Callbacks
from rsai_toolbox.models.errors import UserError
from rsai_toolbox.models.farmland.inputs import date_inputs
from rsai_toolbox.models.registry import find_card
from rsai_toolbox.models.runtime.sources import open_sources

GT = (359130.0, 10.0, 0.0, 5352340.0, 0.0, -10.0)
CARD = find_card("ftw-3class")


@pytest.fixture
def stack(shared_data):
    return gdal.Open(str(shared_data / "farmland" / "ftw_s2_bitemporal_austria.tif")).ReadAsArray()


def quiet(warnings=None, logs=None):
    return Callbacks(log=(logs.append if logs is not None else lambda m: None),
                     warn=(warnings.append if warnings is not None else lambda m: None))


def read_dates(chosen, col=0, row=0, width=578, height=379):
    sources = open_sources(CARD, chosen.paths, chosen.bands, quiet())
    return np.concatenate([sources[n].read(col, row, width, height).values
                           for n in ("date_a", "date_b")])


def test_descriptions_pick_and_order_the_bands(tmp_path, stack):
    a = write_geotiff(tmp_path / "a.tif", stack[[3, 0, 1, 2]], GT,
                      descriptions=("NIR", "red", "B3", "b02 (blue)"))
    b = write_geotiff(tmp_path / "b.tif", stack[4:8], GT)  # no descriptions: taken in order
    logs, warnings = [], []
    chosen = date_inputs(CARD, a, b, callbacks=quiet(warnings, logs))
    assert chosen.bands == {"date_a": [2, 3, 4, 1], "date_b": [1, 2, 3, 4]}
    assert np.array_equal(read_dates(chosen), stack.astype(np.float32))
    assert not warnings
    assert "bands [2, 3, 4, 1]" in logs[0] and "taken as B04" in logs[1]


def test_b_shifted_by_whole_pixels_is_read_exactly_and_uncovered_pixels_are_nodata(tmp_path,
                                                                                   stack):
    a = write_geotiff(tmp_path / "a.tif", stack[:4], GT)
    shifted = (GT[0] + 30.0, *GT[1:])
    b = write_geotiff(tmp_path / "b.tif", stack[4:8, :, 3:], shifted)
    warnings = []
    chosen = date_inputs(CARD, a, b, callbacks=quiet(warnings))
    assert chosen.paths == {"date_a": str(a), "date_b": str(b)}  # B's own file, no VRT
    assert not warnings  # the pixels line up: a window read, nothing resampled
    sources = open_sources(CARD, chosen.paths, chosen.bands, quiet(warnings))
    assert sources["date_b"].aligned
    assert any("covers only 99%" in w for w in warnings)
    block = sources["date_b"].read(0, 0, 578, 379)
    np.testing.assert_array_equal(block.values[:, :, 3:], stack[4:8, :, 3:])
    assert not block.valid[:, :3].any()  # not covered by B: nodata in the outputs


def test_b_off_a_fraction_of_a_pixel_is_resampled_per_tile_with_a_warning(tmp_path, stack):
    a = write_geotiff(tmp_path / "a.tif", stack[:4], GT)
    b = write_geotiff(tmp_path / "b.tif", stack[4:8], (GT[0] + 5.0, *GT[1:]))
    warnings = []
    chosen = date_inputs(CARD, a, b, callbacks=quiet(warnings))
    assert "resampled (bilinear)" in warnings[0]
    sources = open_sources(CARD, chosen.paths, chosen.bands, quiet())
    assert not sources["date_b"].aligned
    block = sources["date_b"].read(100, 100, 64, 64)
    # Half a pixel east: each value is the mean of two neighbours of B.
    expected = (stack[4:8, 100:164, 99:163].astype(np.float64) + stack[4:8, 100:164, 100:164]) / 2
    np.testing.assert_allclose(block.values, expected, rtol=1e-4)


def test_errors_and_reflectance_warning(tmp_path, stack):
    a = write_geotiff(tmp_path / "a.tif", stack[:4], GT)
    far = write_geotiff(tmp_path / "far.tif", stack[4:8], (GT[0] + 1e5, *GT[1:]))
    chosen = date_inputs(CARD, a, far, callbacks=quiet())
    with pytest.raises(UserError, match="do not overlap"):
        open_sources(CARD, chosen.paths, chosen.bands, quiet())
    with pytest.raises(UserError, match="INPUT_B is empty"):
        date_inputs(CARD, a, None, callbacks=quiet())
    with pytest.raises(UserError, match="has 4 bands but this model needs 8"):
        date_inputs(CARD, stack=a, callbacks=quiet())
    three = write_geotiff(tmp_path / "three.tif", stack[:3], GT)
    with pytest.raises(UserError, match="INPUT_A.*3 bands"):
        date_inputs(CARD, three, a, callbacks=quiet())
    reflectance = write_geotiff(tmp_path / "r.tif", (stack[4:8] / 10000).astype(np.float32), GT)
    warnings = []
    date_inputs(CARD, a, reflectance, callbacks=quiet(warnings))
    assert any("reflectance 0-1" in w and "window B" in w for w in warnings)


def test_an_8_band_stack_feeds_both_dates_from_one_file(tmp_path, stack):
    path = write_geotiff(tmp_path / "stack.tif", stack, GT)
    chosen = date_inputs(CARD, stack=str(path), callbacks=quiet())
    assert chosen.paths == {"date_a": str(path), "date_b": str(path)}
    assert chosen.bands == {"date_a": [1, 2, 3, 4], "date_b": [5, 6, 7, 8]}
    assert np.array_equal(read_dates(chosen, 10, 20, 64, 32),
                          stack[:, 20:52, 10:74].astype(np.float32))
