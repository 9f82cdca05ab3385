"""Test helpers for sea ice: small Keras HDF5 files, AI4Arctic-layout netCDF scenes, SAR rasters."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

NERSC_WEIGHTS = "seaice/nersc_s1_icetype_cnn_weights.hdf5"


def keras_layer(class_name: str, name: str, **config) -> dict:
    """A layer entry as Keras 2.2 writes it in model_config."""
    defaults = {
        "Conv2D": {"strides": [1, 1], "padding": "valid", "data_format": "channels_last",
                   "dilation_rate": [1, 1], "activation": "relu", "use_bias": True},
        "MaxPooling2D": {"pool_size": [2, 2], "strides": [2, 2], "padding": "valid",
                         "data_format": "channels_last"},
        "BatchNormalization": {"axis": -1, "epsilon": 0.001, "center": True, "scale": True},
        "Dense": {"activation": "relu", "use_bias": True},
        "Flatten": {"data_format": "channels_last"},
        "Dropout": {"rate": 0.1},
    }.get(class_name, {})
    return {"class_name": class_name, "config": {"name": name, "trainable": True,
                                                 **defaults, **config}}


def write_keras_hdf5(path: Path, layers: list[dict], weights: dict[str, dict[str, np.ndarray]],
                     input_shape=(50, 50, 2), model_config: bool = True) -> Path:
    """A Keras-2.2-style model file: model_config JSON + model_weights/<layer>/<layer>/<w>:0."""
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.2.4"
        f.attrs["backend"] = b"tensorflow"
        if model_config:
            config = {"class_name": "Sequential",
                      "config": {"name": "sequential_1", "layers": layers,
                                 "build_input_shape": [None, *input_shape]}}
            f.attrs["model_config"] = json.dumps(config).encode()
        group = f.create_group("model_weights")
        names = [entry["config"]["name"] for entry in layers]
        group.attrs["layer_names"] = np.array([n.encode() for n in names])
        for name in names:
            layer_group = group.create_group(name)
            arrays = weights.get(name, {})
            layer_group.attrs["weight_names"] = np.array(
                [f"{name}/{key}:0".encode() for key in arrays])
            for key, array in arrays.items():
                layer_group.create_dataset(f"{name}/{key}:0", data=np.asarray(array, np.float32))
    return path


def random_cnn(path: Path, rng: np.random.Generator, window: int = 12, bands: int = 2,
               classes: int = 3, filters: int = 4, hidden: int = 5) -> Path:
    """A small random Keras CNN with every supported layer kind (not the NERSC architecture)."""
    def normal(*shape, scale=0.3):
        return rng.normal(0, scale, shape).astype(np.float32)

    conv_out = (window - 2) // 2  # conv 3x3 valid, then pool 2
    layers = [keras_layer("BatchNormalization", "bn_in"),
              keras_layer("Conv2D", "conv", filters=filters, kernel_size=[3, 3]),
              keras_layer("MaxPooling2D", "pool"),
              keras_layer("Flatten", "flat"),
              keras_layer("Dropout", "drop"),
              keras_layer("Dense", "hidden", units=hidden, activation="tanh"),
              keras_layer("BatchNormalization", "bn_hidden", center=False),
              keras_layer("Dense", "out", units=classes, activation="softmax")]
    features = conv_out * conv_out * filters
    weights = {
        "bn_in": {"gamma": 1 + normal(bands), "beta": normal(bands),
                  "moving_mean": normal(bands, scale=2), "moving_variance": 0.5 + rng.random(bands)},
        "conv": {"kernel": normal(3, 3, bands, filters), "bias": normal(filters)},
        "hidden": {"kernel": normal(features, hidden, scale=0.1), "bias": normal(hidden)},
        "bn_hidden": {"gamma": 1 + normal(hidden), "moving_mean": normal(hidden),
                      "moving_variance": 0.5 + rng.random(hidden)},
        "out": {"kernel": normal(hidden, classes), "bias": normal(classes)},
    }
    return write_keras_hdf5(path, layers, weights, (window, window, bands))


# -- a small Sentinel-1 GRD product in SAFE layout (what GDAL's SAFE driver reads) ----------------
def write_safe_product(root: Path, polarisations=("HH", "HV"), width: int = 64, height: int = 48,
                       dn: np.ndarray | None = None, sigma_lut: float = 500.0,
                       corners=((75.0, -20.0), (75.5, -14.0), (77.0, -15.0), (76.5, -21.5)),
                       mode: str = "EW") -> Path:
    """``<root>/S1A_..._TEST.SAFE`` with manifest.safe, annotation, calibration and UInt16
    measurement GeoTIFFs (no georeferencing: a 3 x 3 geolocation grid of GCPs in the annotation,
    interpolated between the (lat, lon) ``corners`` of lines 0/last and pixels 0/last).
    ``dn``: (len(polarisations), height, width) digital numbers; sigma0 = DN^2 / sigma_lut^2."""
    from osgeo import gdal

    safe = root / f"S1A_{mode}_GRDM_1SDH_20200323T053203_20200323T053303_031000_038F00_TEST.SAFE"
    for folder in ("annotation/calibration", "measurement"):
        (safe / folder).mkdir(parents=True, exist_ok=True)
    if dn is None:
        rng = np.random.default_rng(0)
        dn = rng.integers(50, 400, (len(polarisations), height, width))
    units, metadata_objects, data_objects = [], [], []
    for index, (pol, band) in enumerate(zip(polarisations, dn), start=1):
        stem = f"s1a-{mode.lower()}-grd-{pol.lower()}-20200323t053203-20200323t053303-031000-038f00-{index:03d}"
        tiff = safe / "measurement" / f"{stem}.tiff"
        ds = gdal.GetDriverByName("GTiff").Create(str(tiff), width, height, 1, gdal.GDT_UInt16)
        ds.GetRasterBand(1).WriteArray(np.asarray(band, np.uint16))
        ds = None
        (safe / "annotation" / f"{stem}.xml").write_text(
            _annotation_xml(pol, mode, width, height, corners, index))
        (safe / "annotation" / "calibration" / f"calibration-{stem}.xml").write_text(
            _calibration_xml(width, height, sigma_lut))
        key = stem.replace("-", "")
        units.append(
            f'<xfdu:contentUnit unitType="Measurement Data Unit" repID="s1Level1MeasurementSchema" '
            f'dmdID="product{key}Annotation calibration{key}Annotation">'
            f'<dataObjectPointer dataObjectID="{key}"/></xfdu:contentUnit>')
        for kind, rep in (("product", "s1Level1ProductSchema"),
                          ("calibration", "s1Level1CalibrationSchema")):
            metadata_objects.append(
                f'<metadataObject ID="{kind}{key}Annotation" classification="DESCRIPTION" '
                f'category="DMD"><dataObjectPointer dataObjectID="{kind}{key}"/></metadataObject>')
        href = {"product": f"./annotation/{stem}.xml",
                "calibration": f"./annotation/calibration/calibration-{stem}.xml"}
        for kind, rep in (("product", "s1Level1ProductSchema"),
                          ("calibration", "s1Level1CalibrationSchema")):
            data_objects.append(
                f'<dataObject ID="{kind}{key}" repID="{rep}"><byteStream mimeType="text/xml">'
                f'<fileLocation locatorType="URL" href="{href[kind]}"/></byteStream></dataObject>')
        data_objects.append(
            f'<dataObject ID="{key}" repID="s1Level1MeasurementSchema"><byteStream '
            f'mimeType="application/octet-stream"><fileLocation locatorType="URL" '
            f'href="./measurement/{stem}.tiff"/></byteStream></dataObject>')
    (safe / "manifest.safe").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<xfdu:XFDU xmlns:xfdu="urn:ccsds:schema:xfdu:1" '
        'xmlns:safe="http://www.esa.int/safe/sentinel-1.0" version="esa/safe/sentinel-1.0">'
        '<informationPackageMap><xfdu:contentUnit unitType="SAFE Archive Information Package">'
        + "".join(units) + "</xfdu:contentUnit></informationPackageMap>"
        "<metadataSection>" + "".join(metadata_objects) + "</metadataSection>"
        "<dataObjectSection>" + "".join(data_objects) + "</dataObjectSection></xfdu:XFDU>\n")
    return safe


def _annotation_xml(pol, mode, width, height, corners, index) -> str:
    (lat00, lon00), (lat0w, lon0w), (lathw, lonhw), (lath0, lonh0) = corners
    points = []
    for fy in (0.0, 0.5, 1.0):
        for fx in (0.0, 0.5, 1.0):
            lat = (1 - fy) * ((1 - fx) * lat00 + fx * lat0w) + fy * ((1 - fx) * lath0 + fx * lathw)
            lon = (1 - fy) * ((1 - fx) * lon00 + fx * lon0w) + fy * ((1 - fx) * lonh0 + fx * lonhw)
            points.append(
                f"<geolocationGridPoint><azimuthTime>2020-03-23T05:32:03.000000</azimuthTime>"
                f"<slantRangeTime>5.0e-03</slantRangeTime><line>{fy * (height - 1):.0f}</line>"
                f"<pixel>{fx * (width - 1):.0f}</pixel><latitude>{lat}</latitude>"
                f"<longitude>{lon}</longitude><height>0</height>"
                f"<incidenceAngle>{20 + 25 * fx}</incidenceAngle></geolocationGridPoint>")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<product><adsHeader>'
        f"<missionId>S1A</missionId><productType>GRD</productType><polarisation>{pol}"
        f"</polarisation><mode>{mode}</mode><swath>{mode}</swath>"
        "<startTime>2020-03-23T05:32:03.000000</startTime>"
        "<stopTime>2020-03-23T05:33:03.000000</stopTime>"
        f"<imageNumber>{index:03d}</imageNumber></adsHeader>"
        "<imageAnnotation><imageInformation>"
        "<rangePixelSpacing>4.0e+01</rangePixelSpacing>"
        "<azimuthPixelSpacing>4.0e+01</azimuthPixelSpacing>"
        f"<numberOfSamples>{width}</numberOfSamples><numberOfLines>{height}</numberOfLines>"
        "<outputPixels>16 bit Unsigned Integer</outputPixels></imageInformation>"
        "<processingInformation><ellipsoidName>WGS84</ellipsoidName>"
        "<ellipsoidSemiMajorAxis>6378137</ellipsoidSemiMajorAxis>"
        "<ellipsoidSemiMinorAxis>6356752.314245179</ellipsoidSemiMinorAxis>"
        "</processingInformation></imageAnnotation>"
        f"<geolocationGrid><geolocationGridPointList count=\"{len(points)}\">"
        + "".join(points) + "</geolocationGridPointList></geolocationGrid></product>\n")


def _calibration_xml(width, height, sigma_lut) -> str:
    pixels = " ".join(str(p) for p in (0, width // 2, width - 1))
    values = " ".join([f"{sigma_lut:.6e}"] * 3)
    vectors = "".join(
        f"<calibrationVector><azimuthTime>2020-03-23T05:32:{3 + 60 * i:02d}.000000</azimuthTime>"
        f"<line>{i * (height - 1)}</line><pixel count=\"3\">{pixels}</pixel>"
        f"<sigmaNought count=\"3\">{values}</sigmaNought><betaNought count=\"3\">{values}"
        f"</betaNought><gamma count=\"3\">{values}</gamma><dn count=\"3\">{values}</dn>"
        "</calibrationVector>" for i in range(2))
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<calibration><adsHeader>'
            "<startTime>2020-03-23T05:32:03.000000</startTime>"
            "<stopTime>2020-03-23T05:33:03.000000</stopTime></adsHeader>"
            f'<calibrationVectorList count="2">{vectors}</calibrationVectorList></calibration>\n')


# -- AI4Arctic ready-to-train scenes ------------------------------------------------------------
# dB levels (HH, HV) of the SOD classes in the synthetic scenes: separable, as in winter scenes
SOD_LEVELS_DB = {0: (-22.0, -30.0), 1: (-19.0, -29.0), 2: (-12.0, -25.0), 3: (-16.0, -26.0),
                 4: (-14.0, -24.0), 5: (-8.0, -18.0)}
SOD_TO_SIC = {0: 0, 1: 8, 2: 9, 3: 10, 4: 10, 5: 10}
SOD_TO_FLOE = {0: 0, 1: 1, 2: 2, 3: 3, 4: 4, 5: 5}


def write_ai4arctic_scene(path: Path, rows: int = 64, cols: int = 96, seed: int = 0,
                          angle: bool = True, drop: tuple = ()) -> Path:
    """A netCDF-4 scene in the AI4Arctic ready-to-train layout: SAR in dB (NaN outside the
    swath), incidence angle, and SIC/SOD/FLOE charts (255 on 'land') made of rectangles of
    SOD classes whose backscatter levels differ, so a network can learn them."""
    import h5netcdf

    rng = np.random.default_rng(seed)
    sod = np.zeros((rows, cols), np.uint8)
    for _ in range(8):
        r, c = rng.integers(0, rows - 8), rng.integers(0, cols - 8)
        sod[r:r + rng.integers(8, rows // 2), c:c + rng.integers(8, cols // 2)] = rng.integers(0, 6)
    hh = np.vectorize(lambda k: SOD_LEVELS_DB[k][0])(sod).astype(np.float32)
    hv = np.vectorize(lambda k: SOD_LEVELS_DB[k][1])(sod).astype(np.float32)
    hh += rng.normal(0, 1.0, hh.shape).astype(np.float32)
    hv += rng.normal(0, 1.0, hv.shape).astype(np.float32)
    hh[:, :3] = hv[:, :3] = np.nan  # outside the swath
    sic = np.vectorize(SOD_TO_SIC.get)(sod).astype(np.uint8)
    floe = np.vectorize(SOD_TO_FLOE.get)(sod).astype(np.uint8)
    land = np.zeros((rows, cols), bool)
    land[-6:, -10:] = True
    for chart in (sic, sod, floe):
        chart[land] = 255
        chart[:, :3] = 255
    variables = {"nersc_sar_primary": hh, "nersc_sar_secondary": hv, "SIC": sic, "SOD": sod,
                 "FLOE": floe}
    if angle:
        variables["sar_incidenceangle"] = np.tile(np.linspace(19, 47, cols, dtype=np.float32),
                                                  (rows, 1))
    with h5netcdf.File(path, "w") as nc:
        nc.dimensions = {"sar_lines": rows, "sar_samples": cols}
        for name, data in variables.items():
            if name in drop:
                continue
            var = nc.create_variable(name, ("sar_lines", "sar_samples"), data=data)
            if data.dtype == np.uint8:
                var.attrs["_FillValue"] = np.uint8(255)
    return path


# -- Sentinel-1 rasters for the sea-ice tools -----------------------------------------------------
# The released NERSC network was trained on an unpublished input scale (its first batch norm
# sees HH 138 +/- 32, HV 70 +/- 26). Tests that need all its classes use the released weights
# through a card whose normalisation maps dB HH -15 +/- 5 and HV -25 +/- 5 onto that scale.
SCALED_MEAN = [-15.0 - 138.3 * 5 / 32, -25.0 - 70.1 * 5 / 26]
SCALED_STD = [5 / 32, 5 / 26]
POLAR_STEREO = 3413  # NSIDC sea-ice polar stereographic north
ORIGIN = (500000.0, 8000000.0)


def scaled_nersc_card(path: Path, weights: Path, card_id: str = "nersc-scaled-test") -> Path:
    """The built-in NERSC card with the released weights as local file and the test scaling."""
    from rsai_toolbox.models.registry import BUILTIN_CARDS

    card = json.loads((BUILTIN_CARDS / "nersc-s1-icetype.json").read_text())
    card.pop("weights")
    card.update(id=card_id, title="NERSC CNN (test scaling)", local_weights=str(weights))
    card["inputs"][0].update(mean=SCALED_MEAN, std=SCALED_STD)
    path.write_text(json.dumps(card), encoding="utf-8")
    return path


def sar_scene(rows: int, cols: int, seed: int = 0, block: int = 50) -> np.ndarray:
    """Linear HH/HV sigma0 (2, rows, cols) float32: blocks of ice-like levels with speckle
    (at a window step below the block size, windows mix levels)."""
    rng = np.random.default_rng(seed)
    by, bx = -(-rows // block), -(-cols // block)
    hh = rng.uniform(-25, -5, (by, bx))
    hv = hh - rng.uniform(5, 15, (by, bx))
    texture = rng.uniform(0.5, 4, (by, bx))
    levels = np.stack([hh, hv])
    db = levels[:, np.arange(rows)[:, None] // block, np.arange(cols)[None, :] // block]
    tex = texture[np.arange(rows)[:, None] // block, np.arange(cols)[None, :] // block]
    db = db + tex * rng.normal(0, 1, (2, rows, cols))
    return (10 ** (db / 10)).astype(np.float32)


def write_sar_geotiff(path: Path, linear: np.ndarray, pixel: float = 40.0, db: bool = False,
                      descriptions=("Sigma0_HH", "Sigma0_HV"), nodata: float | None = None,
                      epsg: int | None = POLAR_STEREO) -> Path:
    """A north-up GeoTIFF of ``linear`` (in dB when ``db``) on a polar stereographic grid."""
    from helpers import write_geotiff

    values = (10 * np.log10(linear)).astype(np.float32) if db else linear
    return write_geotiff(path, values, (ORIGIN[0], pixel, 0.0, ORIGIN[1], 0.0, -pixel),
                         epsg=epsg, nodata=nodata, descriptions=descriptions)


def write_unreferenced_sar(path: Path, linear: np.ndarray) -> Path:
    """A GeoTIFF of ``linear`` without geotransform, GCPs or CRS."""
    from osgeo import gdal

    ds = gdal.GetDriverByName("GTiff").Create(str(path), linear.shape[2], linear.shape[1],
                                              linear.shape[0], gdal.GDT_Float32)
    for index, band in enumerate(linear):
        ds.GetRasterBand(index + 1).WriteArray(band)
    ds = None
    return path


def tree_digest(path: Path) -> str:
    """sha256 of a file, or of every file under a folder (a .SAFE product): input untouched?"""
    import hashlib

    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()
