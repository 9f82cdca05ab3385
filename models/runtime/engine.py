"""Run a model over rasters, tile by tile, in bounded memory: the one engine every method uses.

The card says what to do: its named inputs (each read per tile straight from its own file on
its own grid, see ``sources``), its tiling and its head:

* ``dense``: tiles of the first input's grid go to the model in batches; the per-pixel scores
  of overlapping tiles are blended (``tiling.Blender``) and each finished block is written;
* ``patch``: the model scores fixed windows every ``stride`` pixels; scores go on the grid of
  window centres and/or back onto the pixel grid (each pixel takes the nearest window), and
  to an optional window sink (footprints with attributes);
* ``pixel_table``: blocks become rows of pixel features (nodata rows left out), the model
  maps rows to rows, and the rows go back into blocks.

A predictor with a ``fit`` hook first sees a sample of the inputs (global statistics). The model
runs in a worker thread (onnxruntime and torch release the GIL) while this thread reads the
next batch and blends and writes the previous one. Outputs are written under temporary names
and renamed only when complete. Progress, cancel, log and warnings arrive as ``Callbacks``, so
the same function serves QGIS, a notebook or a Dask worker.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterator, Mapping, Sequence

import numpy as np
from osgeo import gdal

from ..callbacks import Callbacks
from ..cards import InputSpec, ModelCard, OutputSpec, alignment
from ..errors import UserError
from . import raster
from .backends import Predictor
from .grids import Grid
from .sources import Block, InputSource, fill_invalid, open_sources
from .tiling import Blender, Tile, TileGrid
from .gdal_exceptions import gdal_exceptions

PIXEL_ROWS_PER_CALL = 1 << 18  # pixel-table head: rows per model call
PATCH_STRIP_WIDTH = 4096  # patch head: primary pixels of a strip read at once


@dataclass(frozen=True)
class Destination:
    """One raster the run writes: an output's classes/values or probabilities, on the pixel
    grid or (patch head) on the grid of window centres."""

    path: str
    output: str = ""  # the card output's name; "" = the first output
    what: str = "values"  # "values" (classes of a class output) or "probabilities"
    grid: str = "pixels"  # or "windows"
    data_type: int = gdal.GDT_Float32  # values of targets: an integer type rounds and clips
    band_names: tuple[str, ...] = ()  # instead of the card's (targets, "P(class)")


@dataclass
class RunOptions:
    bands: Mapping[str, Sequence[int] | None] = field(default_factory=dict)  # 1-based, card order
    tile_size: int | None = None  # default: the card's
    overlap: int | None = None
    batch_size: int = 1  # tiles (dense), windows x 64 (patch) per model call
    stride: int | None = None  # patch head; default: the card's
    # Patch head: which windows to run, given the window grid and the first input's grid ->
    # (rows, cols) bool; the others are not run and are nodata (e.g. outside a mask).
    window_filter: Callable[["WindowGrid", Grid], np.ndarray] | None = None


@dataclass
class RunResult:
    tiles: int = 0
    valid_pixels: int = 0
    outputs: list[str] = field(default_factory=list)  # the path of every raster written


WindowSink = Callable[["WindowBatch"], None]


@dataclass(frozen=True)
class WindowBatch:
    """Patch-head results for a run of windows in one window row: what a vector sink needs."""

    row: int  # window-grid row
    cols: np.ndarray  # window-grid columns
    footprints: np.ndarray  # (n, 4) col0, row0, col1, row1 in primary pixels
    outputs: dict[str, np.ndarray]  # name -> (n, K), after the card's activation
    valid: np.ndarray  # (n,) bool: enough real pixels under the window


@gdal_exceptions()
def run(card: ModelCard, predictor: Predictor, paths: Mapping[str, str | None],
        destinations: Sequence[Destination], options: RunOptions | None = None,
        callbacks: Callbacks = Callbacks(), features=None,
        window_sink: WindowSink | None = None) -> RunResult:
    """Run ``card``'s model on the rasters in ``paths`` (input name -> path) into
    ``destinations``. ``features`` (pixel-table head): blocks by input name, each
    (bands, rows + 2 halo, cols + 2 halo), -> (F, rows, cols)."""
    options = options or RunOptions()
    raster.check_outputs([d.path for d in destinations], [p for p in paths.values() if p])
    sources = open_sources(card, paths, options.bands, callbacks)
    try:
        primary = sources[card.primary.name]
        callbacks.log(f"{card.title}: {primary.grid.width} x {primary.grid.height} px, "
                      f"{card.head.type} head, on {predictor.device}")
        if not primary.grid.crs:
            callbacks.warn(f"{primary.path} has no CRS; the outputs will have none either.")
        if card.head.type == "patch":
            return _run_patches(card, predictor, sources, destinations, options, callbacks,
                                window_sink)
        if card.head.type == "pixel_table":
            return _run_pixel_table(card, predictor, sources, destinations, options, callbacks,
                                    features)
        return _run_dense(card, predictor, sources, destinations, options, callbacks)
    finally:
        for source in sources.values():
            source.close()


# --------------------------------------------------------------------------- shared parts
def tile_grid(card: ModelCard, primary: Grid, options: RunOptions,
              predictor: Predictor | None = None) -> TileGrid:
    """The card's tiling with the user's TILE_SIZE / OVERLAP, checked: multiples of the
    inputs' ratios, no bigger than the raster needs, the size a fixed-size model takes."""
    step = alignment(card.inputs)
    size = options.tile_size or card.tiling.tile_size
    overlap = card.tiling.overlap if options.overlap is None else options.overlap
    for name, value in (("TILE_SIZE", size), ("OVERLAP", overlap)):
        if value % step:
            raise UserError(f"{name} ({value}) must be a multiple of {step}: the model's inputs "
                            f"have pixel ratios {[s.ratio for s in card.inputs]}.")
    fixed = _fixed_size(predictor)
    if fixed is not None and size != fixed:
        raise UserError(f"{card.title} only takes tiles of {fixed} x {fixed} pixels; set "
                        f"TILE_SIZE to {fixed} (or leave it empty).")
    largest = -(-max(primary.width, primary.height) // step) * step
    if card.tiling.edge == "clip":  # tiles are cut at the raster's edge: no memory to save
        if overlap % (2 * step):
            raise UserError(f"OVERLAP ({overlap}) must be a multiple of {2 * step}: half of it "
                            "is context on each side of a tile, a multiple of the inputs' "
                            "pixel ratios.")
    elif fixed is None and size > 2 * largest:  # a huge TILE_SIZE would only cost memory
        size, overlap = largest, min(overlap, (largest - 1) // 2 // step * step)
    return TileGrid(primary.width, primary.height, size, overlap, card.tiling.blend,
                    card.tiling.edge)


def _fixed_size(predictor: Predictor | None) -> int | None:
    if predictor is None or not predictor.fixed_sizes:
        return None
    return next(iter(predictor.fixed_sizes.values()))[0]


def normaliser(spec: InputSpec) -> Callable[[np.ndarray], np.ndarray]:
    """``(x / scale - mean) / std`` as one multiply-add, in place on a float32 (N, C, H, W)."""
    mean = np.asarray(spec.mean or [0.0], np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(spec.std or [1.0], np.float32).reshape(1, -1, 1, 1)
    gain = (1.0 / (np.float32(spec.scale) * std)).astype(np.float32)
    offset = (-mean / std).astype(np.float32)
    identity = not spec.mean and not spec.std and spec.scale == 1.0

    def normalise(batch: np.ndarray) -> np.ndarray:
        if not identity:
            np.multiply(batch, gain, out=batch)
            np.add(batch, offset, out=batch)
        return batch

    return normalise


def softmax(scores: np.ndarray, axis: int = 1) -> np.ndarray:
    """Class probabilities from scores, in place."""
    scores -= scores.max(axis=axis, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=axis, keepdims=True)
    return scores


def argmax_channels(values: np.ndarray) -> np.ndarray:
    """np.argmax over the first axis of (K, ...), in K vectorised passes (several times faster
    than a strided reduction for the handful of classes a model has)."""
    best, index = values[0].copy(), np.zeros(values.shape[1:], np.uint8)
    for k in range(1, len(values)):
        better = values[k] > best
        index[better] = k
        np.maximum(best, values[k], out=best)
    return index


def model_outputs(card: ModelCard, results: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The predictor's results by card output name (one output: whatever the model named it),
    activation applied."""
    if len(card.outputs) == 1 and card.output.name not in results:
        results = {card.output.name: next(iter(results.values()))}
    missing = [spec.name for spec in card.outputs if spec.name not in results]
    if missing:
        raise UserError(f"the model returned {', '.join(results)} but the card {card.id} "
                        f"expects the outputs {', '.join(missing)}: the card and the weights do "
                        "not belong together.")
    named = {}
    for spec in card.outputs:
        values = results[spec.name]
        named[spec.name] = softmax(values) if spec.activation == "softmax" else values
    return named


def _check_channels(card: ModelCard, outputs: Mapping[str, np.ndarray], shape_tail) -> None:
    """The outputs present (a run may write only some of a multi-output card's) have the
    channels and per-item shape the card promises."""
    for spec in card.outputs:
        if spec.name not in outputs:
            continue
        expected = (spec.channels, *shape_tail)
        got = outputs[spec.name].shape[1:]
        if spec.channels and tuple(got) != tuple(expected):
            raise UserError(f"the model's output {spec.name} has shape {tuple(got)} per item "
                            f"but the card promises {expected}. The card and the weights do "
                            "not belong together.")


class Writers:
    """The destinations of one grid, created on the first input's CRS, committed together."""

    def __init__(self, card: ModelCard, destinations: Sequence[Destination], grid: Grid,
                 which: str):
        self.card = card
        self.chosen = [d for d in destinations if d.grid == which]
        self.rasters: dict[Destination, raster.OutputRaster] = {}
        self._outputs = []
        for destination in self.chosen:
            spec = _output_spec(card, destination.output)
            self.rasters[destination] = _create(grid, destination, spec)
            self._outputs.append(self.rasters[destination])

    def outputs(self) -> list[raster.OutputRaster]:
        return self._outputs

    def needed(self) -> set[str]:
        return {_output_spec(self.card, d.output).name for d in self.chosen}

    def write(self, outputs: Mapping[str, np.ndarray], valid: np.ndarray, col: int,
              row: int) -> None:
        """``outputs``: name -> (K, rows, cols) on this grid; ``valid`` (rows, cols)."""
        for destination, target in self.rasters.items():
            spec = _output_spec(self.card, destination.output)
            values = outputs[spec.name]
            if spec.classes and destination.what == "values":
                codes = np.array([c.value for c in spec.classes], np.uint8)
                data = codes[argmax_channels(values)]
                data[~valid] = raster.CLASS_NODATA
            else:
                data = values if valid.all() else \
                    np.where(valid, values, np.float32(raster.FLOAT_NODATA))
                if destination.data_type != gdal.GDT_Float32:
                    data = raster.cast(data, destination.data_type, valid)
            target.write(data, col, row)

    def flush(self) -> None:
        for output in self._outputs:
            output.flush()


def _output_spec(card: ModelCard, name: str) -> OutputSpec:
    if not name:
        return card.output
    for spec in card.outputs:
        if spec.name == name:
            return spec
    raise UserError(f"{card.id} has no output named {name!r}; its outputs are "
                    f"{', '.join(s.name for s in card.outputs)}.")


def _create(grid: Grid, destination: Destination, spec: OutputSpec) -> raster.OutputRaster:
    if spec.classes and destination.what == "values":
        return raster.create_like(grid, destination.path, 1, gdal.GDT_Byte, raster.CLASS_NODATA,
                                  [spec.name], [(c.value, c.name, c.color) for c in spec.classes])
    if destination.what == "probabilities":
        if not spec.classes:
            raise UserError(f"the output {spec.name} has no classes, so it has no probabilities.")
        return raster.create_like(grid, destination.path, len(spec.classes), gdal.GDT_Float32,
                                  raster.FLOAT_NODATA, destination.band_names or
                                  [f"P({c.name})" for c in spec.classes])
    names = list(destination.band_names) or [t.band_name for t in spec.targets] or [
        f"{spec.name} {i + 1}" for i in range(spec.channels)]
    return raster.create_like(grid, destination.path, len(names), destination.data_type,
                              raster.FLOAT_NODATA if destination.data_type == gdal.GDT_Float32
                              else raster.integer_nodata(destination.data_type), names)


def _fit(predictor: Predictor, card: ModelCard, sources: dict[str, InputSource],
         grid: TileGrid, callbacks: Callbacks) -> None:
    if predictor.fit is not None:
        callbacks.log("Fitting global statistics on a sample of the inputs")
        predictor.fit(FitSample(card, sources, grid))


class FitSample:
    """What a predictor's ``fit`` hook may look at before tiling: an averaged overview of every
    input (ratios kept) or every tile's normalised inputs, both read from the files."""

    def __init__(self, card: ModelCard, sources: dict[str, InputSource], grid: TileGrid):
        self.card, self.sources, self.grid = card, sources, grid

    def overview(self, max_pixels: int) -> dict[str, Block]:
        """Each input's whole grid averaged down by one whole factor, so that the first input
        has at most ``max_pixels`` pixels (the inputs' ratios are kept exactly)."""
        step = alignment(self.card.inputs)
        primary = self.sources[self.card.primary.name].grid
        factor = max(1, int(np.ceil(np.sqrt(primary.width * primary.height / max_pixels))))
        cols, rows = -(-primary.width // (factor * step)), -(-primary.height // (factor * step))
        blocks = {}
        for name, source in self.sources.items():
            cells = step // source.spec.ratio
            blocks[name] = source.read(0, 0, cols * cells * factor, rows * cells * factor,
                                       cols * cells, rows * cells)
        return blocks

    def tiles(self) -> Iterator[tuple[Tile, dict[str, np.ndarray], np.ndarray]]:
        """(tile, normalised inputs (1, C, ...), valid of the primary grid) per tile: (T, T),
        or the tile's own size with ``edge: clip``."""
        for tile in self.grid:
            if self.grid.edge == "clip":
                yield (tile,) + read_clipped(self.card, self.sources, tile)
                continue
            arrays, valid = _read_batch(self.card, self.sources, [tile], self.grid.tile_size)
            yield tile, arrays, valid[0]


def _read_batch(card: ModelCard, sources: dict[str, InputSource], tiles: Sequence[Tile],
                size: int) -> tuple[dict[str, np.ndarray], list[np.ndarray]]:
    """Every input's window for each tile's footprint, read straight into one batch array,
    filled and normalised, and the primary grid's validity (all required inputs real) per tile."""
    arrays, valid = {}, [np.ones((size, size), bool) for _ in tiles]
    for name, source in sources.items():
        r = source.spec.ratio
        batch = np.empty((len(tiles) if source.spec.to_model else 1, len(source.bands),
                          size // r, size // r), np.float32)
        for index, (tile, mask) in enumerate(zip(tiles, valid)):
            slot = batch[index if source.spec.to_model else 0]
            block = source.read(tile.x // r, tile.y // r, size // r, size // r, out=slot)
            mask &= _upsample(block.valid, r)
            if source.spec.to_model:
                filled = fill_invalid(block, source.spec.pad)
                if filled is not slot:
                    slot[:] = filled
        if source.spec.to_model:
            arrays[name] = normaliser(source.spec)(batch)
    return arrays, valid


def read_clipped(card: ModelCard, sources: dict[str, InputSource],
                 tile: Tile) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Every input's window for a tile cut at the raster's edge (``edge: clip``): the input's
    own pixels that cover the tile (ceil(size / ratio) of them), or the tile's pixels for an
    ``upsample`` input; filled by the card's padding (``nan``: NaN where there is no data) and
    normalised, (1, C, rows, cols) each; and the tile's validity (rows, cols)."""
    arrays, valid = {}, np.ones((tile.height, tile.width), bool)
    for name, source in sources.items():
        spec, r = source.spec, source.spec.ratio
        cols, rows = -(-tile.width // r), -(-tile.height // r)
        if spec.upsample:
            block = source.read(tile.x // r, tile.y // r, cols, rows, cols * r, rows * r)
            block = Block(block.values[:, :tile.height, :tile.width],
                          block.valid[:tile.height, :tile.width])
            valid &= block.valid
        else:
            block = source.read(tile.x // r, tile.y // r, cols, rows)
            valid &= _upsample(block.valid, r)[:tile.height, :tile.width]
        if not spec.to_model:
            continue
        if spec.pad == "nan":
            values = block.values
            if not block.valid.all():
                values[:, ~block.valid] = np.nan
        else:
            values = fill_invalid(block, spec.pad)
        arrays[name] = normaliser(spec)(values[None])
    return arrays, valid


def _upsample(mask: np.ndarray, ratio: int) -> np.ndarray:
    return mask if ratio == 1 else np.repeat(np.repeat(mask, ratio, 0), ratio, 1)


# --------------------------------------------------------------------------- dense head
def _run_dense(card, predictor, sources, destinations, options, callbacks) -> RunResult:
    primary = sources[card.primary.name]
    grid = tile_grid(card, primary.grid, options, predictor)
    _fit(predictor, card, sources, grid, callbacks)
    writers = Writers(card, destinations, primary.grid, "pixels")
    if grid.edge == "clip":
        return _run_clipped(card, predictor, sources, grid, writers, callbacks)
    blenders = {spec.name: Blender(grid, spec.channels) for spec in card.outputs
                if spec.name in writers.needed()}
    result = RunResult(tiles=len(grid))
    callbacks.log(f"{len(grid)} tiles of {grid.tile_size} px (overlap {grid.overlap}, "
                  f"{grid.blend} blend), batch {options.batch_size}")
    tiles = list(grid)
    size = max(1, options.batch_size)
    batches = [tiles[i:i + size] for i in range(0, len(tiles), size)]

    def finish(batch_tiles, masks, results) -> None:
        outputs = model_outputs(card, results)
        _check_channels(card, {k: v for k, v in outputs.items() if k in blenders},
                        (grid.tile_size, grid.tile_size))
        for index, (tile, mask) in enumerate(zip(batch_tiles, masks)):
            cores = {name: blender.add(tile, outputs[name][index][:, :tile.height, :tile.width])
                     for name, blender in blenders.items()}
            core_h, core_w = grid.core(tile)
            core_mask = mask[:core_h, :core_w]
            result.valid_pixels += int(core_mask.sum())
            writers.write(cores, core_mask, tile.x, tile.y)
            if tile.col == grid.cols - 1:  # a strip of output is done: write it out
                writers.flush()

    _pipeline(batches, lambda batch: _read_batch(card, sources, batch, grid.tile_size),
              predictor, finish, writers.outputs(), callbacks)
    _warn_if_empty(result, primary, callbacks)
    result.outputs = [d.path for d in writers.chosen]
    return result


def _run_clipped(card, predictor, sources, grid: TileGrid, writers: Writers,
                 callbacks: Callbacks) -> RunResult:
    """``edge: clip``: one tile per model call, each of its own size (cut at the raster's
    edge); each pixel is written from the one tile that owns it, no blending. NaN in the
    model's answer (a model that handles nodata itself) is written as nodata."""
    primary = sources[card.primary.name]
    result = RunResult(tiles=len(grid))
    callbacks.log(f"{len(grid)} tiles of {grid.stride} px with {grid.overlap // 2} px of "
                  "context each side, cut at the raster's edge")

    def finish(batch_tiles, masks, results) -> None:
        tile, mask = batch_tiles[0], masks[0]
        outputs = model_outputs(card, results)
        wanted = {name: values for name, values in outputs.items() if name in writers.needed()}
        _check_channels(card, wanted, (tile.height, tile.width))
        r0, r1, c0, c1 = grid.owned(tile)
        owned = {name: values[0][:, r0:r1, c0:c1] for name, values in wanted.items()}
        core_mask = mask[r0:r1, c0:c1].copy()
        for values in owned.values():
            if not np.isfinite(values.sum(axis=0)).all():  # one pass when all are numbers
                core_mask &= np.isfinite(values).all(axis=0)
        result.valid_pixels += int(core_mask.sum())
        writers.write(owned, core_mask, tile.x + c0, tile.y + r0)
        if tile.col == grid.cols - 1:
            writers.flush()

    def read(batch):
        arrays, valid = read_clipped(card, sources, batch[0])
        return arrays, [valid]

    _pipeline([[tile] for tile in grid], read, predictor, finish, writers.outputs(), callbacks,
              read_ahead=True)
    _warn_if_empty(result, primary, callbacks)
    result.outputs = [d.path for d in writers.chosen]
    return result


def _pipeline(batches, read, predictor, finish, outputs, callbacks: Callbacks,
              read_ahead: bool = False) -> None:
    """Read batch i+1 while the model runs on batch i in a worker thread; finish (blend,
    write) in order; commit the outputs only when every batch is done. ``read_ahead``: a
    reader thread reads batch i+1 meanwhile, so reading also overlaps the writing (and the
    output's compression at each flush); the sources are then read from that thread only."""
    with raster.committed_outputs(outputs), ThreadPoolExecutor(1) as model_thread, \
            ThreadPoolExecutor(1) as reader:
        def read_later(index):
            return reader.submit(read, batches[index]) if index < len(batches) else None

        pending, coming = None, read_later(0) if read_ahead else None
        for done, batch in enumerate(batches):
            callbacks.check_cancelled()
            if read_ahead:
                arrays, masks = coming.result()
                coming = read_later(done + 1)
            else:
                arrays, masks = read(batch)
            running = (batch, masks, model_thread.submit(predictor, arrays))
            if pending:
                finish(pending[0], pending[1], pending[2].result())
                callbacks.progress(done / len(batches))
            pending = running
        if pending:
            finish(pending[0], pending[1], pending[2].result())
        callbacks.progress(1.0)


def _warn_if_empty(result: RunResult, primary: InputSource, callbacks: Callbacks) -> None:
    if result.valid_pixels == 0:
        callbacks.warn(f"every pixel of {primary.path} is nodata; the outputs are all nodata. "
                       "Check the input's nodata value and bands.")


# --------------------------------------------------------------------------- patch head
@dataclass(frozen=True)
class WindowGrid:
    """Windows of ``window`` pixels every ``stride`` pixels, wholly inside the raster; cell
    (i, j) is the stride x stride square around window (i, j)'s centre."""

    cols: int
    rows: int
    window: int
    stride: int

    @classmethod
    def over(cls, width: int, height: int, window: int, stride: int) -> "WindowGrid":
        if window > min(width, height):
            raise UserError(f"the raster ({width} x {height} px) is smaller than the model's "
                            f"window of {window} x {window} px; use a larger raster.")
        if stride > window:
            raise UserError(f"STRIDE ({stride}) is larger than the model's window ({window}): "
                            "pixels between windows would get no value. Use at most "
                            f"{window}.")
        return cls((width - window) // stride + 1, (height - window) // stride + 1, window,
                   stride)

    @property
    def covered(self) -> tuple[int, int]:
        """Pixels (cols, rows) under at least one window; the rest of the raster stays nodata."""
        return ((self.cols - 1) * self.stride + self.window,
                (self.rows - 1) * self.stride + self.window)

    def nearest(self, pixels: np.ndarray, count: int) -> np.ndarray:
        """Window index whose centre is nearest to each pixel index (ties to the later)."""
        offset = (self.window - self.stride) / 2
        return np.clip(np.floor((pixels + 0.5 - offset) / self.stride), 0, count - 1).astype(int)

    def grid_of(self, primary: Grid) -> Grid:
        """The window-centre grid as a raster grid (pixel = stride, origin shifted so each
        cell is centred on its window)."""
        gt, shift, s = primary.geotransform, (self.window - self.stride) / 2, self.stride
        x, y = primary.to_map(shift, shift)
        return Grid(self.cols, self.rows, (x, gt[1] * s, gt[2] * s, y, gt[4] * s, gt[5] * s),
                    primary.crs)


def _run_patches(card, predictor, sources, destinations, options, callbacks,
                 window_sink) -> RunResult:
    primary = sources[card.primary.name]
    stride = options.stride or card.head.stride
    step = alignment(card.inputs)
    if stride % step:
        raise UserError(f"STRIDE ({stride}) must be a multiple of {step} (the inputs' pixel "
                        "ratios).")
    windows = WindowGrid.over(primary.grid.width, primary.grid.height, card.head.window, stride)
    selected = None
    if options.window_filter is not None:
        selected = np.asarray(options.window_filter(windows, primary.grid), bool)
        if selected.shape != (windows.rows, windows.cols):
            raise ValueError(f"window_filter gave {selected.shape}, not the window grid's "
                             f"{(windows.rows, windows.cols)}")
        callbacks.log(f"{int(selected.sum())} of {selected.size} windows selected")
    _fit(predictor, card, sources, TileGrid(primary.grid.width, primary.grid.height,
                                            card.head.window, 0), callbacks)
    pixel_writers = Writers(card, destinations, primary.grid, "pixels")
    window_writers = Writers(card, destinations, windows.grid_of(primary.grid), "windows")
    callbacks.log(f"{windows.cols} x {windows.rows} windows of {windows.window} px every "
                  f"{windows.stride} px")
    per_call = max(1, options.batch_size) * 64
    chunk = max(1, (PATCH_STRIP_WIDTH - windows.window) // windows.stride + 1)
    result = RunResult(tiles=windows.cols * windows.rows)
    width, height = primary.grid.width, primary.grid.height
    column_of_pixel = windows.nearest(np.arange(width), windows.cols)
    under_windows = np.arange(width) < windows.covered[0]
    next_pixel_row = 0

    def finish(j: int, row: "WindowRow", results) -> None:
        """Scores of window row ``j`` to the sink and both grids."""
        nonlocal next_pixel_row
        row_outputs, row_valid = row.scores(card, results, window_sink)
        window_writers.write({k: v[:, None, :] for k, v in row_outputs.items()},
                             row_valid[None, :], 0, j)
        # The pixel rows whose nearest window row is j (all under window row j); the rows
        # below the last window row stay nodata.
        last = height if j == windows.rows - 1 else \
            j * windows.stride + (windows.window + windows.stride) // 2
        rows = np.arange(next_pixel_row, last)
        if pixel_writers.chosen:
            expanded = {k: np.repeat(v[:, None, column_of_pixel], rows.size, axis=1)
                        for k, v in row_outputs.items()}
            inside = np.clip(rows - j * windows.stride, 0, windows.window - 1)
            valid = row.pixel_valid[inside] & (rows < windows.covered[1])[:, None]
            valid &= (row_valid[column_of_pixel] & under_windows)[None, :]
            result.valid_pixels += int(valid.sum())
            pixel_writers.write(expanded, valid, 0, int(rows[0]))
        next_pixel_row = last
        callbacks.progress((j + 1) / windows.rows)

    # Like the dense head: the model runs in a worker thread on row j while this thread reads
    # row j + 1, then writes row j.
    with raster.committed_outputs(pixel_writers.outputs() + window_writers.outputs()), \
            ThreadPoolExecutor(1) as model_thread:
        pending = None
        for j in range(windows.rows):
            callbacks.check_cancelled()
            row = WindowRow.read(sources, card.primary.name, windows, j, chunk, per_call,
                                 None if selected is None else selected[j])
            running = (j, row, [model_thread.submit(predictor, part) for part in row.parts])
            if pending:
                finish(pending[0], pending[1], [f.result() for f in pending[2]])
            pending = running
        finish(pending[0], pending[1], [f.result() for f in pending[2]])
    result.outputs = [d.path for d in pixel_writers.chosen + window_writers.chosen]
    return result


@dataclass
class WindowRow:
    """One row of windows read and cut for the model: ``parts`` are the model calls (at most
    ``per_call`` windows each, never across a column chunk), ``part_rows`` the windows of each
    part (columns within its chunk), ``chunks`` the (first, last + 1) window columns of each
    strip read, ``enough`` which windows have at least half their pixels real (and are
    selected): only those go to the model, ``pixel_valid`` the validity of the pixel strip
    under the row."""

    row: int
    windows: WindowGrid
    parts: list[dict[str, np.ndarray]]
    part_chunks: list[int]
    part_rows: list[np.ndarray]
    chunks: list[tuple[int, int]]
    enough: np.ndarray
    pixel_valid: np.ndarray

    @classmethod
    def read(cls, sources, primary: str, windows: WindowGrid, j: int, chunk: int,
             per_call: int, selected: np.ndarray | None = None) -> "WindowRow":
        from numpy.lib.stride_tricks import sliding_window_view

        w, s = windows.window, windows.stride
        y = j * s
        pixel_valid = np.zeros((w, sources[primary].grid.width), bool)
        parts, part_chunks, part_rows, chunks, enough = [], [], [], [], []
        for i0 in range(0, windows.cols, chunk):
            i1 = min(windows.cols, i0 + chunk)
            x0, width = i0 * s, (i1 - 1 - i0) * s + w
            arrays, valid = {}, np.ones((w, width), bool)
            for name, source in sources.items():
                r = source.spec.ratio
                block = source.read(x0 // r, y // r, width // r, w // r)
                valid &= _upsample(block.valid, r)
                if not source.spec.to_model:
                    continue
                view = sliding_window_view(block.values, (w // r, w // r), axis=(1, 2))
                batch = np.ascontiguousarray(view[:, 0, ::s // r].transpose(1, 0, 2, 3))
                _fill_windows(batch, sliding_window_view(block.valid,
                                                         (w // r, w // r))[0, ::s // r])
                arrays[name] = normaliser(source.spec)(batch)
            pixel_valid[:, x0:x0 + width] = valid
            runs = sliding_window_view(valid, (w, w))[0, ::s].mean(axis=(1, 2)) >= 0.5
            if selected is not None:
                runs &= selected[i0:i1]
            enough.append(runs)
            run = np.flatnonzero(runs)
            for start in range(0, len(run), per_call):
                rows = run[start:start + per_call]
                parts.append({k: v[rows] for k, v in arrays.items()})
                part_chunks.append(len(chunks))
                part_rows.append(rows)
            chunks.append((i0, i1))
        return cls(j, windows, parts, part_chunks, part_rows, chunks, np.concatenate(enough),
                   pixel_valid)

    def scores(self, card: ModelCard, results, window_sink) -> tuple[dict, np.ndarray]:
        """The model's results for this row: name -> (K, window columns), after activation,
        handed to the window sink chunk by chunk; and which windows are valid."""
        merged: list[dict[str, np.ndarray]] = [{} for _ in self.chunks]
        for index, rows, values in zip(self.part_chunks, self.part_rows, results):
            outputs = model_outputs(card, values)
            _check_channels(card, outputs, ())
            i0, i1 = self.chunks[index]
            for name, array in outputs.items():
                if name not in merged[index]:  # windows not run score 0 (they are nodata)
                    merged[index][name] = np.zeros((i1 - i0,) + array.shape[1:], np.float32)
                merged[index][name][rows] = array
        for (i0, i1), chunk in zip(self.chunks, merged):
            for spec in card.outputs:  # no window of the chunk ran: the card's width
                chunk.setdefault(spec.name, np.zeros((i1 - i0, spec.channels), np.float32))
        if window_sink is not None:
            w, s, y = self.windows.window, self.windows.stride, self.row * self.windows.stride
            for (i0, i1), outputs in zip(self.chunks, merged):
                cols = np.arange(i0, i1)
                footprints = np.stack([cols * s, np.full_like(cols, y), cols * s + w,
                                       np.full_like(cols, y + w)], axis=1)
                window_sink(WindowBatch(self.row, cols, footprints, outputs,
                                        self.enough[i0:i1]))
        row = {name: _join_chunks([chunk[name] for chunk in merged]).T.astype(np.float32)
               for name in merged[0]}
        return row, self.enough


def _join_chunks(parts: list[np.ndarray]) -> np.ndarray:
    """Chunks of window scores side by side; a chunk where no window ran (its width unknown
    for outputs whose card gives none, such as embeddings) becomes zeros of the others' width."""
    width = max(part.shape[1] for part in parts)
    return np.concatenate([part if part.shape[1] == width else
                           np.zeros((len(part), width), np.float32) for part in parts])


def _fill_windows(batch: np.ndarray, valid: np.ndarray) -> None:
    """Nodata pixels of each window (n, C, h, w) take the mean of the window's real pixels
    (0 where it has none), in place: a window's answer depends on that window alone."""
    holes = ~valid.all(axis=(1, 2))
    for index in np.flatnonzero(holes):
        mask = valid[index]
        for band in batch[index]:
            band[~mask] = band[mask].mean() if mask.any() else 0.0


# --------------------------------------------------------------------------- pixel-table head
def _run_pixel_table(card, predictor, sources, destinations, options, callbacks,
                     features) -> RunResult:
    primary = sources[card.primary.name]
    halo = card.head.halo
    size = options.tile_size or card.tiling.tile_size
    blocks = TileGrid(primary.grid.width, primary.grid.height, size, 0)
    _fit(predictor, card, sources, blocks, callbacks)
    writers = Writers(card, destinations, primary.grid, "pixels")
    result = RunResult(tiles=len(blocks))
    with raster.committed_outputs(writers.outputs()):
        for done, tile in enumerate(blocks):
            callbacks.check_cancelled()
            table, valid = pixel_rows(card, sources, tile, halo, features)
            outputs = predict_rows(card, predictor, table)
            result.valid_pixels += int(valid.sum())
            writers.write({name: _rows_to_block(values, valid) for name, values in outputs.items()},
                          valid, tile.x, tile.y)
            if tile.col == blocks.cols - 1:
                writers.flush()
            callbacks.progress((done + 1) / len(blocks))
    _warn_if_empty(result, primary, callbacks)
    result.outputs = [d.path for d in writers.chosen]
    return result


def pixel_rows(card: ModelCard, sources: dict[str, InputSource], tile: Tile, halo: int,
               features=None) -> tuple[np.ndarray, np.ndarray]:
    """The feature table (N, F) of a block's valid pixels and the block's validity mask.

    Without ``features`` the rows are the inputs' normalised bands side by side, in card order.
    A ``features`` function gets NaN where an input has no data (past the raster's edge too),
    so window statistics can use the real neighbours only, as they do at sample points.
    """
    blocks, valid = {}, np.ones((tile.height, tile.width), bool)
    for name, source in sources.items():
        block = source.read(tile.x - halo, tile.y - halo, tile.width + 2 * halo,
                            tile.height + 2 * halo)
        core = block.valid[halo:halo + tile.height, halo:halo + tile.width]
        if not source.spec.optional:
            valid &= core
        if features is not None:
            values = np.where(block.valid, block.values, np.float32(np.nan))
        else:
            values = fill_invalid(block, source.spec.pad)
        blocks[name] = normaliser(source.spec)(values[None])[0]
    if features is not None:
        stack = features(blocks)
    else:
        stack = np.concatenate([block[:, halo:halo + tile.height, halo:halo + tile.width]
                                for name, block in blocks.items()
                                if sources[name].spec.to_model])
    valid &= np.isfinite(stack).all(axis=0)
    return np.ascontiguousarray(stack[:, valid].T, dtype=np.float32), valid


def predict_rows(card: ModelCard, predictor: Predictor, table: np.ndarray) -> dict[str, np.ndarray]:
    """The model on a feature table, in calls of bounded size: name -> (N, K)."""
    parts: dict[str, list[np.ndarray]] = {spec.name: [] for spec in card.outputs}
    for start in range(0, len(table), PIXEL_ROWS_PER_CALL):
        outputs = model_outputs(card, predictor({"features": table[start:start +
                                                                       PIXEL_ROWS_PER_CALL]}))
        for name in parts:
            values = outputs[name]
            parts[name].append(values.reshape(len(values), -1))
    return {name: (np.concatenate(values) if values else
                   np.zeros((0, _output_spec(card, name).channels), np.float32))
            for name, values in parts.items()}


def _rows_to_block(rows: np.ndarray, valid: np.ndarray) -> np.ndarray:
    block = np.zeros((rows.shape[1],) + valid.shape, np.float32)
    block[:, valid] = rows.T
    return block
