"""Pixel grids: where a raster's pixels lie on the ground, and how two grids relate.

One place for the questions every multi-raster method asks: same CRS? how far do two rasters
overlap? do the pixels of one coincide with a coarser copy of the other, so a window read is
enough, or must the input be warped?
"""

from __future__ import annotations

from dataclasses import dataclass

from osgeo import gdal, osr

ALIGN_TOLERANCE = 1e-3  # of a pixel: grids closer than this are the same grid


@dataclass(frozen=True)
class Grid:
    width: int
    height: int
    geotransform: tuple[float, ...]
    crs: str = ""  # WKT; "" when the raster has no CRS

    @classmethod
    def of(cls, dataset: gdal.Dataset) -> "Grid":
        return cls(dataset.RasterXSize, dataset.RasterYSize, tuple(dataset.GetGeoTransform()),
                   dataset.GetProjection() or "")

    @property
    def pixel_size(self) -> float:
        """The pixel's width in CRS units (rotation included)."""
        gt = self.geotransform
        return (gt[1] ** 2 + gt[4] ** 2) ** 0.5

    def to_map(self, col: float, row: float) -> tuple[float, float]:
        gt = self.geotransform
        return gt[0] + col * gt[1] + row * gt[2], gt[3] + col * gt[4] + row * gt[5]

    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) of the four corners, in the grid's own CRS."""
        corners = [self.to_map(c, r) for c in (0, self.width) for r in (0, self.height)]
        xs, ys = zip(*corners)
        return min(xs), min(ys), max(xs), max(ys)

    def bounds_in(self, crs: str) -> tuple[float, float, float, float]:
        """Bounds in another CRS (densified edges, so curved reprojections are covered)."""
        if same_crs(self.crs, crs) or not self.crs or not crs:
            return self.bounds()
        source, target = _srs(self.crs), _srs(crs)
        transform = osr.CoordinateTransformation(source, target)
        return tuple(transform.TransformBounds(*self.bounds(), 21))

    def scaled(self, ratio: int) -> "Grid":
        """The grid with pixels ``ratio`` times larger from the same origin (covering this one)."""
        gt = self.geotransform
        return Grid(-(-self.width // ratio), -(-self.height // ratio),
                    (gt[0], gt[1] * ratio, gt[2] * ratio, gt[3], gt[4] * ratio, gt[5] * ratio),
                    self.crs)

    def window_offset_in(self, other: "Grid") -> tuple[int, int] | None:
        """(col, row) of this grid's origin in ``other`` when their pixels coincide (same CRS,
        pixel size and orientation, origin a whole number of pixels away); None otherwise."""
        if not same_crs(self.crs, other.crs):
            return None
        a, b = self.geotransform, other.geotransform
        tolerance = ALIGN_TOLERANCE * self.pixel_size
        if any(abs(a[i] - b[i]) > tolerance for i in (1, 2, 4, 5)):
            return None
        determinant = b[1] * b[5] - b[2] * b[4]
        dx, dy = a[0] - b[0], a[3] - b[3]
        col = (dx * b[5] - dy * b[2]) / determinant
        row = (dy * b[1] - dx * b[4]) / determinant
        if abs(col - round(col)) > ALIGN_TOLERANCE or abs(row - round(row)) > ALIGN_TOLERANCE:
            return None
        return int(round(col)), int(round(row))


def same_crs(a: str, b: str) -> bool:
    """Two WKT strings name the same CRS; two rasters without a CRS count as the same."""
    if not a or not b:
        return not a and not b
    return a == b or bool(_srs(a).IsSame(_srs(b)))


def overlap_fraction(primary: Grid, other: Grid) -> float:
    """Share of ``primary``'s extent that ``other`` covers (bounding boxes, in primary's CRS)."""
    ax0, ay0, ax1, ay1 = primary.bounds()
    bx0, by0, bx1, by1 = other.bounds_in(primary.crs)
    width, height = min(ax1, bx1) - max(ax0, bx0), min(ay1, by1) - max(ay0, by0)
    if width <= 0 or height <= 0:
        return 0.0
    return width * height / ((ax1 - ax0) * (ay1 - ay0))


def format_bounds(bounds) -> str:
    return "(" + ", ".join(f"{v:.10g}" for v in bounds) + ")"


def _srs(wkt: str) -> osr.SpatialReference:
    srs = osr.SpatialReference()
    srs.ImportFromWkt(wkt)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs
