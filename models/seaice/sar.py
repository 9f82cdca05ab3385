"""Sentinel-1 backscatter made ready for a sea-ice network: units, masks, pixel size, scaling.

Every step works on NumPy arrays so it runs the same in a tool, a notebook or a training script:
detect whether values are linear sigma0 or dB (and say why), convert, mask what is not a
measurement (NaN, nodata, non-positive power, the noisy strips along the image borders), average
blocks of pixels to the model's pixel size (in linear power, as averaging dB would bias the
mean), and normalise with the statistics the model was trained with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..errors import UserError

# Means and standard deviations of the AI4Arctic / AutoICE ready-to-train data (dB and degrees),
# used by models trained on it; its pixels are 80 m.
AI4ARCTIC_STATS = {"HH": (-14.508, 5.660), "HV": (-24.701, 4.747),
                   "incidence_angle": (33.998, 8.322)}
AI4ARCTIC_PIXEL_M = 80.0

LINEAR_MAX = 10.0  # linear sigma0 above this is not backscatter of sea or ice: raw counts


@dataclass(frozen=True)
class ScaleReport:
    """What the values of a band look like, and the verdict: "linear" or "db"."""

    kind: str
    median: float
    p01: float  # 1st percentile
    p99: float
    negative_fraction: float
    samples: int

    def describe(self, band: str = "band") -> str:
        unit = "linear sigma0" if self.kind == "linear" else "dB"
        return (f"{band} looks like {unit}: median {self.median:.4g}, 1st-99th percentile "
                f"{self.p01:.4g} .. {self.p99:.4g}, {self.negative_fraction:.0%} negative "
                f"({self.samples} values)")


def detect_scale(values: np.ndarray, band: str = "band", nodata: float | None = None) -> ScaleReport:
    """Linear sigma0 (power, mostly 0.0001-1; noise removal can leave small negatives) or dB
    (mostly -40..0). Raw digital numbers (hundreds) or an empty band are refused."""
    v = np.asarray(values, dtype=np.float64).ravel()
    keep = np.isfinite(v) & (v != 0)
    if nodata is not None:
        keep &= v != nodata
    v = v[keep]
    if v.size == 0:
        raise UserError(f"{band} holds no valid values (all nodata, zero or NaN): check the "
                        "band choice and the scene extent.")
    p01, median, p99 = np.percentile(v, [1, 50, 99])
    report = ScaleReport("db" if p01 < -1.0 or median < -1.0 else "linear", float(median),
                         float(p01), float(p99), float(np.mean(v < 0)), int(v.size))
    if report.kind == "linear" and p99 > LINEAR_MAX:
        raise UserError(
            f"{band} does not look like calibrated backscatter: median {median:.4g}, 99th "
            f"percentile {p99:.4g}, no negative values: raw digital numbers or a scaled "
            "image. Calibrate the product to sigma0 first (SNAP: Radar > Radiometric > "
            "Calibrate, or esa_snappy's 'Calibration' operator, after 'ThermalNoiseRemoval').")
    return report


def resolve_units(declared: str | None, report: ScaleReport, band: str = "band",
                  warn: Callable[[str], None] = lambda text: None) -> str:
    """The units to use: the detected ones. A declaration that contradicts the values is
    reported through ``warn`` (e.g. a dB raster declared linear), not followed."""
    if declared not in (None, "auto", "linear", "db"):
        raise UserError(f"units must be linear, db or auto, not {declared!r}")
    if declared in ("linear", "db") and declared != report.kind:
        warn(f"{band} was declared {declared} but {report.describe(band)}; using "
             f"{report.kind}.")
    return report.kind


def to_db(linear: np.ndarray) -> np.ndarray:
    """10 log10 of power; zero, negative and NaN power become NaN (float32)."""
    linear = np.asarray(linear, dtype=np.float32)
    out = np.full(linear.shape, np.nan, dtype=np.float32)
    positive = np.isfinite(linear) & (linear > 0)
    out[positive] = 10.0 * np.log10(linear[positive])
    return out


def to_linear(db: np.ndarray) -> np.ndarray:
    return np.power(np.float32(10.0), np.asarray(db, dtype=np.float32) / np.float32(10.0))


def valid_mask(array: np.ndarray, nodata: float | None = None, linear: bool = True) -> np.ndarray:
    """True where a pixel is a measurement: finite, not nodata, and positive power if linear."""
    array = np.asarray(array)
    mask = np.isfinite(array)
    if nodata is not None and np.isfinite(nodata):
        mask &= array != nodata
    if linear:
        mask &= array > 0
    return mask


def border_noise_mask(band_db: np.ndarray, threshold_db: float = -35.0, limit: int = 500,
                      margin: int = 0) -> np.ndarray:
    """True on the noisy strips along the image borders of a GRD band.

    Sentinel-1 GRD images carry, next to their no-data frame, a strip of near-zero backscatter
    (border noise, before ESA's IPF 2.9 fix) that reads as open water. Like SNAP's GRD border
    noise removal, each row is scanned inwards from both ends: no-data and values below
    ``threshold_db`` are masked until the first value above it, at most ``limit`` pixels past
    the first valid one; then ``margin`` more pixels. The same is done for columns (top and
    bottom of the scene).
    """
    band_db = np.asarray(band_db, dtype=np.float32)
    if band_db.ndim != 2:
        raise UserError("border noise is masked on one band at a time (rows x columns)")
    valid = np.isfinite(band_db)
    noise = ~valid | (band_db < threshold_db)
    mask = np.zeros(band_db.shape, dtype=bool)
    # left, right, top, bottom: views, so each pass writes into ``mask``
    for view in (np.s_[:, :], np.s_[:, ::-1]):
        for transpose in (False, True):
            pick = (lambda a: a.T[view]) if transpose else (lambda a: a[view])
            _mask_edge_runs(pick(noise), pick(valid), pick(mask), limit, margin)
    return mask


def _mask_edge_runs(noise: np.ndarray, valid: np.ndarray, out: np.ndarray, limit: int,
                    margin: int) -> None:
    """Mark in ``out``, per row from column 0, the leading run of ``noise`` (capped at
    ``limit`` pixels past the first valid pixel) plus ``margin`` pixels."""
    rows, cols = noise.shape
    has_valid = valid.any(axis=1)
    first_valid = np.where(has_valid, valid.argmax(axis=1), cols)
    clean = ~noise
    first_clean = np.where(clean.any(axis=1), clean.argmax(axis=1), cols)
    stop = np.minimum(first_clean, first_valid + limit) + margin
    stop = np.minimum(stop, cols)
    out |= np.arange(cols)[None, :] < stop[:, None]


def normalise(bands: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """(x - mean) / std per band of (C, rows, cols), float32; NaN stays NaN."""
    bands = np.asarray(bands, dtype=np.float32)
    mean = np.asarray(mean, np.float32).reshape(-1, 1, 1)
    std = np.asarray(std, np.float32).reshape(-1, 1, 1)
    if mean.shape[0] not in (1, bands.shape[0]) or std.shape[0] not in (1, bands.shape[0]):
        raise UserError(f"normalisation needs 1 or {bands.shape[0]} means and stds")
    if np.any(std <= 0):
        raise UserError("normalisation standard deviations must be positive")
    return (bands - mean) / std


def averaging_factor(pixel_m: float, target_m: float,
                     warn: Callable[[str], None] = lambda text: None) -> int:
    """How many input pixels per side make one model pixel (e.g. 40 m EW GRDM -> 80 m: 2)."""
    if pixel_m <= 0 or target_m <= 0:
        raise UserError("pixel sizes must be positive")
    ratio = target_m / pixel_m
    if ratio < 0.95:
        raise UserError(f"the input pixels ({pixel_m:g} m) are coarser than the model's "
                        f"({target_m:g} m): the model needs finer data.")
    factor = max(1, int(round(ratio)))
    if abs(factor * pixel_m - target_m) > 0.05 * target_m:
        warn(f"{pixel_m:g} m pixels are averaged {factor} x {factor} to "
             f"{factor * pixel_m:g} m, not exactly the model's {target_m:g} m.")
    return factor


def block_average(array: np.ndarray, factor: int) -> np.ndarray:
    """Mean of ``factor`` x ``factor`` blocks of (rows, cols) or (C, rows, cols), ignoring NaN
    (a block with no valid pixel is NaN); partial blocks at the right and bottom edges count."""
    array = np.asarray(array, dtype=np.float32)
    if factor == 1:
        return array.copy()
    squeeze = array.ndim == 2
    if squeeze:
        array = array[None]
    c, h, w = array.shape
    hh, ww = -(-h // factor), -(-w // factor)
    padded = np.full((c, hh * factor, ww * factor), np.nan, dtype=np.float32)
    padded[:, :h, :w] = array
    blocks = padded.reshape(c, hh, factor, ww, factor)
    valid = np.isfinite(blocks)
    count = valid.sum(axis=(2, 4))
    total = np.where(valid, blocks, 0).sum(axis=(2, 4), dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (total / count).astype(np.float32)
    out[count == 0] = np.nan
    return out[0] if squeeze else out


def average_db(band_db: np.ndarray, factor: int) -> np.ndarray:
    """Block average of dB values done in linear power, returned in dB."""
    return to_db(block_average(to_linear(band_db), factor))


@dataclass
class PreparedSar:
    data: np.ndarray  # (C, rows, cols) float32 normalised, NaN where masked
    valid: np.ndarray  # (rows, cols) bool
    units: list  # detected units per input band
    factor: int


def prepare_dual_pol(bands: np.ndarray, names: Sequence[str] = ("HH", "HV"),
                     units: str | None = "auto", nodata: float | None = None,
                     pixel_m: float | None = None, target_m: float | None = None,
                     stats: dict | None = None, mask_borders: bool = True,
                     warn: Callable[[str], None] = lambda text: None) -> PreparedSar:
    """Raw backscatter (C, rows, cols) in linear or dB -> normalised dB on the model's grid.

    Units are detected per band (a contradicting ``units`` is warned about), non-measurements
    and border noise are masked, blocks averaged in linear power to ``target_m`` and every band
    normalised with ``stats[name] = (mean, std)`` in dB (default: AI4Arctic's)."""
    bands = np.asarray(bands)
    if bands.ndim != 3 or bands.shape[0] != len(names):
        raise UserError(f"expected {len(names)} bands ({', '.join(names)}), got an array of "
                        f"shape {bands.shape}")
    stats = stats or AI4ARCTIC_STATS
    missing = [n for n in names if n not in stats]
    if missing:
        raise UserError(f"no normalisation statistics for {', '.join(missing)}")
    db_bands, kinds = [], []
    for band, name in zip(bands, names):
        kind = resolve_units(units, detect_scale(band, name, nodata), name, warn)
        valid = valid_mask(band, nodata, linear=kind == "linear")
        band_db = to_db(band) if kind == "linear" else np.asarray(band, np.float32).copy()
        band_db[~valid] = np.nan
        db_bands.append(band_db)
        kinds.append(kind)
    stack = np.stack(db_bands)
    if mask_borders:
        stack[:, border_noise_mask(stack[0])] = np.nan  # co-pol shows the border strips best
    factor = 1
    if pixel_m and target_m:
        factor = averaging_factor(pixel_m, target_m, warn)
        stack = np.stack([average_db(b, factor) for b in stack])
    valid = np.all(np.isfinite(stack), axis=0)
    data = normalise(stack, [stats[n][0] for n in names], [stats[n][1] for n in names])
    data[:, ~valid] = np.nan
    return PreparedSar(data, valid, kinds, factor)
