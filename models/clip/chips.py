"""Chips of a raster through a CLIP's image tower, run by the engine's patch head.

A chip is a window of CHIP_SIZE pixels cut every STRIDE pixels (windows wholly inside the
raster); the engine reads them strip by strip, skips windows that are mostly nodata or outside
the MASK, and hands each run of embedded chips to a sink (the index writer, or a list for
searches that embed on the fly). Planning (bands, chip size, resampling, brightness, mask) is
done first and checks everything a user can get wrong before the model runs.
"""

from __future__ import annotations

import contextlib
import math
import uuid
from dataclasses import dataclass, field, replace
from typing import Callable, Iterator, Sequence

import numpy as np
from osgeo import gdal, ogr

from ..callbacks import Callbacks
from ..cards import Head, ModelCard
from ..errors import UserError
from ..runtime import raster
from ..runtime.engine import RunOptions, WindowBatch, WindowGrid, run
from ..runtime.grids import Grid
from ..runtime.sources import choose_bands
from .brightness import white_value
from .model import ClipModel, check_clip_card

ENGINE_WINDOWS_PER_BATCH = 64  # the engine's patch head sends batch_size x 64 windows per call
GRID_KEYS = ("CHIP_SIZE", "STRIDE", "GRID_COLS", "GRID_ROWS", "RASTER_WIDTH", "RASTER_HEIGHT",
             "RASTER_GEOTRANSFORM")


@dataclass(frozen=True)
class ChipGrid:
    """Windows of ``chip`` pixels every ``stride`` pixels over ``raster`` (the grid the chips
    were cut from, after any resampling): ``cols`` x ``rows`` chips."""

    raster: Grid
    chip: int
    stride: int
    cols: int
    rows: int

    @property
    def windows(self) -> WindowGrid:
        return WindowGrid(self.cols, self.rows, self.chip, self.stride)

    @property
    def cells(self) -> Grid:
        """One pixel per chip (pixel = stride), centred on the chip: the grid of the chip
        rasters (similarity heat map, zero-shot classes)."""
        return self.windows.grid_of(self.raster)

    def footprints(self, cols: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """(N, 4, 2) map coordinates of the chips' corners (rotated grids included)."""
        x0, px, rx, y0, ry, py = self.raster.geotransform
        c = (np.asarray(cols, np.float64) * self.stride)[:, None] + [0, self.chip, self.chip, 0]
        r = (np.asarray(rows, np.float64) * self.stride)[:, None] + [0, 0, self.chip, self.chip]
        return np.stack([x0 + c * px + r * rx, y0 + c * ry + r * py], axis=-1)

    def metadata(self) -> dict[str, str]:
        """The grid as text items (GRID_KEYS), for an index layer's metadata."""
        values = (self.chip, self.stride, self.cols, self.rows, self.raster.width,
                  self.raster.height, ",".join(repr(v) for v in self.raster.geotransform))
        return dict(zip(GRID_KEYS, map(str, values)))

    @classmethod
    def from_metadata(cls, items: dict[str, str], crs_wkt: str) -> "ChipGrid":
        geotransform = tuple(float(v) for v in items["RASTER_GEOTRANSFORM"].split(","))
        if len(geotransform) != 6:
            raise ValueError("RASTER_GEOTRANSFORM needs 6 numbers")
        return cls(Grid(int(items["RASTER_WIDTH"]), int(items["RASTER_HEIGHT"]), geotransform,
                        crs_wkt), int(items["CHIP_SIZE"]), int(items["STRIDE"]),
                   int(items["GRID_COLS"]), int(items["GRID_ROWS"]))


@dataclass(frozen=True)
class ChipBatch:
    """Embedded chips: grid positions and unit embeddings (N, D)."""

    cols: np.ndarray
    rows: np.ndarray
    embeddings: np.ndarray


@dataclass(frozen=True)
class ChipSet:
    """Every chip of a raster with its embedding, from an index or embedded on the fly."""

    grid: ChipGrid
    cols: np.ndarray  # (N,) chip-grid columns
    rows: np.ndarray
    embeddings: np.ndarray  # (N, D) unit rows (float32, or float16 as an index stores them)
    model_id: str
    weights_sha256: str
    origin: str  # where the embeddings come from, for messages
    settings: dict[str, str] = field(default_factory=dict)  # bands, brightness, resolution

    def check_model(self, model_id: str, weights_sha256: str) -> None:
        """Refuse to compare these embeddings with those of another model."""
        if (model_id, weights_sha256) != (self.model_id, self.weights_sha256):
            raise UserError(
                f"{self.origin} was made with model {self.model_id} (weights sha256 "
                f"{self.weights_sha256[:12]}…), not with {model_id} (weights sha256 "
                f"{weights_sha256[:12]}…): embeddings of different models cannot be compared. "
                "Leave MODEL empty to use the index's model, or embed the imagery again with "
                "this one (rsai:embed_image_chips).")


@dataclass
class ChipOptions:
    bands: Sequence[int] | None = None  # 1-based red, green, blue; None: by description
    chip_size: int | None = None  # pixels; None: the model's image size
    stride: int | None = None  # pixels; None: the chip size
    resolution: float | None = None  # resample to this pixel size (CRS units) first
    mask: tuple[str, str | int | None] | None = None  # (vector file, layer) of polygons
    stretch_max: float | None = None  # raster value shown as white; None: see brightness


@dataclass(frozen=True)
class ChipPlan:
    """A checked chip run: the card with this run's window, stride and brightness, the raster
    the engine reads (a resampled VRT when RESOLUTION is set) and the chips to embed."""

    card: ModelCard
    path: str
    bands: list[int]
    grid: ChipGrid
    selected: np.ndarray | None  # (rows, cols) chips inside the MASK
    settings: dict[str, str]


@contextlib.contextmanager
def plan_chips(card: ModelCard, raster_path: str, options: ChipOptions,
               callbacks: Callbacks = Callbacks()) -> Iterator[ChipPlan]:
    """Check the inputs and plan the chips before any model is loaded (nothing is embedded
    yet); the card's patch window is the model's image size."""
    check_clip_card(card)
    spec, image_size = card.primary, card.head.window
    info = raster.raster_info(raster.open_raster(raster_path, "input raster"))
    bands = choose_bands(spec, info, list(options.bands) if options.bands else None)
    white = white_value(raster_path, bands, spec.scale, options.stretch_max, callbacks)
    with _resampled(raster_path, options.resolution, callbacks) as path:
        grid = _chip_grid(Grid.of(raster.open_raster(path)), options.chip_size or image_size,
                          options.stride, image_size)
        selected = None
        if options.mask is not None:
            selected = _chips_in_mask(grid, *options.mask)
        run_card = replace(card, inputs=(replace(spec, scale=white),),
                           head=Head("patch", window=grid.chip, stride=grid.stride))
        settings = {"SOURCE": str(raster_path), "BANDS": ",".join(map(str, bands)),
                    "WHITE_VALUE": repr(white),
                    "RESOLUTION": "" if options.resolution is None else repr(options.resolution)}
        callbacks.log(f"chips of {grid.chip} px every {grid.stride} px: {grid.cols} x "
                      f"{grid.rows} on a {grid.raster.width} x {grid.raster.height} px raster, "
                      f"bands {settings['BANDS']} as red, green, blue"
                      + ("" if grid.chip == image_size else
                         f" (resized to the model's {image_size} px)"))
        yield ChipPlan(run_card, path, bands, grid, selected, settings)


def run_chips(plan: ChipPlan, model: ClipModel, on_chips: Callable[[ChipBatch], None],
              batch_size: int = 16, callbacks: Callbacks = Callbacks()) -> int:
    """Embed the planned chips through the engine; ``on_chips`` gets each run of embedded
    chips (mostly-nodata and masked-out chips are not embedded). Returns the chip count."""
    count = 0

    def sink(batch: WindowBatch) -> None:
        nonlocal count
        keep = batch.valid
        if keep.any():
            embeddings = batch.outputs[plan.card.output.name][keep]
            on_chips(ChipBatch(batch.cols[keep], np.full(int(keep.sum()), batch.row),
                               embeddings))
            count += int(keep.sum())

    options = RunOptions(bands={plan.card.primary.name: plan.bands},
                         batch_size=max(1, math.ceil(batch_size / ENGINE_WINDOWS_PER_BATCH)),
                         stride=plan.grid.stride,
                         window_filter=None if plan.selected is None else
                         lambda windows, grid: plan.selected)
    run(plan.card, model.chip_predictor(plan.card.primary, batch_size),
        {plan.card.primary.name: plan.path}, [], options, callbacks, window_sink=sink)
    if count == 0:
        raise UserError("no chip had enough real pixels to embed (every chip is mostly nodata"
                        + (" or outside the MASK" if plan.selected is not None else "")
                        + "); check the raster's nodata, BANDS and the MASK.")
    return count


def embed_chip_set(plan: ChipPlan, model: ClipModel, batch_size: int = 16,
                   callbacks: Callbacks = Callbacks()) -> ChipSet:
    """Every planned chip embedded, kept in memory (searches that embed on the fly)."""
    batches: list[ChipBatch] = []
    run_chips(plan, model, batches.append, batch_size, callbacks)
    return ChipSet(plan.grid, np.concatenate([b.cols for b in batches]),
                   np.concatenate([b.rows for b in batches]),
                   np.concatenate([b.embeddings for b in batches]), model.model_id,
                   model.weights_sha256, f"the chips of {plan.settings['SOURCE']}",
                   plan.settings)


# --------------------------------------------------------------------------- planning parts
def _chip_grid(grid: Grid, chip: int, stride: int | None, image_size: int) -> ChipGrid:
    stride = stride or chip
    if chip < 1 or stride < 1:
        raise UserError(f"CHIP_SIZE ({chip}) and STRIDE ({stride}) must be at least 1 pixel.")
    if chip > min(grid.width, grid.height):
        raise UserError(
            f"CHIP_SIZE ({chip} px) is larger than the raster ({grid.width} x {grid.height} px): "
            f"not one chip fits. Choose a CHIP_SIZE of at most {min(grid.width, grid.height)} "
            f"(chips are resized to the model's {image_size} px), or a finer RESOLUTION.")
    if stride > chip:
        raise UserError(f"STRIDE ({stride} px) is larger than CHIP_SIZE ({chip} px): the "
                        f"pixels between chips would never be looked at. Use at most {chip}.")
    windows = WindowGrid.over(grid.width, grid.height, chip, stride)
    return ChipGrid(grid, chip, stride, windows.cols, windows.rows)


@contextlib.contextmanager
def _resampled(path: str, resolution: float | None, callbacks: Callbacks) -> Iterator[str]:
    """``path`` itself, or a virtual raster of it at ``resolution`` (pixels are resampled as
    they are read; nothing is written to disk)."""
    if resolution is None:
        yield path
        return
    dataset = raster.open_raster(path, "input raster")
    grid = Grid.of(dataset)
    if not np.isfinite(resolution) or resolution <= 0:
        raise UserError(f"RESOLUTION must be a positive pixel size, not {resolution}.")
    if grid.geotransform[2] or grid.geotransform[4]:  # a rotated grid
        raise UserError(f"{path} is rotated; RESOLUTION cannot resample it. Warp it to a north-up "
                        "grid first (Raster > Projections > Warp).")
    if dataset.GetSpatialRef() is not None and dataset.GetSpatialRef().IsGeographic():
        raise UserError(f"{path} is in a geographic CRS (degrees) but RESOLUTION is in metres; "
                        "reproject the raster to a projected CRS (e.g. its UTM zone) first.")
    size = grid.pixel_size
    width, height = round(grid.width * size / resolution), round(grid.height * size / resolution)
    if min(width, height) < 1:
        raise UserError(f"RESOLUTION {resolution:g} is coarser than the whole raster "
                        f"({grid.width * size:g} x {grid.height * size:g}); choose a finer one.")
    name = f"/vsimem/rsai_clip_{uuid.uuid4().hex}.vrt"
    gdal.Translate(name, dataset, format="VRT", width=width, height=height,
                   outputType=gdal.GDT_Float32,  # averages of 8-bit pixels are not rounded
                   resampleAlg="average" if resolution > size else "bilinear")
    callbacks.log(f"resampled from {size:g} to {resolution:g} (CRS units) per pixel: "
                  f"{width} x {height} px, read through a virtual raster")
    try:
        yield name
    finally:
        gdal.Unlink(name)


def _chips_in_mask(grid: ChipGrid, path: str, layer: str | int | None) -> np.ndarray:
    """(rows, cols) True for chips whose centre lies inside a mask polygon (the mask is
    reprojected to the raster's CRS)."""
    try:
        source = gdal.OpenEx(str(path), gdal.OF_VECTOR)
    except RuntimeError:
        source = None
    if source is None:
        raise UserError(f"the MASK {path} cannot be read as a vector file.")
    polygons = source.GetLayer(layer if layer is not None else 0) if not isinstance(layer, str) \
        else source.GetLayerByName(layer)
    if polygons is None:
        raise UserError(f"the MASK {path} has no layer {layer!r}.")
    if ogr.GT_Flatten(polygons.GetGeomType()) not in (ogr.wkbPolygon, ogr.wkbMultiPolygon,
                                                      ogr.wkbUnknown):
        raise UserError(f"the MASK layer {polygons.GetName()} holds "
                        f"{ogr.GeometryTypeToName(polygons.GetGeomType()).lower()}s; give polygons "
                        "(the areas to embed).")
    cells = grid.cells
    target = gdal.GetDriverByName("MEM").Create("", cells.width, cells.height, 1, gdal.GDT_Byte)
    target.SetGeoTransform(cells.geotransform)
    if cells.crs:
        target.SetProjection(cells.crs)
    gdal.RasterizeLayer(target, [1], polygons, burn_values=[1])
    selected = target.ReadAsArray().astype(bool)
    if not selected.any():
        raise UserError(f"the MASK {path} covers the centre of none of the {selected.size} chips "
                        "of the raster; check that it overlaps the raster (and its CRS), or "
                        "use a smaller CHIP_SIZE / STRIDE.")
    return selected
