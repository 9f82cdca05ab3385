"""The image and covariate rasters of a soil model, bound and read the way the engine reads a
card's inputs, so features at sample points equal the features of the same pixels in a map.

Inputs: ``s2`` (the Sentinel-2 image; its grid is the features' grid) and ``covariate_1``,
``covariate_2``... (any grid and CRS: the engine warps each window onto the image's pixels,
bilinear). Image bands are matched by name (descriptions such as B4, B04, "B04 (red)", or the
BANDS the user gives), so a model finds its bands in any order; a covariate's bands are taken
as they are. At sample points each input is read over the (2 halo + 1)-pixel window around the
point's image pixel through the engine's own sources, nodata as NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..callbacks import Callbacks
from ..cards import Head, InputSpec, ModelCard, OutputSpec, TargetInfo
from ..errors import UserError
from ..runtime.raster import open_raster, raster_info
from ..runtime.sources import open_sources
from .features import canonical_band

SPECTRAL = "s2"
OUTSIDE = "outside the image"
IMAGE_NODATA = "on nodata in the image"


def covariate_name(index: int) -> str:
    return f"covariate_{index + 1}"


@dataclass(frozen=True)
class SoilInputs:
    """Card inputs bound to files: the specs, each input's path and its 1-based bands."""

    specs: tuple[InputSpec, ...]
    paths: dict
    bands: dict

    def card_entries(self) -> list[dict]:
        """The card's ``inputs`` (the covariates' file names as titles, for people)."""
        entries = []
        for spec in self.specs:
            entry = {"name": spec.name, "bands": list(spec.bands), "transform": "linear",
                     "scale": 1, "ratio": 1, "resampling": spec.resampling}
            if spec.name != SPECTRAL:
                entry["title"] = Path(self.paths[spec.name]).name
            entries.append(entry)
        return entries


def image_band_names(image, bands: Sequence[str] | None = None) -> tuple[list[str], bool]:
    """The image's band names (BANDS, else descriptions, else band_<n>), canonical, and whether
    they are real names."""
    info = raster_info(open_raster(image, "input image"))
    names = list(bands) if bands else list(info.band_names)
    if len(names) != info.band_count:
        raise UserError(f"BANDS names {len(names)} bands but the image {image} has "
                        f"{info.band_count}: give one name per band, in order")
    named = bool(bands) or all(d.strip() for d in info.descriptions)
    return [canonical_band(n) for n in names], named


def bind_for_training(image, covariates=(), bands=None) -> SoilInputs:
    """Every band of the image and of each covariate."""
    names, _ = image_band_names(image, bands)
    specs = [InputSpec(bands=tuple(names), name=SPECTRAL)]
    paths = {SPECTRAL: str(image)}
    numbers = {SPECTRAL: list(range(1, len(names) + 1))}
    for index, path in enumerate(covariates):
        info = raster_info(open_raster(path, f"covariate raster {path}"))
        name = covariate_name(index)
        specs.append(InputSpec(bands=info.band_names, name=name))
        paths[name] = str(path)
        numbers[name] = list(range(1, info.band_count + 1))
    return SoilInputs(tuple(specs), paths, numbers)


def bind_for_model(card: ModelCard, image, covariates=(), bands=None,
                   callbacks: Callbacks = Callbacks()) -> SoilInputs:
    """The model's inputs on these files: the image bands it was trained on found by name (an
    image without band names must have exactly those bands, in order) and the same number of
    covariates with the same number of bands."""
    wanted = [canonical_band(b) for b in card.primary.bands]
    names, named = image_band_names(image, bands)
    if not named:
        if len(names) != len(wanted):
            raise UserError(f"the image has {len(names)} unnamed bands but the model was trained "
                            f"on {len(wanted)} ({', '.join(wanted)}): give an image with those "
                            f"bands, or name its bands with BANDS")
        callbacks.warn(f"the image's bands have no names: taking them as {', '.join(wanted)} in "
                       f"this order")
        image_bands = list(range(1, len(names) + 1))
    else:
        missing = [b for b in wanted if b not in names]
        if missing:
            raise UserError(f"the model was trained on bands {', '.join(wanted)} but the image "
                            f"has {', '.join(names)} (missing: {', '.join(missing)}): give an "
                            f"image with those bands, or rename them with BANDS")
        image_bands = [names.index(b) + 1 for b in wanted]
    expected = card.inputs[1:]
    if len(expected) != len(covariates):
        raise UserError(f"the model was trained with {len(expected)} covariate raster(s) but "
                        f"{len(covariates)} were given: give the same covariates, in the same "
                        f"order ({', '.join(s.name for s in expected) or 'none'})")
    paths = {SPECTRAL: str(image)}
    numbers = {SPECTRAL: image_bands}
    for spec, path in zip(expected, covariates):
        count = raster_info(open_raster(path, f"covariate raster {path}")).band_count
        if count != len(spec.bands):
            raise UserError(f"covariate {path} has {count} bands but the model's {spec.name} had "
                            f"{len(spec.bands)} ({', '.join(spec.bands)}): give the same "
                            f"covariates, in the same order")
        paths[spec.name] = str(path)
        numbers[spec.name] = list(range(1, count + 1))
    return SoilInputs(card.inputs, paths, numbers)


def reading_card(inputs: SoilInputs, halo: int) -> ModelCard:
    """A card that only describes the inputs, for the engine's sources."""
    return ModelCard(id="soil-inputs", title="soil model inputs", task="regression",
                     format="onnx", inputs=inputs.specs,
                     outputs=(OutputSpec("values", targets=(TargetInfo("value"),)),),
                     head=Head("pixel_table", halo=halo))


def windows_at(inputs: SoilInputs, xy: np.ndarray, halo: int,
               callbacks: Callbacks = Callbacks()):
    """Blocks {input name: (n, C, 2 halo + 1, 2 halo + 1)} around the image pixels holding
    ``xy`` (image CRS), NaN where an input has no data, and per point the reason it cannot be
    used (None when it can). A covariate that covers none of the points on valid image pixels
    is a UserError."""
    size = 2 * halo + 1
    sources = open_sources(reading_card(inputs, halo), inputs.paths, inputs.bands, callbacks)
    try:
        grid = sources[SPECTRAL].grid
        gt = grid.geotransform
        determinant = gt[1] * gt[5] - gt[2] * gt[4]
        n = len(xy)
        blocks = {name: np.full((n, len(source.bands), size, size), np.nan, np.float32)
                  for name, source in sources.items()}
        reasons = [None] * n
        covered = {name: 0 for name in sources if name != SPECTRAL}
        for i, (x, y) in enumerate(xy):
            if i % 64 == 0:
                callbacks.check_cancelled("reading the rasters at the points")
                callbacks.progress(i / max(n, 1))
            dx, dy = x - gt[0], y - gt[3]
            col = math.floor((dx * gt[5] - dy * gt[2]) / determinant)
            row = math.floor((dy * gt[1] - dx * gt[4]) / determinant)
            if not (0 <= col < grid.width and 0 <= row < grid.height):
                reasons[i] = OUTSIDE
                continue
            for name, source in sources.items():
                block = source.read(col - halo, row - halo, size, size)
                blocks[name][i] = np.where(block.valid, block.values, np.nan)
                centre_valid = bool(block.valid[halo, halo])
                if name == SPECTRAL and not centre_valid:
                    reasons[i] = IMAGE_NODATA
                    break
                if name != SPECTRAL:
                    if centre_valid:
                        covered[name] += 1
                    elif reasons[i] is None:
                        reasons[i] = f"outside or on nodata in the covariate {source.path}"
        on_image = sum(r not in (OUTSIDE, IMAGE_NODATA) for r in reasons)
        for name, count in covered.items():
            if on_image and not count:
                raise UserError(f"the covariate raster {sources[name].path} does not cover any "
                                f"point (or is nodata at all of them): give a covariate that "
                                f"overlaps the points (it may be in another CRS; it is "
                                f"reprojected)")
        callbacks.progress(1.0)
        return blocks, reasons
    finally:
        for source in sources.values():
            source.close()
