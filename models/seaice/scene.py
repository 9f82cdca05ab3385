"""A Sentinel-1 scene made ready for a sea-ice card: a VRT the engine reads tile by tile.

Nothing here reads a whole scene into memory. The input (a GeoTIFF, a GCP-only export or a
``.SAFE``/``.zip`` product) becomes one small VRT whose bands are the card's, in the card's
order and named after them, holding linear sigma0: dB bands are turned back into power by
GDAL's ``dB2pow`` pixel function, so the engine's ``db`` input transform and its block
averaging (done in linear power) work the same for both units. Source nodata becomes NaN, and
land (LAND_MASK) becomes 0 through GDAL's ``mul`` pixel function with a sea mask raster, so the
engine masks both as "not a measurement" (NaN, non-positive power) in every tile it reads.
Units are detected from a decimated sample of each band (``sar.detect_scale``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence
from xml.sax.saxutils import escape

import numpy as np
from osgeo import gdal, osr

from ..cards import InputSpec, ModelCard
from ..errors import UserError
from ..runtime import raster
from ..runtime.grids import Grid
from . import sar, sentinel1

SAMPLE_SIDE = 1024  # pixels per side of the decimated sample used to detect units
STRIP_ROWS = 256  # rows per strip when a mask raster is written
POLARISATIONS = ("HH", "HV", "VV", "VH")
ANGLE_WORDS = ("incidence", "angle", "incident")


@dataclass(frozen=True)
class PreparedScene:
    """The engine's view of the scene: ``path`` (a VRT with the card's bands by name)."""

    path: str
    grid: Grid
    units: dict[str, str]  # SAR band -> "linear" or "db" (as found in the input)
    pixel_m: float | None  # the input's pixel size in metres
    source: str  # what the VRT reads (the GeoTIFF, a calibrated SAFE VRT, a warped VRT)


def is_sar_input(card: ModelCard, spec: InputSpec) -> bool:
    """The card's backscatter input: the first one (its bands are polarisations)."""
    return spec.name == card.primary.name


# --------------------------------------------------------------------------- georeferencing
def georeferenced_source(path: str, card: ModelCard, work: Path) -> str:
    """A raster on a north-up georeferenced grid for ``path``: a SAFE product's calibrated
    sigma0 (or a calibrate-first error), a GCP-only image warped (VRT), or the file itself."""
    if sentinel1.is_sentinel1_product(path):
        return str(sentinel1.sigma0_vrt(path, work, tuple(card.primary.bands)))
    dataset = raster.open_raster(path, "INPUT raster")
    has_transform = dataset.GetGeoTransform(can_return_null=True) is not None
    if not has_transform and dataset.GetGCPCount() >= 3:
        return str(sentinel1.north_up_vrt(path, work / "north_up.vrt"))
    if not has_transform:
        raise UserError(
            f"{path} is not georeferenced (no geotransform, no ground control points): sea-ice "
            "maps need to know where each pixel is and how large it is. Use the product's "
            "georeferenced export (SNAP: Terrain Correction or Ellipsoid Correction, or a GRD "
            "GeoTIFF with its GCPs), or georeference it (Raster > Georeferencer).")
    if not dataset.GetProjection():
        raise UserError(
            f"{path} has a geotransform but no coordinate reference system, so its pixel size "
            "in metres is unknown. Assign its CRS first (Raster > Projections > Assign "
            "Projection).")
    return str(path)


def pixel_size_m(grid: Grid) -> float:
    """Mean pixel side in metres: CRS units for projected grids, degrees converted at the
    scene's centre latitude for geographic ones."""
    gt = grid.geotransform
    width = math.hypot(gt[1], gt[4])
    height = math.hypot(gt[2], gt[5])
    srs = osr.SpatialReference(wkt=grid.crs)
    if srs.IsGeographic():
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        _, lat = grid.to_map(grid.width / 2, grid.height / 2)
        metres = 111_320.0
        return (width * metres * math.cos(math.radians(lat)) + height * metres) / 2
    return (width + height) / 2 * srs.GetLinearUnits()


def averaging_factor(card: ModelCard, pixel_m: float, warn: Callable[[str], None]) -> int:
    """Input pixels per side of one model pixel (1 when the card gives no resolution)."""
    target = card.primary.resolution_m
    if not target:
        return 1
    try:
        return sar.averaging_factor(pixel_m, target, warn)
    except UserError:
        raise UserError(f"the input's pixels are {pixel_m:.4g} m, coarser than the "
                        f"{target:g} m {card.title} was trained on: its windows would cover "
                        f"{pixel_m / target:.2g} times the ground they should. Use the "
                        f"product at {target:g} m or finer (e.g. EW GRDM at 40 m, IW GRDH at "
                        "10 m).")


# --------------------------------------------------------------------------- bands
def choose_bands(card: ModelCard, dataset: gdal.Dataset, bands: Sequence[int] = (),
                 log: Callable[[str], None] = lambda text: None) -> dict[str, list[int]]:
    """1-based band numbers of the input for each card input (card order of bands).

    BANDS (``bands``) lists every card band in order (e.g. HH, HV, incidence angle); without it
    bands are found by description (``Sigma0_HH_db`` is HH, ``incidence_angle`` the angle),
    else a raster with exactly the card's band count is read in card order. Errors name a
    missing polarisation or angle and how to provide it.
    """
    wanted = [(spec, name) for spec in card.inputs for name in spec.bands]
    count = dataset.RasterCount
    if bands:
        bad = [b for b in bands if not 1 <= b <= count]
        if bad:
            raise UserError(f"BANDS names band(s) {bad}, but INPUT has {count} band(s).")
        if len(bands) != len(wanted):
            extra = [name for spec, name in wanted if not is_sar_input(card, spec)]
            hint = (f" ({', '.join(extra)} too: {card.title} needs it)" if extra and
                    len(bands) == len(card.primary.bands) else "")
            raise UserError(f"BANDS gives {len(bands)} band number(s) but {card.title} takes "
                            f"{len(wanted)}: {', '.join(n for _, n in wanted)}, in that "
                            f"order{hint}.")
        chosen = list(bands)
    else:
        descriptions = [dataset.GetRasterBand(i + 1).GetDescription() for i in range(count)]
        found = [_find_band(name, spec, card, descriptions) for spec, name in wanted]
        if all(found):
            chosen = found
            log("INPUT bands found by description: " + ", ".join(
                f"{name} = band {b} ({descriptions[b - 1]})"
                for (_, name), b in zip(wanted, chosen)))
        else:
            _explain_missing(card, wanted, found, descriptions)
            chosen = list(range(1, count + 1))
            log(f"INPUT bands have no usable descriptions; read in order as "
                f"{', '.join(n for _, n in wanted)}")
    by_input: dict[str, list[int]] = {}
    for (spec, _), band in zip(wanted, chosen):
        by_input.setdefault(spec.name, []).append(band)
    return by_input


def _find_band(name: str, spec: InputSpec, card: ModelCard, descriptions) -> int | None:
    words = [set(re.split(r"[^a-z0-9]+", d.lower())) for d in descriptions]
    for index, (text, tokens) in enumerate(zip(descriptions, words)):
        if text.strip().lower() == name.lower():
            return index + 1
    for index, tokens in enumerate(words):
        if is_sar_input(card, spec) and name.lower() in tokens:
            return index + 1
        if not is_sar_input(card, spec) and any(w in t for t in tokens for w in ANGLE_WORDS):
            return index + 1
    return None


def _explain_missing(card: ModelCard, wanted, found, descriptions) -> None:
    """Raise the clear error for a raster that cannot hold what the card needs."""
    sar_names = [n for spec, n in wanted if is_sar_input(card, spec)]
    others = [(spec, n) for spec, n in wanted if not is_sar_input(card, spec)]
    present = [p for p in POLARISATIONS
               if any(p.lower() in re.split(r"[^a-z0-9]+", d.lower()) for d in descriptions)]
    count = len(descriptions)
    if count < len(sar_names) or (present and not set(sar_names) <= set(present)):
        have = (f"{' and '.join(present)}" if present else f"{count} band") + (
            " only (single polarisation)" if len(present) <= 1 else "")
        raise UserError(
            f"INPUT has {have} but {card.title} needs "
            f"{' and '.join(sar_names)}: give a dual-polarisation product (Sentinel-1 EW or IW "
            f"{'1SDH, HH + HV' if 'HH' in sar_names else '1SDV, VV + VH'}), or a model made "
            "for the polarisations you have.")
    missing = [(spec, n) for (spec, n), b in zip(wanted, found) if not b and (spec, n) in others]
    if missing and count < len(wanted):
        names = ", ".join(n for _, n in missing)
        raise UserError(
            f"{card.title} needs the incidence angle ({names}) besides "
            f"{' and '.join(sar_names)}, but INPUT has no such band ({count} band(s): "
            f"{', '.join(d or '(no description)' for d in descriptions)}). Export the incidence "
            "angle with the backscatter (SNAP: add the 'incidence_angle' tie-point grid as a "
            "band), describe the band as incidence_angle, or give its number last in BANDS.")
    if count != len(wanted):
        raise UserError(
            f"cannot tell which of the {count} INPUT bands are "
            f"{', '.join(n for _, n in wanted)}: their descriptions "
            f"({', '.join(d or '(none)' for d in descriptions)}) do not name them. Give the "
            "band numbers in BANDS, in that order.")


# --------------------------------------------------------------------------- units
def sample(dataset: gdal.Dataset, band: int, side: int = SAMPLE_SIDE) -> np.ndarray:
    """A decimated (nearest) read of one band, at most ``side`` x ``side`` values."""
    x, y = dataset.RasterXSize, dataset.RasterYSize
    step = max(1, math.ceil(max(x, y) / side))
    return dataset.GetRasterBand(band).ReadAsArray(
        buf_xsize=max(1, x // step), buf_ysize=max(1, y // step),
        resample_alg=gdal.GRIORA_NearestNeighbour).astype(np.float32)


def declared_units(band: gdal.Band) -> str | None:
    """What the file says a band holds: its unit type, else a description ending in dB."""
    unit = (band.GetUnitType() or "").strip().lower()
    if unit in ("db", "decibel", "decibels"):
        return "db"
    if unit in ("linear", "intensity", "power"):
        return "linear"
    tokens = re.split(r"[^a-z0-9]+", band.GetDescription().lower())
    return "db" if "db" in tokens else None


def detect_units(dataset: gdal.Dataset, names: Sequence[str], bands: Sequence[int],
                 declared: str = "auto", warn: Callable[[str], None] = lambda text: None,
                 log: Callable[[str], None] = lambda text: None) -> dict[str, str]:
    """Linear or dB for each SAR band, from a sample of its values. A declaration (``declared``
    linear/db, else the band's own metadata) that the values contradict is warned about, and
    the values win. All-nodata bands are refused."""
    units = {}
    for name, number in zip(names, bands):
        band = dataset.GetRasterBand(number)
        try:
            report = sar.detect_scale(sample(dataset, number), name, band.GetNoDataValue())
        except UserError as exc:
            raise UserError(f"{exc} INPUT band {number} ({name}) is all nodata: the scene has "
                            "no backscatter to classify (a wrong band, an empty product "
                            "corner, or a nodata value set to a real value).") from None
        said = declared if declared in ("linear", "db") else declared_units(band)
        units[name] = sar.resolve_units(said, report, name, warn)
        log(report.describe(name))
    return units


# --------------------------------------------------------------------------- land mask
def sea_mask(land_mask: str, grid: Grid, target: Path, layer: str | int | None = None) -> Path:
    """A Byte raster on ``grid``: 1 sea, 0 land, from polygons (land inside) or a raster
    (land where non-zero; its nodata and its outside are sea), written strip by strip."""
    driver = gdal.GetDriverByName("GTiff")
    out = driver.Create(str(target), grid.width, grid.height, 1, gdal.GDT_Byte,
                        options=list(raster.GTIFF_OPTIONS))
    out.SetGeoTransform(grid.geotransform)
    out.SetProjection(grid.crs)
    band = out.GetRasterBand(1)
    band.Fill(1)
    vector = _open_vector(land_mask)
    if vector is not None:
        chosen = _vector_layer(vector, layer, land_mask)
        if chosen.GetSpatialRef() is None:
            raise UserError(f"LAND_MASK {land_mask} has no CRS; assign one so it can be laid "
                            "on the scene.")
        gdal.Rasterize(out, vector, layers=[chosen.GetName()], burnValues=[0])
    else:
        source = raster.open_raster(land_mask, "LAND_MASK raster")
        if not source.GetProjection():
            raise UserError(f"LAND_MASK {land_mask} has no CRS; assign one so it can be laid "
                            "on the scene.")
        warped = gdal.Warp("", source, format="VRT", dstSRS=grid.crs, width=grid.width,
                           height=grid.height, outputBounds=_bounds(grid),
                           resampleAlg="near", dstNodata=None)
        nodata = source.GetRasterBand(1).GetNoDataValue()
        for row in range(0, grid.height, STRIP_ROWS):
            rows = min(STRIP_ROWS, grid.height - row)
            values = warped.GetRasterBand(1).ReadAsArray(0, row, grid.width, rows)
            land = values != 0
            if nodata is not None:
                land &= values != nodata
            band.WriteArray((~land).astype(np.uint8), 0, row)
    out.FlushCache()
    return target


def _open_vector(path: str) -> gdal.Dataset | None:
    try:
        return gdal.OpenEx(str(path), gdal.OF_VECTOR)
    except RuntimeError:
        return None


def _vector_layer(vector, layer, path):
    if layer is None:
        return vector.GetLayer(0)
    chosen = vector.GetLayerByName(layer) if isinstance(layer, str) else vector.GetLayer(layer)
    if chosen is None:
        raise UserError(f"LAND_MASK {path} has no layer {layer!r}.")
    return chosen


def _bounds(grid: Grid) -> tuple[float, float, float, float]:
    if grid.geotransform[2] or grid.geotransform[4]:  # rotated
        raise UserError("the scene's grid is rotated; warp it north-up before using a land "
                        "mask (Raster > Projections > Warp).")
    return grid.bounds()


# --------------------------------------------------------------------------- the VRT
def prepared_vrt(source: str, card: ModelCard, bands: dict[str, list[int]],
                 units: dict[str, str], target: Path, sea: Path | None = None) -> Path:
    """The card's bands of ``source`` as one VRT, each named after the card's band.

    SAR bands hold linear power: ``dB2pow`` of dB bands; nodata becomes NaN; land is 0
    (``mul`` by the sea mask). Other bands (incidence angle) are copied as they are.
    """
    dataset = raster.open_raster(source, "INPUT raster")
    out = [f'<VRTDataset rasterXSize="{dataset.RasterXSize}" '
           f'rasterYSize="{dataset.RasterYSize}">',
           f"<SRS>{escape(dataset.GetProjection())}</SRS>",
           "<GeoTransform>" + ", ".join(repr(v) for v in dataset.GetGeoTransform())
           + "</GeoTransform>"]
    index = 0
    for spec in card.inputs:
        for name, number in zip(spec.bands, bands[spec.name]):
            index += 1
            band = dataset.GetRasterBand(number)
            nodata = band.GetNoDataValue()
            nodata_tag = "" if nodata is None else f"<NODATA>{_xml_number(nodata)}</NODATA>"
            origin = (f"<SourceFilename relativeToVRT=\"0\">{escape(str(source))}"
                      f"</SourceFilename><SourceBand>{number}</SourceBand>")
            if not is_sar_input(card, spec):
                keep = "" if nodata is None else f"<NoDataValue>{_xml_number(nodata)}</NoDataValue>"
                out.append(f'<VRTRasterBand dataType="Float32" band="{index}">'
                           f"<Description>{escape(name)}</Description>{keep}"
                           f"<ComplexSource>{origin}{nodata_tag}</ComplexSource>"
                           "</VRTRasterBand>")
                continue
            function = "dB2pow" if units[name] == "db" else None
            sources = f"<ComplexSource>{origin}{nodata_tag}</ComplexSource>"
            if sea is not None:
                inner = target.with_name(f"{target.stem}_{name}.vrt")
                _derived_band_vrt(dataset, sources, function, inner)
                function = "mul"
                sources = (f"<SimpleSource><SourceFilename relativeToVRT=\"0\">"
                           f"{escape(str(inner))}</SourceFilename><SourceBand>1</SourceBand>"
                           "</SimpleSource><SimpleSource><SourceFilename relativeToVRT=\"0\">"
                           f"{escape(str(sea))}</SourceFilename><SourceBand>1</SourceBand>"
                           "</SimpleSource>")
            out.append(_band_xml(index, name, function, sources))
    out.append("</VRTDataset>")
    target.write_text("\n".join(out), encoding="utf-8")
    return target


def _band_xml(index: int, name: str, function: str | None, sources: str) -> str:
    kind = ' subClass="VRTDerivedRasterBand"' if function else ""
    pixel = f"<PixelFunctionType>{function}</PixelFunctionType>" if function else ""
    return (f'<VRTRasterBand dataType="Float32" band="{index}"{kind}>'
            f"<Description>{escape(name)}</Description><NoDataValue>nan</NoDataValue>"
            f"{pixel}{sources}</VRTRasterBand>")


def _derived_band_vrt(dataset: gdal.Dataset, sources: str, function: str | None,
                      target: Path) -> None:
    text = (f'<VRTDataset rasterXSize="{dataset.RasterXSize}" '
            f'rasterYSize="{dataset.RasterYSize}">'
            + _band_xml(1, "sigma0", function, sources) + "</VRTDataset>")
    target.write_text(text, encoding="utf-8")


def _xml_number(value: float) -> str:
    return "nan" if math.isnan(value) else repr(float(value))


def valid_fraction(path: Path, bands: int) -> float:
    """Share of a decimated sample of the prepared VRT where every SAR band is measured."""
    dataset = gdal.Open(str(path))
    valid = None
    for number in range(1, bands + 1):
        values = sample(dataset, number)
        ok = np.isfinite(values) & (values > 0)
        valid = ok if valid is None else valid & ok
    return float(valid.mean()) if valid is not None and valid.size else 0.0
