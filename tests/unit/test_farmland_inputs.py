"""The FTW input stack from one raster per date: band matching, alignment, errors, warnings."""
import numpy as np
import pytest
from osgeo import gdal

from helpers import write_geotiff
from rsai_toolbox.models.errors import UserError
from rsai_toolbox.models.farmland.inputs import ftw_stack

GT = (359130.0, 10.0, 0.0, 5352340.0, 0.0, -10.0)


@pytest.fixture
def stack(shared_data):
    return gdal.Open(str(shared_data / "farmland" / "ftw_s2_bitemporal_austria.tif")).ReadAsArray()


def test_descriptions_pick_and_order_the_bands(tmp_path, stack):
    a = write_geotiff(tmp_path / "a.tif", stack[[3, 0, 1, 2]], GT,
                      descriptions=("NIR", "red", "B3", "b02 (blue)"))
    b = write_geotiff(tmp_path / "b.tif", stack[4:8], GT)  # no descriptions: taken in order
    logs = []
    with ftw_stack(a, b, log=logs.append) as prepared:
        assert np.array_equal(gdal.Open(prepared.path).ReadAsArray(), stack.astype(np.float32))
        assert not prepared.warnings
    assert "bands [2, 3, 4, 1]" in logs[0] and "taken as B04" in logs[1]


def test_b_on_another_grid_is_warped_with_a_warning(tmp_path, stack):
    a = write_geotiff(tmp_path / "a.tif", stack[:4], GT)
    shifted = (GT[0] + 30.0, *GT[1:])
    b = write_geotiff(tmp_path / "b.tif", stack[4:8, :, 3:], shifted)
    with ftw_stack(a, b, log=lambda m: None) as prepared:
        data = gdal.Open(prepared.path).ReadAsArray()
        assert data.shape == (8, 379, 578)
        np.testing.assert_allclose(data[4:, :, 3:], stack[4:8, :, 3:], atol=1e-3)
        assert (data[4:, :, :3] == 0).all()  # not covered by B: nodata 0
        assert "resampled (bilinear)" in prepared.warnings[0] and "99%" in prepared.warnings[0]


def test_errors_and_reflectance_warning(tmp_path, stack):
    a = write_geotiff(tmp_path / "a.tif", stack[:4], GT)
    far = write_geotiff(tmp_path / "far.tif", stack[4:8], (GT[0] + 1e5, *GT[1:]))
    with pytest.raises(UserError, match="do not overlap"):
        with ftw_stack(a, far, log=lambda m: None):
            pass
    with pytest.raises(UserError, match="INPUT_B is empty"):
        with ftw_stack(a, None, log=lambda m: None):
            pass
    with pytest.raises(UserError, match="has 4 bands but this model needs 8"):
        with ftw_stack(stack=a, log=lambda m: None):
            pass
    three = write_geotiff(tmp_path / "three.tif", stack[:3], GT)
    with pytest.raises(UserError, match="INPUT_A.*3 bands"):
        with ftw_stack(three, a, log=lambda m: None):
            pass
    reflectance = write_geotiff(tmp_path / "r.tif", (stack[4:8] / 10000).astype(np.float32), GT)
    with ftw_stack(a, reflectance, log=lambda m: None) as prepared:
        assert any("reflectance 0-1" in w and "window B" in w for w in prepared.warnings)
