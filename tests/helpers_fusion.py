"""Synthetic aerial / satellite GeoTIFF pairs whose true alignment is known.

Shared by the fusion tests and the engine's tests (issue 9/14): a reader that puts satellite
values under aerial tiles can be checked against ``SyntheticPair.expected``, with no model and no
real data.

Each satellite band is a *linear* function of the satellite's own pixel coordinates
(``value = c + a * u + b * v``; ``u``, ``v`` = fractional column / row from the raster's top-left
corner, pixel centres at ``j + 0.5``), stored as Float32 at the pixel centres. Bilinear
resampling reproduces a linear function exactly, and any symmetric averaging kernel returns its
value at the kernel's centre, so wherever the kernel sees only real pixels the satellite value
of a footprint cell is exactly the function at the cell centre, in any CRS. Where it does not
(the outer pixels of the raster), values are off by at most the function's change over the
kernel's reach; ``Expected`` says which cells are which:

* ``interior``: the cell centre is at least ``margin`` satellite pixels inside the raster's
  pixel-centre hull (``margin`` = the resampling kernel's reach): values must match to
  ``VALUE_TOLERANCE``;
* ``covered``: the cell centre lies inside the satellite raster: values, if any, within
  ``edge_tolerance`` (readers may also call a cell within half a pixel of the edge uncovered);
* outside: the centre lies more than half a satellite pixel outside: must be nodata.

Scenarios (``SCENARIOS``): aligned integer ratios, a non-integer ratio, a satellite grid shifted
by a fraction of a pixel, a satellite in another CRS (aerial in EPSG:2180 like LandCover.ai,
Sentinel-2 in UTM 34N), tiles at the satellite raster's edge, partial overlap, and no overlap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from osgeo import gdal, osr

gdal.UseExceptions()

SATELLITE_BANDS = ("B02", "B03", "B04", "B08")
AERIAL_BANDS = ("red", "green", "blue")
# (c, a, b) per band: value = c + a * u + b * v, u/v in satellite pixels. Distinct slopes per
# band catch band mix-ups; values stay positive, as Sentinel-2 DN do.
COEFFICIENTS = ((1000.0, 7.0, -3.0), (1500.0, -2.0, 5.0), (2000.0, 4.5, 4.5),
                (3000.0, -6.0, -1.5))
VALUE_TOLERANCE = 0.02  # float32 storage and resampling arithmetic, in DN
AERIAL_PIXEL = 0.25  # m, LandCover.ai's finest resolution
SATELLITE_PIXEL = 10.0  # m, Sentinel-2 10 m bands


@dataclass(frozen=True)
class Grid:
    """A north-up raster grid: CRS, top-left corner, square pixel size, size in pixels."""

    epsg: int
    x0: float
    y0: float
    pixel: float
    width: int
    height: int

    @property
    def geotransform(self) -> tuple:
        return (self.x0, self.pixel, 0.0, self.y0, 0.0, -self.pixel)

    @property
    def wkt(self) -> str:
        return _srs(self.epsg).ExportToWkt()


@dataclass(frozen=True)
class Expected:
    """True satellite values of a footprint grid and how far a reader may be trusted there."""

    values: np.ndarray  # (bands, rows, cols) float64: the linear field at the cell centres
    covered: np.ndarray  # (rows, cols) bool: cell centre inside the satellite raster
    interior: np.ndarray  # (rows, cols) bool: far enough inside for exact resampling
    outside: np.ndarray  # (rows, cols) bool: centre more than half a pixel outside: nodata
    edge_tolerance: float  # DN allowed on covered, non-interior cells


@dataclass(frozen=True)
class SyntheticPair:
    aerial_path: Path
    satellite_path: Path
    aerial: Grid
    satellite: Grid
    name: str

    @property
    def true_ratio(self) -> float:
        """Satellite pixel / aerial pixel on the ground (may be non-integer, or approximate
        across CRSs)."""
        return self.satellite.pixel / self.aerial.pixel

    def expected(self, col0: int, row0: int, width: int, height: int, ratio: int,
                 resampling: str = "bilinear") -> Expected:
        """What a reader must give for aerial pixels [col0, col0+width) x [row0, row0+height)
        on the grid of ``ratio`` x the aerial pixel (cells start at the window's corner)."""
        cols, rows = math.ceil(width / ratio), math.ceil(height / ratio)
        jj, ii = np.meshgrid(np.arange(cols), np.arange(rows))
        ax = self.aerial.x0 + (col0 + (jj + 0.5) * ratio) * self.aerial.pixel
        ay = self.aerial.y0 - (row0 + (ii + 0.5) * ratio) * self.aerial.pixel
        sx, sy = _transform(ax, ay, self.aerial.epsg, self.satellite.epsg)
        u = (sx - self.satellite.x0) / self.satellite.pixel
        v = (self.satellite.y0 - sy) / self.satellite.pixel
        values = np.stack([c + a * u + b * v for c, a, b in COEFFICIENTS])
        w, h = self.satellite.width, self.satellite.height
        # A downsampling kernel reaches (target pixel / source pixel) source pixels each way.
        reach = max(1.0, ratio * self.aerial.pixel / self.satellite.pixel)
        if resampling == "cubic":
            reach *= 2
        interior = (u >= 0.5 + reach) & (u <= w - 0.5 - reach) & (v >= 0.5 + reach) & \
                   (v <= h - 0.5 - reach)
        covered = (u >= 0) & (u < w) & (v >= 0) & (v < h)
        outside = (u < -0.5) | (u > w + 0.5) | (v < -0.5) | (v > h + 0.5)
        slope = max(abs(a) + abs(b) for _, a, b in COEFFICIENTS)
        return Expected(values, covered, interior, outside, slope * reach)


def _srs(epsg: int) -> osr.SpatialReference:
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


def _transform(x, y, from_epsg: int, to_epsg: int):
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if from_epsg == to_epsg:
        return x, y
    ct = osr.CoordinateTransformation(_srs(from_epsg), _srs(to_epsg))
    points = np.array(ct.TransformPoints(np.stack([x.ravel(), y.ravel()], 1)))
    return points[:, 0].reshape(x.shape), points[:, 1].reshape(y.shape)


def satellite_field(grid: Grid) -> np.ndarray:
    """(bands, rows, cols) float32: the linear field at the satellite pixel centres."""
    v, u = np.mgrid[0:grid.height, 0:grid.width] + 0.5
    return np.stack([c + a * u + b * v for c, a, b in COEFFICIENTS]).astype(np.float32)


def aerial_image(grid: Grid) -> np.ndarray:
    """(3, rows, cols) uint8: a smooth pattern of the aerial pixel position (any content)."""
    v, u = np.mgrid[0:grid.height, 0:grid.width]
    return np.stack([(u * 7) % 256, (v * 5) % 256, ((u + v) * 3) % 256]).astype(np.uint8)


def write_raster(path: Path, grid: Grid, array: np.ndarray, descriptions=(),
                 nodata: float | None = None) -> Path:
    types = {np.dtype(np.uint8): gdal.GDT_Byte, np.dtype(np.float32): gdal.GDT_Float32}
    ds = gdal.GetDriverByName("GTiff").Create(str(path), grid.width, grid.height,
                                              array.shape[0], types[array.dtype])
    ds.SetGeoTransform(grid.geotransform)
    ds.SetProjection(grid.wkt)
    for index, band in enumerate(array):
        out = ds.GetRasterBand(index + 1)
        out.WriteArray(band)
        if index < len(descriptions):
            out.SetDescription(descriptions[index])
        if nodata is not None:
            out.SetNoDataValue(nodata)
    ds = None
    return path


def write_pair(folder: Path, name: str, aerial: Grid, satellite: Grid) -> SyntheticPair:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    aerial_path = write_raster(folder / f"{name}_aerial.tif", aerial, aerial_image(aerial),
                               AERIAL_BANDS)
    satellite_path = write_raster(folder / f"{name}_satellite.tif", satellite,
                                  satellite_field(satellite), SATELLITE_BANDS)
    return SyntheticPair(aerial_path, satellite_path, aerial, satellite, name)


# -- scenarios ------------------------------------------------------------------------------
# Aerial rasters in EPSG:2180 (Poland CS92, LandCover.ai's CRS) near Lodz; 25 cm pixels unless
# said. Satellite grids cover the aerial with a margin of ``pad`` satellite pixels.
X0, Y0 = 520000.0, 400000.0


def _aerial(size: int = 640, pixel: float = AERIAL_PIXEL) -> Grid:
    return Grid(2180, X0, Y0, pixel, size, size)


def _satellite_over(aerial: Grid, pad: int = 3, shift=(0.0, 0.0), pixel: float = SATELLITE_PIXEL,
                    epsg: int = 2180) -> Grid:
    """A satellite grid covering ``aerial`` plus ``pad`` pixels, its corner moved by ``shift``
    (in satellite pixels) from a corner shared with the aerial raster."""
    if epsg == aerial.epsg:
        left, top = aerial.x0, aerial.y0
        right = aerial.x0 + aerial.width * aerial.pixel
        bottom = aerial.y0 - aerial.height * aerial.pixel
    else:
        xs = aerial.x0 + np.array([0, 1, 0, 1]) * aerial.width * aerial.pixel
        ys = aerial.y0 - np.array([0, 0, 1, 1]) * aerial.height * aerial.pixel
        tx, ty = _transform(xs, ys, aerial.epsg, epsg)
        left, right, bottom, top = tx.min(), tx.max(), ty.min(), ty.max()
        left, top = math.floor(left / pixel) * pixel, math.ceil(top / pixel) * pixel
    x0 = left - (pad - shift[0]) * pixel
    y0 = top + (pad - shift[1]) * pixel
    width = math.ceil((right - x0) / pixel) + pad
    height = math.ceil((y0 - bottom) / pixel) + pad
    return Grid(epsg, x0, y0, pixel, width, height)


def aligned_ratio_40(folder: Path) -> SyntheticPair:
    """25 cm aerial, 10 m satellite on a grid through the aerial corner: ratio 40, window reads."""
    aerial = _aerial()
    return write_pair(folder, "aligned40", aerial, _satellite_over(aerial))


def aligned_ratio_32(folder: Path) -> SyntheticPair:
    """31.25 cm aerial, 10 m satellite, aligned: ratio 32."""
    aerial = _aerial(512, 0.3125)
    return write_pair(folder, "aligned32", aerial, _satellite_over(aerial))


def non_integer_ratio(folder: Path) -> SyntheticPair:
    """30 cm aerial, 10 m satellite: ratio 33.33, read at a card ratio of 32 or 33 (warped)."""
    aerial = _aerial(600, 0.3)
    return write_pair(folder, "ratio33", aerial, _satellite_over(aerial))


def shifted_grid(folder: Path) -> SyntheticPair:
    """Ratio 40, but the satellite grid is shifted by (0.3, 0.55) of a satellite pixel."""
    aerial = _aerial()
    return write_pair(folder, "shifted", aerial, _satellite_over(aerial, shift=(0.3, 0.55)))


def other_crs(folder: Path) -> SyntheticPair:
    """Aerial in EPSG:2180, satellite in UTM zone 34N (EPSG:32634), as Sentinel-2 tiles are."""
    aerial = _aerial()
    return write_pair(folder, "utm34", aerial, _satellite_over(aerial, epsg=32634))


def satellite_edge(folder: Path) -> SyntheticPair:
    """The satellite raster starts half a satellite pixel inside the aerial's left and top
    edges and ends 1.5 pixels before its right and bottom edges: border tiles straddle its
    edges, with cell centres between satellite pixel centres."""
    aerial = _aerial()
    full = _satellite_over(aerial, pad=0, shift=(0.5, 0.5))
    return write_pair(folder, "edge", aerial,
                      Grid(full.epsg, full.x0, full.y0, full.pixel, full.width - 2,
                           full.height - 2))


def partial_overlap(folder: Path) -> SyntheticPair:
    """The satellite covers only the western half of the aerial raster."""
    aerial = _aerial()
    full = _satellite_over(aerial, pad=0)
    half = full.width // 2
    return write_pair(folder, "partial", aerial,
                      Grid(full.epsg, full.x0 - 3 * full.pixel, full.y0 + 3 * full.pixel,
                           full.pixel, half + 3, full.height + 6))


def no_overlap(folder: Path) -> SyntheticPair:
    """The satellite lies 1 km east of the aerial raster."""
    aerial = _aerial()
    full = _satellite_over(aerial)
    return write_pair(folder, "disjoint", aerial,
                      Grid(full.epsg, full.x0 + 1000.0, full.y0, full.pixel, full.width,
                           full.height))


SCENARIOS = {f.__name__: f for f in (aligned_ratio_40, aligned_ratio_32, non_integer_ratio,
                                     shifted_grid, other_crs, satellite_edge, partial_overlap,
                                     no_overlap)}


# -- a tiny LandCover.ai-layout dataset --------------------------------------------------------
CLASS_COLOURS = np.array([[200, 190, 150], [180, 60, 50], [40, 110, 40], [30, 60, 140],
                          [120, 120, 120]], np.float32)  # background building woodland water road


def write_landcover_tiles(root: Path, count: int = 8, size: int = 80, pixel: float = 0.5,
                          splits=(5, 2, 1), seed: int = 0) -> tuple[Path, SyntheticPair]:
    """``root/images``, ``root/masks`` (GeoTIFF tiles side by side in EPSG:2180, classes 0-4
    drawn as rectangles, RGB coloured by class plus noise), ``train.txt``/``val.txt``/``test.txt``
    and one Sentinel-2-like raster in UTM 34N at 10 m over all tiles (``root/s2.tif``: the
    linear field of ``COEFFICIENTS``, band descriptions B02, B03, B04, B08).

    Returns ``root`` and a pair whose aerial grid is the strip of all tiles (tile ``k`` =
    columns ``[k * size, (k + 1) * size)``; ``aerial_path`` is the images folder), so
    ``pair.expected(k * size, 0, size, size, ratio)`` gives tile ``k``'s true satellite values."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    names = []
    for index in range(count):
        grid = Grid(2180, X0 + index * size * pixel, Y0, pixel, size, size)
        mask = np.zeros((size, size), np.uint8)
        for value in (2, 3, 1, 4):  # woodland, water, building, road rectangles
            r0, c0 = rng.integers(0, size * 3 // 4, 2)
            h, w = rng.integers(size // 8, size // 2, 2)
            mask[r0:r0 + h, c0:c0 + w] = value
        image = CLASS_COLOURS[mask].transpose(2, 0, 1) + rng.normal(0, 12, (3, size, size))
        name = f"M-34-{index:02d}"
        write_raster(root / "images" / f"{name}.tif", grid,
                     np.clip(image, 0, 255).astype(np.uint8), AERIAL_BANDS)
        write_raster(root / "masks" / f"{name}.tif", grid, mask[None])
        names.append(name)
    start = 0
    for split, n in zip(("train", "val", "test"), splits):
        (root / f"{split}.txt").write_text("\n".join(names[start:start + n]) + "\n")
        start += n
    whole = Grid(2180, X0, Y0, pixel, size * count, size)
    satellite = _satellite_over(whole, pad=2, epsg=32634)
    path = write_raster(root / "s2.tif", satellite, satellite_field(satellite), SATELLITE_BANDS)
    return root, SyntheticPair(root / "images", path, whole, satellite, "landcover")
