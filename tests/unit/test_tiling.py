"""The tile grid covers every pixel once and its blending weights sum to one everywhere."""

import numpy as np
import pytest

from rsai_toolbox.models.errors import UserError
from rsai_toolbox.models.runtime.tiling import Blender, TileGrid


def blend(grid: TileGrid, image: np.ndarray, model) -> np.ndarray:
    out = np.full(image.shape[1:], np.nan, np.float32)
    blender = Blender(grid, 1)
    for tile in grid:
        window = image[:, tile.y:tile.y + tile.height, tile.x:tile.x + tile.width]
        core = blender.add(tile, model(window))
        assert np.isnan(out[tile.y:tile.y + core.shape[1], tile.x:tile.x + core.shape[2]]).all()
        out[tile.y:tile.y + core.shape[1], tile.x:tile.x + core.shape[2]] = core[0]
    return out


@pytest.mark.parametrize("shape,tile,overlap", [((101, 100), 32, 8), ((64, 64), 64, 10),
                                                ((50, 130), 40, 0), ((300, 7), 64, 31)])
def test_pointwise_model_blends_to_the_untiled_result(shape, tile, overlap):
    image = np.random.default_rng(1).normal(size=(1, *shape)).astype(np.float32)
    grid = TileGrid(shape[1], shape[0], tile, overlap)
    out = blend(grid, image, lambda window: window * 3 + 1)
    np.testing.assert_allclose(out, image[0] * 3 + 1, rtol=1e-5, atol=1e-5)


def test_seams_are_averages_of_both_tiles():
    """A model that says which tile it saw: inside an overlap the output mixes neighbours."""
    grid = TileGrid(100, 20, 40, 10)
    tiles = iter(range(len(grid)))
    out = blend(grid, np.zeros((1, 20, 100), np.float32),
                lambda window: np.full((1, *window.shape[1:]), next(tiles), np.float32))
    assert out[0, 0] == 0 and out[0, 99] == grid.cols - 1
    seam = out[0, 30:40]  # tile 0 and tile 1 overlap here: weights ramp from tile 0 to tile 1
    assert np.all(np.diff(seam) > 0) and 0 < seam[0] < 0.1 and 0.9 < seam[-1] < 1


def test_tile_must_exceed_twice_the_overlap():
    with pytest.raises(UserError, match="TILE_SIZE .* larger than twice OVERLAP"):
        TileGrid(100, 100, 64, 32)


@pytest.mark.parametrize("width,height,size,overlap", [(517, 598, 96, 48), (64, 64, 128, 16),
                                                       (1000, 37, 100, 0)])
def test_clipped_tiles_are_cut_at_the_edge_and_own_every_pixel_once(width, height, size, overlap):
    """edge clip: each tile is its core plus overlap / 2 of context, never past the raster;
    the owned parts (the cores) cover the raster exactly once."""
    grid = TileGrid(width, height, size, overlap, "crop", "clip")
    count = np.zeros((height, width), int)
    half, stride = overlap // 2, size - overlap
    for tile in grid:
        assert tile.x >= 0 and tile.y >= 0
        assert tile.x + tile.width <= width and tile.y + tile.height <= height
        assert tile.x == max(0, tile.col * stride - half) and tile.y == max(0, tile.row * stride - half)
        r0, r1, c0, c1 = grid.owned(tile)
        count[tile.y + r0:tile.y + r1, tile.x + c0:tile.x + c1] += 1
    assert (count == 1).all()
    assert len(grid) == -(-width // stride) * -(-height // stride)
