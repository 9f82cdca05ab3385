"""Tile windows for pansharpening: PAN-grid tiles whose origins and halos are multiples of the
resolution ratio, so each tile's MS window is an exact LR window and decimation phases match."""
from dataclasses import dataclass
from typing import Callable, Iterator, Optional, Tuple

from ..errors import Cancelled, UserError


@dataclass(frozen=True)
class Tile:
    read: Tuple[slice, slice]     # PAN window to read (core + halo, clipped to the image)
    lr_read: Tuple[slice, slice]  # the same window on the MS grid
    write: Tuple[slice, slice]    # core window in the output
    crop: Tuple[slice, slice]     # core window inside the read window


def iter_tiles(shape, tile: int, halo: int, ratio: int,
               progress: Optional[Callable[[float], None]] = None,
               is_cancelled: Optional[Callable[[], bool]] = None) -> Iterator[Tile]:
    """Cover a (H, W) PAN grid with non-overlapping cores of ``tile`` pixels plus ``halo``."""
    h, w = int(shape[-2]), int(shape[-1])
    if h % ratio or w % ratio:
        raise UserError(f"PAN size {h} x {w} is not a multiple of the ratio {ratio}")
    if halo % ratio:
        raise UserError(f"halo {halo} must be a multiple of the ratio {ratio}")
    tile = max(ratio, -(-int(tile) // ratio) * ratio)
    starts = [(y, x) for y in range(0, h, tile) for x in range(0, w, tile)]
    for i, (y0, x0) in enumerate(starts):
        if is_cancelled is not None and is_cancelled():
            raise Cancelled("pansharpening cancelled")
        y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
        ry0, rx0 = max(0, y0 - halo), max(0, x0 - halo)
        ry1, rx1 = min(h, y1 + halo), min(w, x1 + halo)
        yield Tile(read=(slice(ry0, ry1), slice(rx0, rx1)),
                   lr_read=(slice(ry0 // ratio, ry1 // ratio), slice(rx0 // ratio, rx1 // ratio)),
                   write=(slice(y0, y1), slice(x0, x1)),
                   crop=(slice(y0 - ry0, y1 - ry0), slice(x0 - rx0, x1 - rx0)))
        if progress is not None:
            progress((i + 1) / len(starts))
