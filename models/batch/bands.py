"""Row bands of one very large raster, so its parts run on several workers, and the join.

A scene taller than BAND_ROWS becomes bands of BAND_ROWS rows; each band's input is a small VRT
window of the scene reaching ``halo`` rows past the band on either side (the model sees the same
context there as in one run), and each band's outputs keep only the band's own rows when joined:
a VRT of the cropped bands per output, plus, when asked, a merged GeoTIFF written under a
temporary name. Everything but the joined files lives in ``.bands/<scene>/`` of the output
folder, which the workers must reach (it is the output folder's own).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from osgeo import gdal

from ..files import partial_path
from ..runtime.gdal_exceptions import gdal_exceptions
from ..runtime.raster import GTIFF_OPTIONS, open_raster
from .scenes import Scene

BANDS_FOLDER = ".bands"


@dataclass(frozen=True)
class Band:
    scene: Scene  # the band as a scene of its own: name <scene>.band000, source its VRT window
    core: tuple[int, int]  # the scene's rows [start, end) this band stands for
    read_start: int  # the first scene row its input holds


@dataclass(frozen=True)
class Split:
    scene: Scene
    width: int
    bands: tuple[Band, ...]


def windows(height: int, rows: int, halo: int) -> list[tuple[int, int, int, int]]:
    """(core start, core end, read start, read end) of each band."""
    found = []
    for start in range(0, height, rows):
        end = min(height, start + rows)
        found.append((start, end, max(0, start - halo), min(height, end + halo)))
    return found


@gdal_exceptions()
def split(scene: Scene, rows: int, halo: int, folder: Path) -> Split | None:
    """The scene's bands (their input VRTs written), or None when it fits in one band."""
    dataset = open_raster(scene.source, f"scene {scene.name}")
    width, height = dataset.RasterXSize, dataset.RasterYSize
    dataset = None  # closed here: the windows below open the scene by name
    if height <= rows:
        return None
    place = folder / BANDS_FOLDER / scene.name
    place.mkdir(parents=True, exist_ok=True)
    bands = []
    for index, (start, end, read_start, read_end) in enumerate(windows(height, rows, halo)):
        name = f"{scene.name}.band{index:03d}"
        source = place / f"{name}_input.vrt"
        window = gdal.Translate(str(source), scene.source, format="VRT",
                                srcWin=[0, read_start, width, read_end - read_start])
        window = None  # written on close
        bands.append(Band(Scene(name, str(source), subfolder=f"{BANDS_FOLDER}/{scene.name}"),
                          (start, end), read_start))
    return Split(scene, width, tuple(bands))


@gdal_exceptions()
def join(plan: Split, band_outputs: list[dict[str, str]], joined: dict[str, str],
         merge: bool) -> dict[str, str]:
    """Per output name: crop each band's output to its core rows, a VRT of them at
    ``joined[name]`` (.vrt), and with ``merge`` a GeoTIFF beside it. Returns name -> file."""
    written = {}
    for name, vrt_path in joined.items():
        crops = []
        for band, outputs in zip(plan.bands, band_outputs):
            crop = Path(outputs[name]).with_name(Path(outputs[name]).stem + "_core.vrt")
            start, end = band.core
            dataset = gdal.Translate(str(crop), outputs[name], format="VRT",
                                     srcWin=[0, start - band.read_start, plan.width, end - start])
            dataset = None
            crops.append(str(crop))
        vrt = Path(vrt_path)
        temp = partial_path(vrt, ".vrt")
        dataset = gdal.BuildVRT(str(temp), crops)
        dataset = None  # written on close
        os.replace(temp, vrt)
        written[name] = str(vrt)
        if merge:
            tif = vrt.with_suffix(".tif")
            temp = partial_path(tif, ".tif")
            dataset = gdal.Translate(str(temp), str(vrt), format="GTiff",
                                     creationOptions=list(GTIFF_OPTIONS))
            dataset = None
            os.replace(temp, tif)
            written[f"{name}_MERGED"] = str(tif)
    return written
