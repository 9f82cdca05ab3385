"""Run a model over a whole raster, tile by tile, in bounded memory.

Read a batch of tile windows with GDAL, normalise them as the card says, predict, blend the
overlaps (``tiling.Blender``) and write each finished block straight to the outputs. Nodata
pixels are filled before inference and written as nodata after it. Progress and cancel arrive
as plain callables, so the same function serves QGIS, a notebook or a Dask worker.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
from osgeo import gdal

from ..cards import ModelCard
from ..callbacks import never_cancelled, no_progress
from ..errors import Cancelled, UserError
from . import raster
from .backends import Predictor
from .tiling import Tile, TileGrid, Blender


@dataclass
class RunOptions:
    bands: Sequence[int] | None = None  # 1-based input bands in the card's order
    tile_size: int | None = None  # default: the card's
    overlap: int | None = None
    batch_size: int = 1


@dataclass
class RunReport:
    tiles: int = 0
    valid_pixels: int = 0
    warnings: list[str] = field(default_factory=list)


def run_on_raster(input_path: str, card: ModelCard, predictor: Predictor, output_path: str,
                  probabilities_path: str | None = None, options: RunOptions | None = None,
                  progress: Callable[[float], None] = no_progress,
                  is_cancelled: Callable[[], bool] = never_cancelled,
                  log: Callable[[str], None] = print) -> RunReport:
    """Predict every pixel of ``input_path``; write classes (or values) and probabilities."""
    options = options or RunOptions()
    if card.task not in ("segmentation", "regression"):
        raise UserError(f"{card.id} is a {card.task} model; the engine runs single-input "
                        "segmentation and regression models.")
    raster.check_output_path(output_path, [input_path])
    if probabilities_path:
        raster.check_output_path(probabilities_path, [input_path])
    source = raster.open_raster(input_path)
    info = raster.raster_info(source)
    bands = _select_bands(card, info, options.bands)
    nodata = [info.nodata[b - 1] for b in bands]
    floating = any(source.GetRasterBand(b).DataType in (gdal.GDT_Float32, gdal.GDT_Float64)
                   for b in bands)
    grid = TileGrid(info.width, info.height, options.tile_size or card.inputs.tile_size,
                    card.inputs.overlap if options.overlap is None else options.overlap)
    report = RunReport(tiles=len(grid))
    if not info.has_crs:
        report.warnings.append(f"{input_path} has no CRS; the outputs will have none either.")
    outputs = _create_outputs(card, info, output_path, probabilities_path)
    normalise = _normaliser(card)
    blender = Blender(grid, card.output_count)
    log(f"{card.title}: {info.width} x {info.height} px in {len(grid)} tiles of "
        f"{grid.tile_size} px (overlap {grid.overlap}), batch {options.batch_size}, "
        f"on {predictor.device}")

    tiles = list(grid)
    batches = [tiles[i:i + max(1, options.batch_size)]
               for i in range(0, len(tiles), max(1, options.batch_size))]

    def finish(batch_tiles, masks, predictions) -> None:
        """Blend one predicted batch and write the blocks it completes."""
        _check_prediction(predictions, card, len(batch_tiles), grid.tile_size)
        if card.activation == "softmax":
            predictions = softmax(predictions)
        for tile, prediction, mask in zip(batch_tiles, predictions, masks):
            core = blender.add(tile, prediction[:, :tile.height, :tile.width])
            core_mask = mask[:core.shape[1], :core.shape[2]]
            report.valid_pixels += int(core_mask.sum())
            _write_block(card, outputs, core, core_mask, tile)
            if tile.col == grid.cols - 1:  # a strip of output is done: write it out
                for output in outputs.values():
                    output.flush()

    # The model runs in a worker thread (onnxruntime and torch release the GIL) while this
    # thread reads the next batch and blends and writes the previous one.
    with raster.committed_outputs(list(outputs.values())), ThreadPoolExecutor(1) as model_thread:
        pending = None
        for done, batch_tiles in enumerate(batches):
            if is_cancelled():
                raise Cancelled("cancelled by the user; no output was written")
            inputs, masks = zip(*(_read_tile(source, bands, nodata, floating, t, grid.tile_size)
                                  for t in batch_tiles))
            source.FlushCache()  # GDAL would otherwise cache every block of a strip
            running = (batch_tiles, masks, model_thread.submit(predictor, normalise(np.stack(inputs))))
            if pending:
                finish(pending[0], pending[1], pending[2].result())
                progress(done / len(batches))
            pending = running
        finish(pending[0], pending[1], pending[2].result())
        progress(1.0)
        if report.valid_pixels == 0:
            report.warnings.append(f"every pixel of {input_path} is nodata; the outputs are "
                                   "all nodata. Check the input's nodata value and bands.")
    for warning in report.warnings:
        log(f"Warning: {warning}")
    return report


def _select_bands(card: ModelCard, info: raster.RasterInfo, bands: Sequence[int] | None) -> list[int]:
    if bands:
        bad = [b for b in bands if not 1 <= b <= info.band_count]
        if bad:
            raise UserError(f"band(s) {bad} do not exist: {info.path} has {info.band_count} bands.")
        chosen = list(bands)
    else:
        chosen = list(range(1, info.band_count + 1))
    if len(chosen) != card.band_count:
        raise UserError(
            f"{card.title} expects {card.band_count} bands ({', '.join(card.inputs.bands)}) but "
            f"{'BANDS selects' if bands else 'the raster has'} {len(chosen)}. Pick the bands "
            "with the BANDS parameter, in the model's order.")
    return chosen


def _create_outputs(card: ModelCard, info: raster.RasterInfo, output_path: str,
                    probabilities_path: str | None) -> dict[str, raster.OutputRaster]:
    outputs = {}
    if card.task == "segmentation":
        outputs["classes"] = raster.create_like(
            info, output_path, 1, gdal.GDT_Byte, raster.CLASS_NODATA, ["class"],
            [(c.value, c.name, c.color) for c in card.classes])
        if probabilities_path:
            outputs["probabilities"] = raster.create_like(
                info, probabilities_path, len(card.classes), gdal.GDT_Float32,
                raster.FLOAT_NODATA, [f"P({c.name})" for c in card.classes])
    else:
        names = [f"{t.name} ({t.unit})" if t.unit else t.name for t in card.targets]
        outputs["values"] = raster.create_like(info, output_path, len(card.targets),
                                               gdal.GDT_Float32, raster.FLOAT_NODATA, names)
    return outputs


def _normaliser(card: ModelCard) -> Callable[[np.ndarray], np.ndarray]:
    """``(raw / scale - mean) / std`` as one multiply-add, in place on a float32 batch."""
    spec = card.inputs
    mean = np.asarray(spec.mean or [0.0], np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(spec.std or [1.0], np.float32).reshape(1, -1, 1, 1)
    gain = (1.0 / (np.float32(spec.scale) * std)).astype(np.float32)
    offset = (-mean / std).astype(np.float32)

    def normalise(batch: np.ndarray) -> np.ndarray:
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
    """np.argmax over the first axis of (K, H, W), in K vectorised passes (several times faster
    than a strided reduction for the handful of classes a model has)."""
    best, index = values[0].copy(), np.zeros(values.shape[1:], np.uint8)
    for k in range(1, len(values)):
        better = values[k] > best
        index[better] = k
        np.maximum(best, values[k], out=best)
    return index


def _read_tile(source: gdal.Dataset, bands: Sequence[int], nodata, floating: bool, tile: Tile,
               size: int) -> tuple[np.ndarray, np.ndarray]:
    """Read a tile window as float32, fill nodata with the tile's band means, pad to size."""
    block = source.ReadAsArray(tile.x, tile.y, tile.width, tile.height, band_list=list(bands),
                               buf_type=gdal.GDT_Float32)
    block = block.reshape(len(bands), tile.height, tile.width)
    mask = raster.valid_mask(block, nodata, check_finite=floating)
    if not mask.all():
        for band in block:
            band[~mask] = band[mask].mean() if mask.any() else 0.0
    pad = ((0, 0), (0, size - tile.height), (0, size - tile.width))
    if any(p[1] for p in pad):
        mode = "reflect" if min(tile.height, tile.width) > 1 else "edge"
        block = np.pad(block, pad, mode=mode)
    return block, mask


def _check_prediction(predictions: np.ndarray, card: ModelCard, count: int, size: int) -> None:
    expected = (count, card.output_count, size, size)
    if predictions.shape != expected:
        raise UserError(f"the model returned shape {predictions.shape}, but the card promises "
                        f"{expected} (batch, outputs, height, width). The card and the weights "
                        "do not belong together.")


def _write_block(card: ModelCard, outputs: dict[str, raster.OutputRaster], core: np.ndarray,
                 mask: np.ndarray, tile: Tile) -> None:
    if card.task == "segmentation":
        values = np.array([c.value for c in card.classes], np.uint8)
        classes = values[argmax_channels(core)]
        classes[~mask] = raster.CLASS_NODATA
        outputs["classes"].write(classes, tile.x, tile.y)
        if "probabilities" in outputs:
            probabilities = np.where(mask, core, raster.FLOAT_NODATA).astype(np.float32)
            outputs["probabilities"].write(probabilities, tile.x, tile.y)
    else:
        values = np.where(mask, core, raster.FLOAT_NODATA).astype(np.float32)
        outputs["values"].write(values, tile.x, tile.y)
