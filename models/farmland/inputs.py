"""Which raster and bands feed each date of an FTW-style model.

FTW models read B04, B03, B02, B08 of window A then of window B: the card names them as two
inputs, ``date_a`` and ``date_b``, that the engine reads tile by tile from their own files (B
on another grid is resampled per tile onto A's grid, never warped as a whole). Users have either
a ready 8-band stack or one file per date (often with more bands, in any order). Per date:

* bands are picked by their descriptions (``ftw.match_bands``: "B04", "B4", "red", ...), else by
  explicit band numbers, else a 4-band file is taken as B04, B03, B02, B08 in that order;
* 0-1 reflectance (instead of L2A DN, reflectance x 10000) is detected and warned about: FTW
  divides by 3000 and would see an almost black image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from ..callbacks import Callbacks
from ..cards import ModelCard
from ..errors import UserError
from ..paths import same_file
from ..runtime.grids import Grid
from ..runtime.raster import open_raster
from .ftw import FTW_BANDS, looks_like_reflectance_0_1, match_bands

PARAMETERS = ("INPUT_A", "INPUT_B")


@dataclass
class DateInputs:
    """The engine's view: card input name -> raster path and 1-based bands."""

    paths: dict[str, str] = field(default_factory=dict)
    bands: dict[str, list[int]] = field(default_factory=dict)


def date_inputs(card: ModelCard, input_a: str | None = None, input_b: str | None = None,
                stack: str | None = None, bands: Sequence[int] | None = None,
                callbacks: Callbacks = Callbacks()) -> DateInputs:
    """Rasters and bands for each of the card's dates, from one stack or one raster per date."""
    names = [spec.name for spec in card.inputs]
    per_date = len(FTW_BANDS)
    if stack and (input_a or input_b):
        raise UserError("give either INPUT (an 8-band stack) or INPUT_A/INPUT_B (one raster "
                        "per date), not both.")
    chosen = DateInputs()
    if stack:
        for name, date_bands, how in _stack_dates(stack, bands, names, per_date):
            chosen.paths[name], chosen.bands[name] = str(stack), date_bands
            callbacks.log(f"{name}: {stack}, bands {date_bands} ({how})")
    else:
        files = _date_files(input_a, input_b, len(names), callbacks)
        for name, parameter, path, date_bands in zip(names, PARAMETERS, files,
                                                     _split_bands(bands, per_date)):
            picked, how = choose_bands(path, date_bands, parameter)
            chosen.paths[name], chosen.bands[name] = str(path), picked
            callbacks.log(f"{name}: {path}, bands {picked} ({how})")
        if len(files) == 2:
            _warn_if_b_is_resampled(files[0], files[1], callbacks)
    for name, parameter in zip(names, "AB"):
        if _looks_like_0_1(chosen.paths[name], chosen.bands[name]):
            callbacks.warn(f"window {parameter} ({chosen.paths[name]}) looks like reflectance "
                           "0-1; FTW expects Sentinel-2 L2A digital numbers (reflectance x "
                           "10000). Multiply the raster by 10000 (Raster calculator), or the "
                           "fields will be missed.")
    return chosen


def _date_files(input_a, input_b, dates: int, callbacks: Callbacks) -> list[str]:
    if not input_a:
        raise UserError("no input: give INPUT (an 8-band FTW stack) or INPUT_A and INPUT_B "
                        "(one Sentinel-2 L2A raster per window).")
    if dates == 1:
        if input_b:
            callbacks.warn("this model reads one date; INPUT_B is ignored.")
        return [input_a]
    if not input_b:
        raise UserError("this model needs two dates (window A: planting, window B: harvest) but "
                        "INPUT_B is empty. Give the second date as INPUT_B, or an 8-band stack "
                        "as INPUT.")
    check_two_dates(input_a, input_b)
    return [input_a, input_b]


def check_two_dates(input_a: str | None, input_b: str | None) -> None:
    """INPUT_A and INPUT_B must be two files (any spelling of one file is caught); checked by
    the tool before the model is loaded."""
    if input_a and input_b and same_file(input_a, input_b):
        raise UserError(f"INPUT_A and INPUT_B are the same file ({input_a}); the model compares "
                        "two acquisitions (planting and harvest). Give the second date as "
                        "INPUT_B, or an 8-band stack as INPUT.")


def choose_bands(path: str, bands: Sequence[int] | None, parameter: str,
                 wanted: Sequence[str] = FTW_BANDS) -> tuple[list[int], str]:
    """The bands of one date and how they were chosen: explicit numbers, else descriptions,
    else a 4-band file as is."""
    ds = open_raster(path)
    count = ds.RasterCount
    if bands:
        bad = [b for b in bands if not 1 <= b <= count]
        if bad:
            raise UserError(f"{parameter}: band(s) {bad} do not exist in {path} ({count} bands).")
        return list(bands), "BANDS parameter"
    descriptions = [ds.GetRasterBand(i + 1).GetDescription() for i in range(count)]
    if any(d.strip() for d in descriptions):
        try:
            found = match_bands(descriptions, wanted)
            return [i + 1 for i in found], f"band descriptions {[descriptions[i] for i in found]}"
        except UserError as exc:
            if count != len(wanted):
                raise UserError(f"{parameter} ({path}): {exc}, or set BANDS.") from None
    if count == len(wanted):
        return list(range(1, count + 1)), (f"bands 1-{count} taken as {', '.join(wanted)} "
                                           "(no band descriptions)")
    raise UserError(f"{parameter} ({path}) has {count} bands without descriptions naming "
                    f"{', '.join(wanted)}; choose them with BANDS (band numbers in the order "
                    f"{', '.join(wanted)}).")


def _split_bands(bands, per_date) -> tuple:
    if not bands:
        return None, None
    if len(bands) == per_date:
        return list(bands), list(bands)
    if len(bands) == 2 * per_date:
        return list(bands[:per_date]), list(bands[per_date:])
    raise UserError(f"BANDS needs {per_date} band numbers (B04, B03, B02, B08, the same for both "
                    f"dates) or {2 * per_date} (A's then B's), not {len(bands)}.")


def _stack_dates(stack, bands, names, per_date):
    ds = open_raster(stack)
    dates = len(names)
    need = per_date * dates
    if bands:
        if len(bands) != need:
            raise UserError(f"BANDS selects {len(bands)} bands but this model needs {need}: "
                            f"{', '.join(FTW_BANDS)} of "
                            f"{'each of the two windows' if dates == 2 else 'one date'}.")
        bad = [b for b in bands if not 1 <= b <= ds.RasterCount]
        if bad:
            raise UserError(f"band(s) {bad} do not exist in {stack} ({ds.RasterCount} bands).")
        chosen, how = list(bands), "BANDS parameter"
    else:
        if ds.RasterCount != need:
            raise UserError(
                f"INPUT ({stack}) has {ds.RasterCount} bands but this model needs {need} "
                f"({', '.join(FTW_BANDS)} of window A then of window B). Choose them with BANDS, "
                "or give one raster per date as INPUT_A and INPUT_B.")
        chosen, how = list(range(1, need + 1)), f"bands 1-{need} in FTW order"
    return [(name, chosen[i * per_date:(i + 1) * per_date], how)
            for i, name in enumerate(names)]


def _warn_if_b_is_resampled(path_a: str, path_b: str, callbacks: Callbacks) -> None:
    a, b = Grid.of(open_raster(path_a)), Grid.of(open_raster(path_b))
    if a.window_offset_in(b) is None:
        callbacks.warn(f"INPUT_B ({path_b}) is not on INPUT_A's grid; it is resampled "
                       "(bilinear) onto INPUT_A's grid tile by tile (pixels of A that B does "
                       "not cover are nodata).")


def _looks_like_0_1(path: str, bands: list[int]) -> bool:
    ds = open_raster(path)
    step = max(1, max(ds.RasterXSize, ds.RasterYSize) // 256)
    width, height = max(1, ds.RasterXSize // step), max(1, ds.RasterYSize // step)
    sample = ds.ReadAsArray(band_list=bands, buf_xsize=width, buf_ysize=height)
    return looks_like_reflectance_0_1(sample)
