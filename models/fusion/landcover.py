"""Land cover from an aerial image and, when the model fuses one, a satellite raster.

The core of ``rsai:fusion_landcover``: checks what only this method knows, then hands the
rasters to the engine, which reads each tile's satellite footprint from the satellite's own
file (window read when aligned, per-tile warp otherwise; never a whole-scene warp).

* The card has one input (single-source, e.g. ``deepness-landcover``) or two: the aerial
  image, then the satellite at ``ratio`` times the aerial pixel. A two-input card without a
  satellite raster is refused (unless its satellite input is optional); a satellite raster
  given to a single-source card is ignored, with a warning.
* An RGBN aerial image given to an RGB model gives its red, green and blue bands; an alpha band
  is a mask (the engine's), never a band.
* Satellite bands are found by their descriptions ("B08", "B8", "nir"...) in the card's order,
  whatever their order in the file; bands the card names but the file lacks are an error.
* A satellite much coarser than the model reads it (its pixel above 1.5 x ratio x the aerial
  pixel on the ground) is refused: upsampled 20 or 60 m bands are not the 10 m bands the
  model learnt. An aerial image far from the card's resolution gets a warning.
* Acquisition dates more than a year apart (where the metadata has them) get a warning.
"""

from __future__ import annotations

import math
import re
from datetime import date
from typing import Sequence

from osgeo import gdal

from ..callbacks import Callbacks
from ..cards import InputSpec, ModelCard
from ..errors import UserError
from ..farmland.ftw import match_bands
from ..runtime.backends import Predictor
from ..runtime.engine import Destination, RunOptions, RunResult, run
from ..runtime.raster import open_raster
from ..runtime.gdal_exceptions import gdal_exceptions

COARSER_LIMIT = 1.5  # satellite ground pixel / the model's satellite pixel above which: refuse
AERIAL_RESOLUTION_WARNING = 1.5  # aerial pixel this many times off the card's: warn
DATE_GAP_DAYS = 365
# Metadata keys that hold an acquisition date (GDAL's IMAGERY domain, Sentinel-2 SAFE, Landsat).
DATE_KEYS = ("ACQUISITIONDATETIME", "ACQUISITION_DATE", "DATATAKE_1_DATATAKE_SENSING_START",
             "SENSING_TIME", "PRODUCT_START_TIME", "DATE_ACQUIRED", "ACQUISITION_START_TIME")
_DATE = re.compile(r"(\d{4})[-:/]?(\d{2})[-:/]?(\d{2})")


def check_card(card: ModelCard) -> None:
    """Fusion land cover runs dense segmentation cards with an aerial input and at most one
    satellite input."""
    if card.task != "segmentation" or card.head.type != "dense" or len(card.inputs) > 2:
        raise UserError(f"model {card.id} is not an aerial (+ satellite) land-cover model: it "
                        f"is a {card.task} model with a {card.head.type} head and inputs "
                        f"{', '.join(spec.name for spec in card.inputs)}. Use rsai:run_model "
                        "for it, or choose e.g. deepness-landcover.")


@gdal_exceptions()
def classify_land_cover(card: ModelCard, predictor: Predictor, output_path: str,
                        probabilities_path: str | None = None, *, aerial: str,
                        satellite: str | None = None,
                        satellite_bands: Sequence[int] | None = None,
                        options: RunOptions | None = None,
                        callbacks: Callbacks = Callbacks()) -> RunResult:
    """Classes (and optionally probabilities) on the aerial grid; see the module docstring."""
    check_card(card)
    options = options or RunOptions()
    paths = {card.primary.name: aerial}
    aerial_bands = aerial_band_numbers(card.primary, aerial, callbacks)
    if aerial_bands:
        options.bands = {**options.bands, card.primary.name: aerial_bands}
    check_aerial_resolution(card.primary, aerial, callbacks)
    second = card.inputs[1] if len(card.inputs) > 1 else None
    if second is None and satellite:
        callbacks.warn(f"{card.title} reads the aerial image only: SATELLITE is ignored. "
                       "Choose a fusion model to use it.")
    elif second is not None and not satellite:
        if not second.optional:
            raise UserError(f"{card.title} fuses the aerial image with a satellite raster "
                            f"({', '.join(second.bands)}, pixel = {second.ratio} aerial "
                            "pixels): give SATELLITE, or choose a single-source model such as "
                            "deepness-landcover.")
        callbacks.log(f"no SATELLITE: {card.title} runs on the aerial image alone")
    elif second is not None:
        paths[second.name] = satellite
        bands = list(satellite_bands or []) or satellite_band_numbers(second, satellite)
        options.bands = {**options.bands, second.name: bands or None}
        check_satellite_resolution(second, aerial, satellite)
        warn_about_dates(aerial, satellite, callbacks)
    destinations = [Destination(output_path)]
    if probabilities_path:
        destinations.append(Destination(probabilities_path, what="probabilities"))
    return run(card, predictor, paths, destinations, options, callbacks)


_COLOURS = {gdal.GCI_RedBand: 0, gdal.GCI_GreenBand: 1, gdal.GCI_BlueBand: 2}


def aerial_band_numbers(spec: InputSpec, path: str, callbacks: Callbacks) -> list[int]:
    """The aerial bands for a model of ``len(spec.bands)`` bands (RGB or RGBN): [] when the
    image has exactly that many (alpha aside; the engine takes them in order); for an RGBN
    image and an RGB model its red, green and blue bands (by colour interpretation, else the
    first three)."""
    dataset = open_raster(path, "aerial raster")
    data = [b for b in range(1, dataset.RasterCount + 1)
            if dataset.GetRasterBand(b).GetColorInterpretation() != gdal.GCI_AlphaBand]
    wanted = len(spec.bands)
    if len(data) == wanted:
        return []
    if len(data) < wanted:
        raise UserError(f"AERIAL ({path}) has {len(data)} image band(s) but the model needs "
                        f"{wanted} ({', '.join(spec.bands)}): give an RGB"
                        f"{'N' if wanted == 4 else ''} orthophoto.")
    colours = {}  # 0 red, 1 green, 2 blue -> band number
    for band in data:
        interpretation = dataset.GetRasterBand(band).GetColorInterpretation()
        if interpretation in _COLOURS:
            colours[_COLOURS[interpretation]] = band
    chosen = [colours[k] for k in range(3)] if wanted == 3 and len(colours) == 3 \
        else data[:wanted]
    callbacks.log(f"AERIAL has {len(data)} image bands; the model reads {wanted}: bands "
                  f"{chosen} as {', '.join(spec.bands)}")
    return chosen


def satellite_band_numbers(spec: InputSpec, path: str) -> list[int]:
    """1-based bands of ``path`` in the card's order, by band description ("B08", "B8",
    "nir"...); [] when the file describes no band (the engine then takes them in order)."""
    dataset = open_raster(path, "satellite raster")
    descriptions = [dataset.GetRasterBand(b + 1).GetDescription()
                    for b in range(dataset.RasterCount)]
    if not any(d.strip() for d in descriptions):
        return []
    try:
        return [index + 1 for index in match_bands(descriptions, spec.bands)]
    except UserError as exc:
        raise UserError(f"SATELLITE ({path}): {exc}. The model needs {', '.join(spec.bands)} in "
                        "that order: give a raster with those bands, or pick them with "
                        "SATELLITE_BANDS (band numbers in the model's order).") from None


def ground_pixel_m(dataset: gdal.Dataset) -> float | None:
    """The pixel's width on the ground in metres (degrees converted at the raster's centre);
    None without a CRS."""
    srs = dataset.GetSpatialRef()
    if srs is None:
        return None
    gt = dataset.GetGeoTransform()
    size = math.hypot(gt[1], gt[4])
    if srs.IsGeographic():
        latitude = gt[3] + gt[5] * dataset.RasterYSize / 2
        return size * 111320.0 * math.cos(math.radians(latitude))
    return size * srs.GetLinearUnits()


def check_satellite_resolution(spec: InputSpec, aerial: str, satellite: str) -> None:
    aerial_m = ground_pixel_m(open_raster(aerial, "aerial raster"))
    satellite_m = ground_pixel_m(open_raster(satellite, "satellite raster"))
    if aerial_m is None or satellite_m is None:
        return
    model_m = aerial_m * spec.ratio
    if satellite_m > COARSER_LIMIT * model_m:
        raise UserError(
            f"the satellite raster has {satellite_m:g} m pixels, coarser than the model allows: "
            f"it reads the satellite at {model_m:g} m ({spec.ratio} x the aerial's "
            f"{aerial_m:g} m pixels). Give bands at about {model_m:g} m (for Sentinel-2 the 10 m "
            "bands B02, B03, B04, B08), or an aerial image at the model's resolution.")


def check_aerial_resolution(spec: InputSpec, aerial: str, callbacks: Callbacks) -> None:
    aerial_m = ground_pixel_m(open_raster(aerial, "aerial raster"))
    if aerial_m is None or not spec.resolution_m:
        return
    factor = aerial_m / spec.resolution_m
    if max(factor, 1 / factor) > AERIAL_RESOLUTION_WARNING:
        callbacks.warn(f"the aerial image has {aerial_m:g} m pixels but the model was trained at "
                       f"{spec.resolution_m:g} m: objects look {factor:.1f} times "
                       f"{'smaller' if factor > 1 else 'larger'} than it learnt, so results may "
                       "be poor. Resample the image to the model's resolution (gdalwarp -tr).")


def acquisition_date(dataset: gdal.Dataset) -> date | None:
    """The acquisition date in the raster's metadata (IMAGERY domain, Sentinel-2 or Landsat
    keys), or None. TIFFTAG_DATETIME is a file date, not an acquisition date: not used."""
    for domain in ("IMAGERY", ""):
        metadata = dataset.GetMetadata(domain) or {}
        for key in DATE_KEYS:
            match = _DATE.search(metadata.get(key, ""))
            if match:
                try:
                    return date(*map(int, match.groups()))
                except ValueError:
                    continue
    return None


def warn_about_dates(aerial: str, satellite: str, callbacks: Callbacks) -> None:
    dates = [acquisition_date(open_raster(p)) for p in (aerial, satellite)]
    if None in dates:
        return
    gap = abs((dates[1] - dates[0]).days)
    if gap > DATE_GAP_DAYS:
        callbacks.warn(f"the aerial image ({dates[0]}) and the satellite raster ({dates[1]}) "
                       f"were acquired {gap / 365.25:.1f} years apart: land cover may have "
                       "changed in between (new buildings, felled woodland). Use a satellite "
                       "scene from the aerial image's year and season.")
