"""Tile grid with overlap and seam-free blending in memory bounded by the tile size.

Tiles of size T start every S = T - O pixels (O = overlap). Each tile's prediction is weighted by
a separable ramp across every overlap band it shares with a neighbour: linear (smooth seams), or
a step at the band's middle (``crop``: each pixel from the nearer tile, exact for models whose
context is at most O/2). The ramps of two neighbours sum to one, so the blended value needs no
normalisation and a pixel is final as soon as the tiles above and to its left are done.
Walking tiles row by row, the ``Blender`` therefore keeps only two carries — the bottom O rows
of the previous tile row (O x width) and the right O columns of the previous tile (T x O) — and
hands out each tile's S x S core block for writing.

With ``edge="clip"`` (crop blending only) tile k is instead the core [k S, (k + 1) S) with O/2
pixels of context on each side, cut at the raster's edge: nothing is padded, each pixel comes
from the one tile whose core holds it (``owned``), and no blending is needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ..errors import UserError


@dataclass(frozen=True)
class Tile:
    row: int  # tile-grid indices
    col: int
    y: int  # pixel offset of the tile's read window
    x: int
    height: int  # window size, clipped to the raster
    width: int


@dataclass(frozen=True)
class TileGrid:
    width: int
    height: int
    tile_size: int
    overlap: int
    blend: str = "linear"  # or "crop"
    edge: str = "pad"  # or "clip": cores with context, cut at the raster's edge

    def __post_init__(self) -> None:
        if self.overlap < 0:
            raise UserError("OVERLAP must be zero or positive.")
        if self.edge == "clip":
            if self.blend != "crop" or self.overlap % 2:
                raise ValueError("edge clip needs crop blending and an even overlap")
            if self.tile_size <= self.overlap:
                raise UserError(f"TILE_SIZE ({self.tile_size}) must be larger than OVERLAP "
                                f"({self.overlap}); raise TILE_SIZE or lower OVERLAP.")
        elif self.tile_size <= 2 * self.overlap:
            raise UserError(f"TILE_SIZE ({self.tile_size}) must be larger than twice OVERLAP "
                            f"({self.overlap}); raise TILE_SIZE or lower OVERLAP.")

    @property
    def stride(self) -> int:
        return self.tile_size - self.overlap

    @property
    def rows(self) -> int:
        if self.edge == "clip":
            return -(-self.height // self.stride)
        return _count(self.height, self.tile_size, self.stride)

    @property
    def cols(self) -> int:
        if self.edge == "clip":
            return -(-self.width // self.stride)
        return _count(self.width, self.tile_size, self.stride)

    def __len__(self) -> int:
        return self.rows * self.cols

    def __iter__(self) -> Iterator[Tile]:
        for r in range(self.rows):
            for c in range(self.cols):
                if self.edge == "clip":
                    y0, y1 = self._span(r, self.height)
                    x0, x1 = self._span(c, self.width)
                    yield Tile(r, c, y0, x0, y1 - y0, x1 - x0)
                else:
                    y, x = r * self.stride, c * self.stride
                    yield Tile(r, c, y, x, min(self.tile_size, self.height - y),
                               min(self.tile_size, self.width - x))

    def _span(self, index: int, length: int) -> tuple[int, int]:
        """A clipped tile's extent along one axis: its core and half the overlap each side."""
        half = self.overlap // 2
        return (max(0, index * self.stride - half),
                min(length, (index + 1) * self.stride + half))

    def owned(self, tile: Tile) -> tuple[int, int, int, int]:
        """(row0, row1, col0, col1) of the pixels, in the tile's own coordinates, that this tile
        alone gives with crop blending: the tiles' owned parts cover the raster once."""
        if self.blend != "crop":
            raise ValueError("only crop blending gives each pixel to one tile")
        if self.edge == "clip":
            s = self.stride
            return (tile.row * s - tile.y, min((tile.row + 1) * s, self.height) - tile.y,
                    tile.col * s - tile.x, min((tile.col + 1) * s, self.width) - tile.x)
        half = self.overlap // 2
        end_h = tile.height if tile.row == self.rows - 1 else self.stride + half
        end_w = tile.width if tile.col == self.cols - 1 else self.stride + half
        return (half if tile.row else 0, end_h, half if tile.col else 0, end_w)

    def weights(self, tile: Tile) -> np.ndarray:
        """The tile's blending weights (height, width): ramps only where a neighbour overlaps."""
        wy = _ramp(tile.height, self.overlap, tile.row > 0, tile.row < self.rows - 1, self.blend)
        wx = _ramp(tile.width, self.overlap, tile.col > 0, tile.col < self.cols - 1, self.blend)
        return np.outer(wy, wx).astype(np.float32)

    def core(self, tile: Tile) -> tuple[int, int]:
        """Rows and columns of the tile that are final once the tile is blended in."""
        last_row, last_col = tile.row == self.rows - 1, tile.col == self.cols - 1
        return (tile.height if last_row else self.stride, tile.width if last_col else self.stride)


def _count(length: int, tile: int, stride: int) -> int:
    return 1 if length <= tile else 1 + -(-(length - tile) // stride)


def _ramp(length: int, overlap: int, rise: bool, fall: bool, blend: str = "linear") -> np.ndarray:
    """1 in the middle, rising from 0 to 1 across a shared band (linearly, or as a step at
    its middle for ``crop``); a tile's fall is 1 - its neighbour's rise, so the two sum to 1."""
    w = np.ones(length, dtype=np.float64)
    if overlap == 0:
        return w
    if blend == "crop":
        steps = (np.arange(overlap) >= overlap // 2).astype(np.float64)
    else:
        steps = (np.arange(overlap) + 0.5) / overlap
    if rise:
        w[:overlap] = steps
    if fall:
        w[length - overlap:] = np.minimum(w[length - overlap:], 1.0 - steps)
    return w


class Blender:
    """Accumulates weighted tile predictions in row-major order and releases final blocks."""

    def __init__(self, grid: TileGrid, channels: int):
        self.grid = grid
        self._below = np.zeros((channels, grid.overlap, grid.width), np.float32)
        self._next_below = np.zeros_like(self._below)
        self._right = np.zeros((channels, grid.tile_size, grid.overlap), np.float32)
        self._weights: dict[tuple, np.ndarray] = {}  # a handful of shapes: edges, corners

    def add(self, tile: Tile, prediction: np.ndarray) -> np.ndarray:
        """Blend one tile (channels, height, width), changing it in place; return its final
        core block."""
        g, o = self.grid, self.grid.overlap
        if tile.col == 0:
            self._right[:] = 0
            if tile.row > 0:
                self._below, self._next_below = self._next_below, self._below
                self._next_below[:] = 0
        core_h, core_w = g.core(tile)
        key = (tile.height, tile.width, tile.row > 0, tile.row < g.rows - 1, tile.col > 0,
               tile.col < g.cols - 1)
        if key not in self._weights:
            self._weights[key] = g.weights(tile)
        blended = prediction
        blended *= self._weights[key]  # in place: the prediction is ours to change
        # What the previous tile row left in our top band: only over our own core columns,
        # the rest reaches the next tile through the right carry.
        if tile.row > 0:
            blended[:, :o, :core_w] += self._below[:, :, tile.x:tile.x + core_w]
        if tile.col > 0:
            blended[:, :, :o] += self._right[:, :tile.height]
        if tile.col < g.cols - 1:
            self._right[:, :tile.height] = blended[:, :, core_w:]
        if tile.row < g.rows - 1:
            self._next_below[:, :, tile.x:tile.x + core_w] = blended[:, core_h:, :core_w]
        return blended[:, :core_h, :core_w]
