"""Pansharpening of rasters on disk, through the engine (models/runtime/engine.py).

The PAN and the MS are the two named inputs of a card: ``pan`` (the primary grid, the output's)
and ``ms`` at the pixel ratio found from their geotransforms (close to a whole number). The
engine reads both tile by tile straight from their files: a window read where the MS pixels
line up with the PAN at that ratio, else a per-tile GDAL warp (cubic) of the tile's footprint,
so the MS pixel centre lands where GDAL says it is (the geometric phase). Tiles are cut at the
raster's edge (``edge: clip``) with the method's halo as context, so each method meets the
image edge as a whole-image run would and tiles equal the untiled result. Nodata (the
rasters' nodata values, NaN, outside the MS) reaches the methods as NaN: left out of the fits,
written as nodata.

* Classical methods: ``classical.fit`` in the predictor's fit hook on the engine's averaged
  overview (the whole image when it is small), ``classical.pansharpen_tile`` per tile.
  Weighted Brovey is computed as GDAL's pansharpening VRT does it: the engine reads the MS
  upsampled by GDAL (cubic, in the read: card input ``upsample``), the pointwise Brovey runs
  in float32.
* ADWM networks (cards models/cards/adwm-*.json): ``adwm.StreamingAdwm``, whose fit hook
  gathers the networks' whole-image statistics pass by pass over the tiles.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np
from osgeo import gdal

from ..callbacks import Callbacks
from ..cards import InputSpec, ModelCard, OutputSpec, TargetInfo, Tiling
from ..errors import UserError
from ..runtime import engine, grids, raster
from ..runtime.backends import Predictor
from ..runtime.sources import open_sources
from . import classical
from .filters import check_ratio, get_sensor
from ..runtime.gdal_exceptions import gdal_exceptions

FIT_MAX_PAN_PIXELS = 2048 * 2048  # above: fit on an averaged overview at the same ratio
TILE = 1024  # PAN pixels per tile core (classical methods)
RATIO_TOLERANCE = 0.05  # relative distance of the pixel-size ratio to an integer
OUTPUT_TYPES = ("float32", "input")  # float32 DN, or the MS data type (rounded, clipped)
SENSOR_BANDS = {"WV3": 8, "WV2": 8, "QB": 4, "GF2": 4}  # MS bands of each sensor


@dataclass
class Pair:
    """A checked PAN/MS pair: both rasters and the ratio of their pixel sizes."""

    pan_path: str
    ms_path: str
    pan: raster.RasterInfo
    ms: raster.RasterInfo
    ratio: int
    ms_data_type: int
    metadata_sensor: Optional[str] = None  # the sensor GDAL read from the metadata

    @property
    def band_count(self) -> int:
        return self.ms.band_count

    def band_names(self) -> list[str]:
        return [d or f"band {i + 1}" for i, d in enumerate(self.ms.descriptions)]

    def paths(self) -> dict[str, str]:
        return {"pan": self.pan_path, "ms": self.ms_path}

    def bands(self) -> dict[str, list[int]]:
        """The engine's band choice: the PAN's band, every MS band in order."""
        return {"pan": [1], "ms": list(range(1, self.band_count + 1))}


@gdal_exceptions()
def open_pair(pan_path: str, ms_path: str) -> Pair:
    """Check PAN and MS and find their pixel ratio."""
    pan_ds = raster.open_raster(pan_path)
    ms_ds = raster.open_raster(ms_path)
    pan, ms = raster.raster_info(pan_ds), raster.raster_info(ms_ds)
    if pan.band_count != 1:
        raise UserError(f"the PAN raster {pan_path} has {pan.band_count} bands; pansharpening needs "
                        "a single-band panchromatic raster. Give the PAN band alone (e.g. "
                        "gdal_translate -b 1) and the multispectral bands as MS.")
    if ms.band_count < 2:
        raise UserError(f"the MS raster {ms_path} has {ms.band_count} band; MS needs the "
                        "multispectral bands (at least 2). Did you swap PAN and MS?")
    if pan.geotransform[2] or pan.geotransform[4]:
        raise UserError(f"the PAN raster {pan_path} is rotated; warp it to a north-up grid "
                        "first (gdalwarp).")
    ms_gt = ms.geotransform
    if pan.projection and ms.projection and not grids.same_crs(pan.projection, ms.projection):
        ms_gt = gdal.Warp("", ms_ds, format="VRT", dstSRS=pan.projection).GetGeoTransform()
    pan_res = abs(pan.geotransform[1])
    ratio_f = abs(ms_gt[1]) / pan_res
    ratio = round(ratio_f)
    if ratio < 1 or abs(ratio_f - ratio) > RATIO_TOLERANCE * ratio:
        raise UserError(f"the MS pixel ({abs(ms_gt[1]):g}) is {ratio_f:.3f} x the PAN pixel "
                        f"({pan_res:g}), not close to a whole number. Resample the MS to an "
                        "integer multiple of the PAN pixel size (e.g. gdalwarp -tr), usually 4.")
    check_ratio(ratio)
    return Pair(pan_path, ms_path, pan, ms, ratio, ms_ds.GetRasterBand(1).DataType,
                sensor_in_metadata(ms_ds) or sensor_in_metadata(pan_ds))


# --------------------------------------------------------------------------- sensor
_SATELLITES = {"WV03": "WV3", "WV3": "WV3", "WORLDVIEW3": "WV3", "WV02": "WV2", "WV2": "WV2",
               "WORLDVIEW2": "WV2", "QB02": "QB", "QB": "QB", "QUICKBIRD": "QB",
               "QUICKBIRD2": "QB", "GF2": "GF2", "GAOFEN2": "GF2"}


def sensor_in_metadata(dataset: gdal.Dataset) -> Optional[str]:
    """The sensor a product's metadata names, as GDAL reads it (SATELLITEID of the IMAGERY
    domain for Maxar/DigitalGlobe products; SATELLITE / SENSOR items otherwise); None if none
    of the sensors in SENSOR_BANDS."""
    items = dict(dataset.GetMetadata("IMAGERY") or {})
    items.update({k.upper(): v for k, v in (dataset.GetMetadata() or {}).items()})
    for key in ("SATELLITEID", "SATELLITE", "SENSOR", "SPACECRAFT"):
        value = re.sub(r"[^A-Z0-9]", "", str(items.get(key, "")).upper())
        if value in _SATELLITES:
            return _SATELLITES[value]
    return None


def resolve_sensor(chosen: str, pair: Pair, callbacks: Callbacks = Callbacks()) -> str:
    """The sensor to run as: ``auto`` takes the metadata's (else WV3 for 8 bands, generic for
    other counts, with a warning); a chosen sensor is kept, with a warning when the metadata
    names another or the MS's band count is not the sensor's."""
    found = pair.metadata_sensor
    if chosen == "auto":
        if found:
            callbacks.log(f"Sensor {found} (from the metadata)")
            return found
        guess = "WV3" if pair.band_count == 8 else "generic"
        callbacks.warn(f"SENSOR auto: the metadata name no sensor; running as {guess} "
                       f"({pair.band_count} MS bands). Set SENSOR (WV2 and WV3 both have 8 "
                       "bands; their MTF gains differ).")
        return guess
    get_sensor(chosen)
    if found and found != chosen:
        callbacks.warn(f"SENSOR is {chosen} but the metadata name {found}; running as {chosen}. "
                       f"Set SENSOR to {found} (or auto) if the metadata are right.")
    expected = SENSOR_BANDS.get(chosen)
    if expected and expected != pair.band_count:
        callbacks.warn(f"SENSOR {chosen} has {expected} MS bands but the MS has "
                       f"{pair.band_count}; its MTF gains do not apply. Choose the pair's sensor "
                       "or generic.")
    return chosen


# --------------------------------------------------------------------------- reading
def _engine_card(pair: Pair, title: str, tiling: Tiling, ms_upsample: str = "") -> ModelCard:
    """The pair as a two-input card: ``pan`` (the output grid) and ``ms`` at the pair's ratio,
    NaN where there is no data (the methods handle nodata themselves)."""
    names = tuple(pair.band_names())
    return ModelCard(
        id="pansharpening", title=title, task="pansharpening", format="numpy",
        inputs=(InputSpec(bands=("pan",), name="pan", pad="nan"),
                InputSpec(bands=names, name="ms", ratio=pair.ratio,
                          resampling="cubic", pad="nan", upsample=ms_upsample)),
        outputs=(OutputSpec("fused", targets=tuple(TargetInfo(n, "DN") for n in names)),),
        tiling=tiling)


@gdal_exceptions()
def overview(pair: Pair, max_pan_pixels: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
    """(ms_lr, pan) of the whole pair through the engine's reader (the quality tool's indices
    and the value checks), averaged down by a whole factor when the PAN has more than
    ``max_pan_pixels`` (the ratio kept); NaN for nodata."""
    card = _engine_card(pair, "pansharpening pair", Tiling(pair.ratio, 0, "crop", "clip"))
    sources = open_sources(card, pair.paths(), pair.bands())
    try:
        blocks = engine.FitSample(card, sources, None).overview(max_pan_pixels or 1 << 62)
    finally:
        for source in sources.values():
            source.close()
    return _fit_arrays(blocks, pair)


def _fit_arrays(blocks, pair: Pair) -> tuple[np.ndarray, np.ndarray]:
    """Overview blocks as (ms_lr, pan) with NaN for nodata; PAN rows and columns past the
    raster (a size not a multiple of the ratio) repeat its edge, as each tile's do."""
    ms = np.where(blocks["ms"].valid, blocks["ms"].values, np.float32(np.nan))
    pan = np.where(blocks["pan"].valid, blocks["pan"].values, np.float32(np.nan))[0]
    if pan.shape[0] >= pair.pan.height and pan.shape[1] >= pair.pan.width:  # not averaged
        pan = pad_to(pan[:pair.pan.height, :pair.pan.width], pair.ratio)
    return ms, pan


def pad_to(pan: np.ndarray, ratio: int) -> np.ndarray:
    """The PAN (rows, cols) padded with its edge to a multiple of ``ratio``."""
    rows, cols = pan.shape
    return np.pad(pan, ((0, -rows % ratio), (0, -cols % ratio)), mode="edge")


def check_values(pair: Pair, sensor: str) -> tuple[list[str], bool]:
    """Warnings about the value range, and whether the data look like 0..1 reflectance."""
    ms, pan = overview(pair, 256 * 256)
    top = float(max(np.nanmax(ms), np.nanmax(pan)))
    s = get_sensor(sensor)
    warnings = []
    unit_scale = top <= 1.5
    if unit_scale:
        warnings.append(f"the values reach only {top:.3g}: this looks like reflectance "
                        f"already scaled to 0..1, not {s.name} DN (0..{s.max_value}). The deep "
                        "models take it as already normalised; the quality index Q2n expects DN "
                        "(scale the rasters by the sensor's range for comparable figures).")
    elif top > s.max_value:
        warnings.append(f"values reach {top:.0f}, beyond the {s.name} range 0.."
                        f"{s.max_value} ({int(math.log2(s.max_value + 1))}-bit DN). Check SENSOR "
                        "(generic for other sensors) or rescale the inputs; the deep models "
                        "expect values in that range.")
    return warnings, unit_scale


# --------------------------------------------------------------------------- output
def _gdal_type(pair: Pair, output_type: str) -> int:
    if output_type not in OUTPUT_TYPES:
        raise UserError(f"OUTPUT_TYPE must be one of {OUTPUT_TYPES}, not {output_type!r}")
    return gdal.GDT_Float32 if output_type == "float32" else pair.ms_data_type


def _run(pair: Pair, card: ModelCard, predictor: Predictor, output: str, output_type: str,
         callbacks: Callbacks, tile: Optional[int] = None) -> engine.RunResult:
    """The engine on the pair into ``output`` (on the PAN grid, the MS's band names).
    ``tile``: PAN pixels per tile core instead of the card's."""
    destination = engine.Destination(output, "fused", data_type=_gdal_type(pair, output_type),
                                     band_names=tuple(pair.band_names()))
    size = None if tile is None else _core(tile, pair.ratio) + card.tiling.overlap
    return engine.run(card, predictor, pair.paths(), [destination],
                      engine.RunOptions(bands=pair.bands(), tile_size=size), callbacks)


def _core(tile: int, ratio: int) -> int:
    """PAN pixels per tile core: ``tile`` rounded up to a multiple of the ratio."""
    return max(ratio, -(-int(tile) // ratio) * ratio)


# --------------------------------------------------------------------------- classical
@dataclass
class ClassicalResult:
    params: dict  # the fitted parameters (give them back as ``params`` to skip the fit)
    run: engine.RunResult = field(default_factory=engine.RunResult)


class ClassicalFusion:
    """A classical method as an engine predictor: ``fit`` (global statistics on the engine's
    overview) and one tile per call (NaN in, NaN out where there is no data)."""

    def __init__(self, pair: Pair, method: str, sensor: str, weights=None,
                 params: Optional[dict] = None, log=print):
        self.pair, self.method, self.sensor, self.weights = pair, method, sensor, weights
        self.params, self.log = params, log
        if method == "brovey" and params is None:
            self.params = classical.fit("brovey", np.zeros((pair.band_count, 1, 1)),
                                        np.zeros((pair.ratio, pair.ratio)), pair.ratio, sensor,
                                        weights)

    def fit(self, sample: engine.FitSample) -> None:
        if self.params is not None:
            return
        ms, pan = _fit_arrays(sample.overview(FIT_MAX_PAN_PIXELS), self.pair)
        if pan.shape[0] < self.pair.pan.height:
            self.log(f"Global statistics from an overview of {pan.shape[1]} x {pan.shape[0]} "
                     "PAN pixels (the raster is large)")
        self.params = classical.fit(self.method, ms, pan, self.pair.ratio, self.sensor,
                                    self.weights)

    def __call__(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        ms, pan = inputs["ms"][0], inputs["pan"][0, 0]
        if self.method == "brovey":  # ms is on the PAN grid already (GDAL's cubic)
            weights = np.asarray(self.params["weights"], dtype=np.float32)
            return {"fused": _brovey_inplace(weights, ms, pan)[None]}
        r = self.pair.ratio
        fused = classical.pansharpen_tile(self.params, ms, pad_to(pan, r), r)
        return {"fused": fused[None, :, :pan.shape[0], :pan.shape[1]].astype(np.float32)}

    def predictor(self) -> Predictor:
        return Predictor(run=self, device="numpy (CPU)",
                         fit=None if self.method == "brovey" else self.fit)


@gdal_exceptions()
def pansharpen_classical(pair: Pair, method: str, output: str, sensor: str = "generic",
                         output_type: str = "float32", weights: Optional[Sequence[float]] = None,
                         tile: int = TILE, callbacks: Callbacks = Callbacks(),
                         params: Optional[dict] = None) -> ClassicalResult:
    """Fuse with a classical method into ``output`` (GeoTIFF on the PAN grid), ``tile`` PAN
    pixels per tile core. ``params`` (from an earlier run or ``classical.fit``) skips the fit."""
    fusion = ClassicalFusion(pair, method, sensor, weights, params, callbacks.log)
    halo = 0 if method == "brovey" else classical.halo_px(method, pair.ratio,
                                                          (params or {}).get("phase", "geometric"))
    tiling = Tiling(_core(TILE, pair.ratio) + 2 * halo, 2 * halo, "crop", "clip")
    card = _engine_card(pair, f"pansharpening ({method})", tiling,
                        ms_upsample="cubic" if method == "brovey" else "")
    result = _run(pair, card, fusion.predictor(), output, output_type, callbacks, tile)
    return ClassicalResult(fusion.params, result)


def brovey(weights: Sequence[float], ms_up: np.ndarray, pan: np.ndarray) -> np.ndarray:
    """GDAL's weighted Brovey in float32: pseudo-PAN = sum_b w_b MS_b, out_b = MS_b * PAN /
    pseudo-PAN (0 where pseudo-PAN is 0). ``ms_up`` is already on the PAN grid."""
    return _brovey_inplace(np.asarray(weights, dtype=np.float32),
                           np.array(ms_up, dtype=np.float32), np.array(pan, dtype=np.float32))


def _brovey_inplace(w: np.ndarray, ms_up: np.ndarray, pan: np.ndarray) -> np.ndarray:
    """``brovey`` overwriting its float32 inputs (returns ``ms_up``): no raster-sized
    temporaries but one pseudo-PAN and one scratch band, the same float32 operations in the same
    order, so the result is bit-identical."""
    pseudo = np.multiply(ms_up[0], w[0])
    scratch = np.empty_like(pseudo)
    for b in range(1, ms_up.shape[0]):
        pseudo += np.multiply(ms_up[b], w[b], out=scratch)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.divide(pan, pseudo, out=pan)
    np.copyto(factor, 0, where=pseudo == 0)
    ms_up *= factor
    return ms_up


# --------------------------------------------------------------------------- deep (ADWM)
def ms_input(card: ModelCard) -> InputSpec:
    """The card's MS input (named ``ms``)."""
    for spec in card.inputs:
        if spec.name == "ms":
            return spec
    raise UserError(f"the card {card.id} has no input named 'ms'; a pansharpening card has "
                    "the inputs 'pan' and 'ms'.")


def check_model_bands(pair: Pair, model_bands: int) -> None:
    if pair.band_count != model_bands:
        raise UserError(f"the MS has {pair.band_count} bands but this model was trained on "
                        f"{model_bands} (WorldView-3: coastal, blue, green, yellow, red, red "
                        f"edge, NIR1, NIR2). Give an {model_bands}-band MS in that order, or "
                        "choose a classical METHOD, which takes any band count.")


def check_model_ratio(pair: Pair, card: ModelCard) -> None:
    ratio = ms_input(card).ratio
    if pair.ratio != ratio:
        raise UserError(f"the MS pixel is {pair.ratio} x the PAN pixel but this model was trained "
                        f"at ratio {ratio}; choose a classical METHOD for this pair.")


@gdal_exceptions()
def pansharpen_deep(pair: Pair, model, card: ModelCard, output: str, scale: float,
                    output_type: str = "float32", device=None, tile: Optional[int] = None,
                    callbacks: Callbacks = Callbacks()) -> engine.RunResult:
    """Fuse with a loaded ADWM network, streamed tile by tile through the engine (the card's
    tiling; ``tile`` PAN pixels per core instead). ``scale`` maps DN to the network's 0..1
    range (the sensor's maximum, as the card's 2047 for the WorldView-3 training data; 1 for
    data already in 0..1); a warning goes to ``callbacks.warn`` when the network's output had
    to be clamped a lot."""
    from .adwm import StreamingAdwm
    check_model_bands(pair, len(ms_input(card).bands))
    check_model_ratio(pair, card)
    streaming = StreamingAdwm(model, device, scale, callbacks.part(0, 0.5))  # statistics
    run_card = _engine_card(pair, card.title, card.tiling)  # DN: the predictor scales them
    result = _run(pair, run_card, streaming.predictor(), output, output_type,
                  callbacks.part(0.5, 1.0), tile)
    streaming.warn_if_clamped()
    return result


def rgb_bands(sensor: str, band_count: int) -> tuple[int, int, int]:
    """1-based red, green, blue bands for a true-colour composite of the fused MS."""
    if band_count >= 8:
        return 5, 3, 2  # WV2 / WV3: coastal, blue, green, yellow, red, red edge, NIR1, NIR2
    if band_count >= 4:
        return 3, 2, 1  # QB / GF2 / generic 4-band: blue, green, red, NIR
    if band_count == 3:
        return 1, 2, 3
    return 1, min(2, band_count), min(2, band_count)


# METHOD options of the tools, in order: core key, label.
METHODS = (("brovey", "Weighted Brovey"), ("gsa", "GSA"), ("mtf_glp_hpm", "MTF-GLP-HPM"),
           ("bdsd_pc", "BDSD-PC"), ("awlp", "AWLP"), ("adwm-fusionnet", "ADWM-FusionNet"),
           ("adwm-lagconv", "ADWM-LAGConv"), ("adwm-lgpnet", "ADWM-LGPNet"))
SENSOR_OPTIONS = ("WV3", "WV2", "QB", "GF2", "generic", "auto")


def is_deep(method: str) -> bool:
    """Deep methods are model card ids (adwm-*); the others are classical.METHODS."""
    return method not in classical.METHODS
