"""Sea-ice type maps from a Sentinel-1 scene (the core of rsai:sea_ice_types).

The scene is made ready as a VRT (``scene``: bands by name in linear power, nodata and land
masked, units detected) and handed to the runtime engine, which reads it tile by tile; the
card's ``db`` transform and normalisation run on each tile. A patch model (NERSC CNN) runs on
the engine's patch head, a multi-task U-Net on the dense head. When the input's pixels are
finer than the model's (IW GRDH at 10 m for a 40 m model), the model reads its inputs
averaged in linear power to its pixel size (the engine's per-tile warp at a ratio) while the
outputs stay on the input grid: a first, unused input keeps the input's own grid, its nodata
and the output grid. Windows and tiles are then given in model pixels.
"""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from ..callbacks import Callbacks
from ..cards import InputSpec, ModelCard
from ..errors import UserError
from ..runtime import engine, raster, vectors
from ..runtime.backends import Predictor
from ..runtime.engine import Destination, RunOptions, RunResult
from ..runtime.grids import Grid
from . import polygons, scene
from ..runtime.gdal_exceptions import gdal_exceptions

SCENE_GRID = "scene_grid"  # the input on the input's own grid, when the model's is coarser
EXTRA_OUTPUTS = ("SIC", "FLOE")


@dataclass(frozen=True)
class IceTypeOutputs:
    """Where each output goes; None = not written."""

    classes: str  # the card's first output as classes on the input grid (OUTPUT)
    windows: str | None = None  # the same on the grid of window centres (patch models)
    probabilities: str | None = None
    sic: str | None = None
    floe: str | None = None
    polygons: str | None = None

    def rasters(self) -> list[str]:
        return [p for p in (self.classes, self.windows, self.probabilities, self.sic,
                            self.floe) if p]


@dataclass
class IceTypeResult:
    units: dict[str, str]
    pixel_m: float
    factor: int
    run: RunResult
    polygons: int | None = None
    outputs: list[str] = field(default_factory=list)


@gdal_exceptions()
def map_ice_types(card: ModelCard, predictor: Predictor, input_path: str,
                  outputs: IceTypeOutputs, bands: Sequence[int] = (), units: str = "auto",
                  land_mask: str | None = None, land_mask_layer: str | int | None = None,
                  options: RunOptions | None = None,
                  callbacks: Callbacks = Callbacks()) -> IceTypeResult:
    """Classify ``input_path`` with ``card``'s model into ``outputs``.

    ``bands``: 1-based band numbers for every card band in order (empty: by description);
    ``units``: "auto", "linear" or "db", what the user says the SAR bands hold (the values
    decide; a contradiction is warned about); ``land_mask``: polygons (land inside) or a
    raster (land where non-zero); ``options``: stride, tile size and overlap in model pixels.
    """
    options = options or RunOptions()
    _check_request(card, input_path, outputs, land_mask)
    with tempfile.TemporaryDirectory(prefix="rsai_seaice_") as folder:
        work = Path(folder)
        source = scene.georeferenced_source(str(input_path), card, work)
        dataset = raster.open_raster(source, "INPUT raster")
        grid = Grid.of(dataset)
        chosen = scene.choose_bands(card, dataset, bands, callbacks.log)
        found = scene.detect_units(dataset, card.primary.bands, chosen[card.primary.name],
                                   units, callbacks.warn, callbacks.log)
        dataset = None
        pixel_m = scene.pixel_size_m(grid)
        factor = scene.averaging_factor(card, pixel_m, callbacks.warn)
        callbacks.log(f"INPUT: {grid.width} x {grid.height} px of {pixel_m:.4g} m; "
                      + (f"the model reads {factor} x {factor} px averaged in linear power "
                         f"({factor * pixel_m:.4g} m pixels)" if factor > 1 else
                         "the model reads its pixels as they are"))
        sea = None
        if land_mask:
            sea = scene.sea_mask(land_mask, grid, work / "sea.tif", land_mask_layer)
        vrt = scene.prepared_vrt(source, card, chosen, found, work / "scene.vrt", sea)
        if scene.valid_fraction(vrt, len(card.primary.bands)) == 0:
            raise UserError(_nothing_to_classify(input_path, land_mask))
        run_card = on_model_grid(card, factor)
        destinations = _destinations(card, outputs, work)
        result = IceTypeResult(found, pixel_m, factor, RunResult())
        # The engine commits its rasters only when complete; what fails after that takes
        # them away again.
        result.run = engine.run(
            run_card, scores_on_input_pixels(predictor, card, factor),
            {spec.name: str(vrt) for spec in run_card.inputs}, destinations,
            _in_input_pixels(options, factor),
            callbacks.part(0, 0.9 if outputs.polygons else 1.0))
        try:
            if result.run.valid_pixels == 0:
                raise UserError(_nothing_to_classify(input_path, land_mask))
            if outputs.polygons:
                callbacks.log("Tracing the class regions into polygons")
                result.polygons = polygons.class_polygons(
                    outputs.classes, _probabilities_path(outputs, work), card.output.classes,
                    outputs.polygons, work, callbacks.part(0.9, 1.0))
        except BaseException:
            _remove(result.run.outputs)
            raise
        result.outputs = outputs.rasters() + ([outputs.polygons] if outputs.polygons else [])
        return result


def _check_request(card: ModelCard, input_path: str, outputs: IceTypeOutputs,
                   land_mask: str | None) -> None:
    """Everything that can be refused before reading any pixel."""
    if card.head.type not in ("patch", "dense"):
        raise UserError(f"{card.title} has a {card.head.type} head; sea-ice maps come from "
                        "patch classifiers (NERSC CNN) or dense networks (U-Net).")
    if card.primary.transform != "db" or not card.output.classes:
        raise UserError(f"{card.title} is not a sea-ice model for this tool: its first input "
                        "must be SAR backscatter turned into dB (transform db) and its first "
                        "output classes.")
    for name, path in (("SIC", outputs.sic), ("FLOE", outputs.floe)):
        if path and name not in {spec.name for spec in card.outputs}:
            raise UserError(f"OUTPUT_{name} was asked for, but {card.title} has no {name} "
                            f"output (its outputs: {', '.join(s.name for s in card.outputs)}). "
                            f"Leave OUTPUT_{name} empty or choose a multi-task model.")
    if outputs.windows and card.head.type != "patch":
        raise UserError(f"OUTPUT_WINDOWS is the grid of window centres of a patch model; "
                        f"{card.title} classifies every pixel. Leave it empty.")
    if outputs.polygons:  # a .gpkg, and a user's layer of that name is never replaced
        vectors.check_destination(outputs.polygons, polygons.LAYER)
    inputs = [p for p in (input_path, land_mask) if p]
    raster.check_outputs(outputs.rasters() + ([outputs.polygons] if outputs.polygons else []),
                         inputs)


def on_model_grid(card: ModelCard, factor: int) -> ModelCard:
    """The card the engine runs: unchanged at factor 1; otherwise the model's inputs read at
    ``factor`` times the input's pixel (averaged), after a first input on the input's grid,
    with windows, strides and tiles scaled to input pixels."""
    if factor == 1:
        return card
    sar = card.primary
    grid_input = InputSpec(bands=sar.bands, name=SCENE_GRID, transform=sar.transform,
                           pad=sar.pad, to_model=False)
    coarse = tuple(replace(spec, ratio=factor, resampling="average") for spec in card.inputs)
    head = card.head
    if head.type == "patch":
        head = replace(head, window=head.window * factor, stride=head.stride * factor)
    tiling = replace(card.tiling, tile_size=card.tiling.tile_size * factor,
                     overlap=card.tiling.overlap * factor)
    return replace(card, inputs=(grid_input, *coarse), head=head, tiling=tiling)


def scores_on_input_pixels(predictor: Predictor, card: ModelCard, factor: int) -> Predictor:
    """A dense model's scores brought back from its pixels to the input's (each input pixel
    takes its model pixel's scores); the scene-grid input never reaches the model."""
    dense = card.head.type == "dense" and factor > 1

    def run(arrays):
        results = predictor(arrays)
        if dense:
            results = {k: np.repeat(np.repeat(v, factor, axis=-2), factor, axis=-1)
                       for k, v in results.items()}
        return results

    fixed = ({k: (h * factor, w * factor) for k, (h, w) in predictor.fixed_sizes.items()}
             if dense else predictor.fixed_sizes)
    return Predictor(run, predictor.device, fixed, predictor.fit)


def _in_input_pixels(options: RunOptions, factor: int) -> RunOptions:
    def scaled(value):
        return None if value is None else value * factor
    return replace(options, stride=scaled(options.stride), tile_size=scaled(options.tile_size),
                   overlap=scaled(options.overlap))


def _destinations(card: ModelCard, outputs: IceTypeOutputs, work: Path) -> list[Destination]:
    main = card.output.name
    chosen = [Destination(outputs.classes, main)]
    if outputs.windows:
        chosen.append(Destination(outputs.windows, main, grid="windows"))
    probabilities = _probabilities_path(outputs, work) if (
        outputs.probabilities or outputs.polygons) else None
    if probabilities:
        chosen.append(Destination(probabilities, main, what="probabilities"))
    for name, path in (("SIC", outputs.sic), ("FLOE", outputs.floe)):
        if path:
            chosen.append(Destination(path, name))
    return chosen


def _probabilities_path(outputs: IceTypeOutputs, work: Path) -> str:
    """The user's probabilities, or a temporary raster the polygons' means are read from."""
    return outputs.probabilities or str(work / "probabilities.tif")


def _nothing_to_classify(input_path: str, land_mask: str | None) -> str:
    if land_mask:
        return (f"no pixel of {input_path} is both measured and at sea: it is all nodata or "
                f"LAND_MASK ({land_mask}) covers all of it. Check that the land mask marks "
                "land (polygons over land, or non-zero raster pixels on land) and that both "
                "show the same place; nothing was written.")
    return (f"every pixel of {input_path} is nodata (or zero / negative power): there is "
            "nothing to classify. Check the bands and the nodata value; nothing was written.")


def _remove(paths: Sequence[str]) -> None:
    """Outputs this run wrote, when a later step failed: nothing half-done stays."""
    for path in paths:
        for leftover in (Path(path), Path(f"{path}.aux.xml")):
            with contextlib.suppress(OSError):
                leftover.unlink()
