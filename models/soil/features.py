"""Per-pixel features for soil models: band values, window means and spectral indices.

One function makes the features for training points and for raster blocks, so a model sees at
prediction exactly what it saw in training. It takes a dict of blocks, one per input
(``(..., C, h + 2 * halo, w + 2 * halo)``, nodata as NaN), and returns ``(..., F, h, w)``: the
engine's pixel-table head calls it on tiles, the point reader on one small window per sample
(a leading sample axis), the LimeSoDa tests on table columns (``h = w = 1``, no halo).

The first input is the spectral image (Sentinel-2); window means and indices are computed on it.
Further inputs (covariates: elevation, slope, weather grids...) contribute their value at the
pixel. Indices are normalised differences, so they do not depend on the reflectance scale (DN
x 10000 or 0..1); band values and window means are used as they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..callbacks import Callbacks
from ..errors import UserError

# name: (bands added, bands subtracted) -> (sum(a) - sum(b)) / (sum(a) + sum(b))
INDICES = {
    "NDVI": (("B08",), ("B04",)),  # vegetation
    "NDWI": (("B03",), ("B08",)),  # open water / wetness (McFeeters)
    "NBR": (("B08",), ("B12",)),  # burn ratio; sensitive to bare soil and residue
    "NDMI": (("B08",), ("B11",)),  # moisture
    "BSI": (("B11", "B04"), ("B08", "B02")),  # bare soil index (Rikimaru et al.)
    "NDTI": (("B11",), ("B12",)),  # tillage / crop residue index, related to SOC
}
WINDOWS = (3, 5)
_S2_BAND = re.compile(r"^(?:S2[_ ]?)?B0?(\d{1,2}A?)(?![0-9A-Z])", re.IGNORECASE)


def canonical_band(name: str) -> str:
    """'B4', 'b04', 'B04 (red)', 'S2_B8A' -> 'B04', 'B04', 'B04', 'B8A'; other names unchanged."""
    text = name.strip()
    match = _S2_BAND.match(text)
    if not match:
        return text
    number = match.group(1).upper()
    return "B8A" if number == "8A" else f"B{int(number.rstrip('A')):02d}"


@dataclass(frozen=True)
class InputBands:
    """One input of a feature set: its name (the card's input name) and its band names."""

    name: str
    bands: tuple[str, ...]


@dataclass(frozen=True)
class FeatureSet:
    """Which features a model uses; callable on blocks (see the module docstring).

    ``inputs[0]`` is the spectral image: its bands as values (``pixel``), means over square
    windows (``windows``: 3 and/or 5 pixels wide) and ``indices``. Every further input adds its
    bands' values at the pixel.
    """

    inputs: tuple[InputBands, ...]
    pixel: bool = True
    windows: tuple[int, ...] = ()
    indices: tuple[str, ...] = ()

    @property
    def spectral(self) -> InputBands:
        return self.inputs[0]

    @property
    def halo(self) -> int:
        """Pixels of context each side that a block needs beyond the pixels it predicts."""
        return max(self.windows, default=1) // 2

    @property
    def names(self) -> tuple[str, ...]:
        s = self.spectral
        names = [f"{s.name}:{b}" for b in s.bands] if self.pixel else []
        for size in self.windows:
            names += [f"{s.name}:mean{size}x{size}_{b}" for b in s.bands]
        names += [f"{s.name}:{index}" for index in self.indices]
        for extra in self.inputs[1:]:
            names += [f"{extra.name}:{b}" for b in extra.bands]
        return tuple(names)

    def __call__(self, blocks: dict) -> np.ndarray:
        """(..., F, h, w) float64 features from {input name: (..., C, h + 2 halo, w + 2 halo)}."""
        halo = self.halo
        parts = []
        spectral = self._block(blocks, self.spectral)
        centre = _crop(spectral, halo)
        if self.pixel:
            parts.append(centre)
        for size in self.windows:
            parts.append(window_mean(spectral, size, halo))
        if self.indices:
            position = {b: i for i, b in enumerate(self.spectral.bands)}
            for index in self.indices:
                plus, minus = INDICES[index]
                a = sum(centre[..., position[b], :, :] for b in plus)
                b = sum(centre[..., position[b], :, :] for b in minus)
                parts.append(normalised_difference(a, b)[..., None, :, :])
        for extra in self.inputs[1:]:
            parts.append(_crop(self._block(blocks, extra), halo))
        return np.concatenate(parts, axis=-3)

    def _block(self, blocks: dict, spec: InputBands) -> np.ndarray:
        if spec.name not in blocks:
            raise UserError(f"the features need the input {spec.name!r} but it was not given "
                            f"(inputs given: {', '.join(blocks) or 'none'})")
        block = np.asarray(blocks[spec.name], dtype=np.float64)
        if block.ndim < 3 or block.shape[-3] != len(spec.bands):
            raise UserError(f"input {spec.name!r} has {block.shape[-3] if block.ndim >= 3 else 1}"
                            f" bands but the model uses {len(spec.bands)} "
                            f"({', '.join(spec.bands)})")
        return block

    def to_dict(self) -> dict:
        return {"inputs": [{"name": i.name, "bands": list(i.bands)} for i in self.inputs],
                "pixel": self.pixel, "windows": list(self.windows),
                "indices": list(self.indices), "names": list(self.names), "halo": self.halo}

    @classmethod
    def from_dict(cls, data: dict) -> "FeatureSet":
        return cls(tuple(InputBands(i["name"], tuple(i["bands"])) for i in data["inputs"]),
                   bool(data.get("pixel", True)), tuple(data.get("windows", ())),
                   tuple(data.get("indices", ())))


def feature_set(inputs, *, pixel: bool = True, windows=(), indices="all",
                callbacks: Callbacks = Callbacks()) -> FeatureSet:
    """A checked FeatureSet. ``indices``: "all" (every index the spectral bands allow; the
    others are skipped with a warning), a list of names (each must be computable), or ()."""
    inputs = tuple(InputBands(i.name, tuple(i.bands)) if isinstance(i, InputBands)
                   else InputBands(i[0], tuple(i[1])) for i in inputs)
    if not inputs:
        raise UserError("no input raster for the features")
    spectral = inputs[0]
    spectral = InputBands(spectral.name, tuple(canonical_band(b) for b in spectral.bands))
    inputs = (spectral,) + inputs[1:]
    bad = [w for w in windows if w not in WINDOWS]
    if bad:
        raise UserError(f"window sizes {bad} are not offered: use 3 and/or 5")
    available = set(spectral.bands)
    if indices == "all":
        usable = [n for n, (a, b) in INDICES.items() if available.issuperset(a + b)]
        missing = [n for n in INDICES if n not in usable]
        if missing:
            absent = sorted({b for n in missing for b in sum(INDICES[n], ())} - available)
            callbacks.warn(f"spectral indices {', '.join(missing)} skipped: the image has no band "
                           f"named {', '.join(absent)} (name the bands like Sentinel-2, "
                           f"B02..B12, in the raster or with BANDS)")
        indices = usable
    for name in indices:
        if name not in INDICES:
            raise UserError(f"unknown spectral index {name!r}: choose from {', '.join(INDICES)}")
        need = [b for b in sum(INDICES[name], ()) if b not in available]
        if need:
            raise UserError(f"index {name} needs bands {', '.join(need)}, which the image does "
                            f"not have (its bands: {', '.join(spectral.bands)})")
    result = FeatureSet(inputs, pixel, tuple(sorted(set(windows))), tuple(indices))
    if not result.names:
        raise UserError("no features selected: choose pixel values, window means, indices or "
                        "covariates")
    return result


def normalised_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(a - b) / (a + b); 0 where a + b is 0 (a dark pixel, not a missing one)."""
    total = a + b
    out = np.zeros_like(total)
    np.divide(a - b, total, out=out, where=total != 0)
    return np.where(np.isnan(total), np.nan, out)


def window_mean(block: np.ndarray, size: int, halo: int) -> np.ndarray:
    """Mean over ``size`` x ``size`` windows of the valid (non-NaN) pixels, centred on each
    output pixel; ``block`` carries ``halo`` >= size // 2 pixels of context each side.
    NaN where the window holds no valid pixel (the centre's own validity is checked apart)."""
    radius = size // 2
    if halo < radius:
        raise ValueError(f"a {size}x{size} mean needs a halo of {radius}, got {halo}")
    trim = halo - radius
    if trim:
        block = block[..., trim:block.shape[-2] - trim, trim:block.shape[-1] - trim]
    valid = ~np.isnan(block)
    values = np.where(valid, block, 0.0)
    total = _box_sum(values, size)
    count = _box_sum(valid.astype(np.float64), size)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def _box_sum(array: np.ndarray, size: int) -> np.ndarray:
    """Sums over size x size windows ('valid' mode), separable: rows, then columns."""
    h = array.shape[-2] - size + 1
    w = array.shape[-1] - size + 1
    rows = sum(array[..., i:i + h, :] for i in range(size))
    return sum(rows[..., :, j:j + w] for j in range(size))


def _crop(block: np.ndarray, halo: int) -> np.ndarray:
    if not halo:
        return block
    return block[..., halo:block.shape[-2] - halo, halo:block.shape[-1] - halo]
