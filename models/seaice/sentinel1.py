"""Sentinel-1 inputs as GDAL rasters on a north-up grid: SAFE products and GCP-only images.

A GRD product (``.SAFE`` folder, its ``manifest.safe`` or the downloaded ``.zip``) is read with
GDAL's SAFE driver. Networks need sigma0, so only the driver's calibrated subdatasets
(``SENTINEL1_CALIB:SIGMA0:...:INTENSITY``) are used; a GDAL that does not offer them for the
product gets a clear error saying how to calibrate first, never silently the raw digital numbers.
GRD images and many calibrated exports (SNAP GeoTIFF) are georeferenced by ground control points
only; they are warped onto a north-up grid (a VRT, nothing big written) before tiling.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

from osgeo import gdal, osr

from ..errors import UserError
from ..runtime.gdal_exceptions import gdal_exceptions


CALIBRATE_FIRST = (
    "Calibrate the product to sigma0 first: in SNAP, Radar > Radiometric > Thermal Noise Removal "
    "then Calibrate (output sigma0), exported as GeoTIFF; or with esa_snappy, "
    "GPF.createProduct('ThermalNoiseRemoval', ...) then 'Calibration' with outputSigmaBand=True. "
    "Then give that GeoTIFF as INPUT.")
_SIGMA0 = re.compile(r"^SENTINEL1_CALIB:SIGMA0:(?P<path>.+):(?P<swath>[A-Z0-9]+)_(?P<pol>[HV]{2})"
                     r":INTENSITY$")


@gdal_exceptions()
def is_sentinel1_product(path: str | Path) -> bool:
    """A .SAFE folder, a manifest.safe, or a .zip holding a .SAFE folder."""
    path = Path(path)
    if path.suffix.lower() == ".zip":
        return path.is_file() and _safe_in_zip(path) is not None
    return (path.is_dir() and (path / "manifest.safe").is_file()) or path.name == "manifest.safe"


def _safe_in_zip(path: Path) -> str | None:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except zipfile.BadZipFile:
        return None
    return next((n.split("/")[0] for n in names if n.split("/")[0].upper().endswith(".SAFE")
                 and n.endswith("manifest.safe")), None)


def gdal_product_name(path: str | Path) -> str:
    """What GDAL's SAFE driver opens for ``path`` (a zip is read in place through /vsizip/)."""
    path = Path(path)
    if path.suffix.lower() == ".zip":
        safe = _safe_in_zip(path)
        if safe is None:
            raise UserError(f"{path} holds no .SAFE folder with a manifest.safe: not a "
                            "Sentinel-1 product as downloaded from the Copernicus Data Space.")
        return f"/vsizip/{path.resolve()}/{safe}/manifest.safe"
    if path.is_dir():
        return str(path.resolve() / "manifest.safe")
    return str(path.resolve())


def open_product(path: str | Path) -> gdal.Dataset:
    name = gdal_product_name(path)
    try:
        dataset = gdal.Open(name)
    except RuntimeError as exc:
        raise UserError(f"GDAL cannot read the Sentinel-1 product {path}: {exc}") from exc
    if dataset is None or dataset.GetDriver().ShortName != "SAFE":
        raise UserError(f"{path} is not a Sentinel-1 SAFE product GDAL's SAFE driver reads.")
    return dataset


def polarisations(dataset: gdal.Dataset) -> list[str]:
    """Polarisations of the product's measurement bands (HH, HV, VV, VH)."""
    return [dataset.GetRasterBand(i + 1).GetMetadataItem("POLARIZATION") or ""
            for i in range(dataset.RasterCount)]


def sigma0_subdatasets(dataset: gdal.Dataset) -> dict[str, str]:
    """Polarisation -> calibrated sigma0 subdataset name, for those the installed GDAL offers."""
    found = {}
    for key, value in (dataset.GetMetadata("SUBDATASETS") or {}).items():
        match = _SIGMA0.match(value) if key.endswith("_NAME") else None
        if match:
            found.setdefault(match["pol"], value)
    return found


def sigma0_vrt(path: str | Path, workdir: str | Path, wanted=("HH", "HV"),
               dst_srs: str | None = None) -> Path:
    """Calibrated sigma0 of ``wanted`` polarisations as one north-up VRT in ``workdir``.

    Bands are described by polarisation so band matching finds them. Errors name what is
    missing: a polarisation (single-pol product) or calibration support in this GDAL.
    """
    dataset = open_product(path)
    present = polarisations(dataset)
    missing = [p for p in wanted if p not in present]
    if missing:
        raise UserError(f"{Path(path).name} has polarisation(s) {', '.join(present)} but the "
                        f"model needs {', '.join(wanted)}: choose a dual-polarisation product "
                        f"({'1SDH' if 'HH' in wanted else '1SDV'}) or a model for the "
                        "polarisations present.")
    calibrated = sigma0_subdatasets(dataset)
    if not all(p in calibrated for p in wanted):
        raise UserError(
            f"the installed GDAL ({gdal.__version__}) offers no calibrated sigma0 for "
            f"{Path(path).name} (its SAFE driver lists only "
            f"{_listed_kinds(dataset) or 'no'} subdatasets for this product), and the raw "
            f"digital numbers are not sigma0. {CALIBRATE_FIRST}")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    stacked = stack_vrt([calibrated[p] for p in wanted], list(wanted),
                        workdir / f"{_stem(path)}_sigma0_stack.vrt")
    return north_up_vrt(stacked, workdir / f"{_stem(path)}_sigma0.vrt", dst_srs)


def _listed_kinds(dataset: gdal.Dataset) -> str:
    kinds = {v.split(":")[1] for k, v in (dataset.GetMetadata("SUBDATASETS") or {}).items()
             if k.endswith("_NAME") and v.startswith("SENTINEL1_CALIB:")}
    return ", ".join(sorted(kinds))


def _stem(path: str | Path) -> str:
    name = Path(path).name
    if name == "manifest.safe":
        name = Path(path).parent.name
    return name.split(".")[0]


def stack_vrt(sources: list[str], descriptions: list[str], target: Path) -> Path:
    """One VRT with band i = band 1 of ``sources[i]``; keeps the first source's georeferencing
    (geotransform or GCPs), which plain gdalbuildvrt refuses for GCP-only images."""
    first = gdal.Open(sources[0])
    driver = gdal.GetDriverByName("VRT")
    vrt = driver.Create(str(target), first.RasterXSize, first.RasterYSize, 0)
    for index, (source, description) in enumerate(zip(sources, descriptions), start=1):
        other = gdal.Open(source)
        if (other.RasterXSize, other.RasterYSize) != (first.RasterXSize, first.RasterYSize):
            raise UserError(f"{source} is {other.RasterXSize} x {other.RasterYSize} pixels, "
                            f"{sources[0]} {first.RasterXSize} x {first.RasterYSize}: the "
                            "bands of one scene must share a grid.")
        vrt.AddBand(other.GetRasterBand(1).DataType)
        band = vrt.GetRasterBand(index)
        band.SetMetadataItem("source_0", f"<SimpleSource><SourceFilename relativeToVRT=\"0\">"
                             f"{escape(source)}</SourceFilename><SourceBand>1</SourceBand>"
                             "</SimpleSource>", "new_vrt_sources")
        band.SetDescription(description)
        nodata = other.GetRasterBand(1).GetNoDataValue()
        if nodata is not None:
            band.SetNoDataValue(nodata)
    if first.GetGCPCount():
        vrt.SetGCPs(first.GetGCPs(), first.GetGCPProjection())
    else:
        vrt.SetGeoTransform(first.GetGeoTransform())
        vrt.SetProjection(first.GetProjection())
    vrt = None
    return target


def has_geotransform(dataset: gdal.Dataset) -> bool:
    return dataset.GetGeoTransform(can_return_null=True) is not None and bool(
        dataset.GetProjection())


def north_up_vrt(source: str | Path, target: str | Path, dst_srs: str | None = None) -> Path:
    """``source`` itself when it already has a geotransform; otherwise its GCPs' warp onto a
    north-up grid in ``dst_srs`` (default: a polar stereographic or UTM grid for the scene)
    written as a VRT (bilinear, thin-plate spline through the GCPs, nodata kept)."""
    dataset = gdal.Open(str(source))
    if has_geotransform(dataset):
        return Path(source)
    if dataset.GetGCPCount() < 3:
        raise UserError(f"{source} has neither a geotransform nor ground control points: "
                        "georeference it (or give the original product) first.")
    gcps = dataset.GetGCPs()
    source_srs = osr.SpatialReference(wkt=dataset.GetGCPProjection() or osr.SRS_WKT_WGS84_LAT_LONG)
    source_srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    if dst_srs is None:
        lon, lat = _centre_lon_lat(gcps, source_srs)
        dst_srs = grid_crs_for(lat, lon)
    nodata = dataset.GetRasterBand(1).GetNoDataValue()
    floating = dataset.GetRasterBand(1).DataType in (gdal.GDT_Float32, gdal.GDT_Float64)
    gdal.Warp(str(target), dataset, format="VRT", dstSRS=dst_srs, tps=True,
              resampleAlg="bilinear", srcNodata=nodata,
              dstNodata=nodata if nodata is not None else (float("nan") if floating else 0))
    return Path(target)


def _centre_lon_lat(gcps, srs: osr.SpatialReference) -> tuple[float, float]:
    x = sum(g.GCPX for g in gcps) / len(gcps)
    y = sum(g.GCPY for g in gcps) / len(gcps)
    if srs.IsGeographic():
        return x, y
    wgs84 = osr.SpatialReference()
    wgs84.ImportFromEPSG(4326)
    wgs84.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    lon, lat, _ = osr.CoordinateTransformation(srs, wgs84).TransformPoint(x, y)
    return lon, lat


def grid_crs_for(lat: float, lon: float) -> str:
    """NSIDC sea-ice polar stereographic north/south beyond 60 degrees, else the UTM zone."""
    if lat >= 60:
        return "EPSG:3413"
    if lat <= -60:
        return "EPSG:3976"
    zone = int((lon + 180) // 6) % 60 + 1
    return f"EPSG:{32600 + zone if lat >= 0 else 32700 + zone}"
