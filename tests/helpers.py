"""Test helpers: small real ONNX models, GeoTIFFs from the shared samples, qgis_process runs."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from pathlib import Path

import numpy as np
from osgeo import gdal, ogr, osr

from rsai_toolbox.models.runtime.conv_onnx import write_conv_onnx

REPO = Path(__file__).resolve().parents[1]
QGIS_PROCESS = REPO / "scripts" / "qgis_process"
EXAMPLE_MODELS = REPO / "resources" / "models"  # the graphical models shipped with the plugin

# landcover_s2 grid, from its PROVENANCE.md
LANDCOVER_GEOTRANSFORM = (465181.05, 9.9948, 0.0, 5080254.63, 0.0, -9.9973)
S2_L1C_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10",
                "B11", "B12")


def conv_onnx(path: Path, in_channels: int, out_channels: int, kernel: int = 1, seed: int = 0,
              metadata: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A random one-layer convolution network as ONNX; returns its (weight, bias)."""
    rng = np.random.default_rng(seed)
    weight = rng.normal(0, 1, (out_channels, in_channels, kernel, kernel)).astype(np.float32)
    bias = rng.normal(0, 0.1, out_channels).astype(np.float32)
    write_conv_onnx(path, weight, bias, metadata)
    return weight, bias


def onnx_model(path: Path, nodes, inputs: dict, outputs: dict, weights: dict) -> Path:
    """A real ONNX file from a few nodes: ``inputs``/``outputs`` map names to shapes (None or
    text for free dimensions), ``weights`` names to arrays."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def info(name, shape):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)

    graph = helper.make_graph(nodes, "test", [info(k, v) for k, v in inputs.items()],
                              [info(k, v) for k, v in outputs.items()],
                              [numpy_helper.from_array(np.asarray(v), k) for k, v in weights.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def two_input_onnx(path: Path, a_channels: int, b_channels: int, ratio: int, classes: int,
                   seed: int = 0):
    """out = conv1x1(a) + nearest-upsampled conv1x1(b): inputs "aerial" (N, A, T, T) and
    "satellite" (N, B, T/ratio, T/ratio). Returns the two weight matrices and the bias."""
    from onnx import helper
    rng = np.random.default_rng(seed)
    wa = rng.normal(0, 1, (classes, a_channels, 1, 1)).astype(np.float32)
    wb = rng.normal(0, 1, (classes, b_channels, 1, 1)).astype(np.float32)
    bias = rng.normal(0, 0.1, classes).astype(np.float32)
    nodes = [helper.make_node("Conv", ["aerial", "WA", "B"], ["fa"]),
             helper.make_node("Conv", ["satellite", "WB"], ["fb"]),
             helper.make_node("Resize", ["fb", "", "scales"], ["up"], mode="nearest"),
             helper.make_node("Add", ["fa", "up"], ["output"])]
    onnx_model(path, nodes, {"aerial": ["N", a_channels, "H", "W"],
                             "satellite": ["N", b_channels, "h", "w"]},
               {"output": ["N", classes, "H", "W"]},
               {"WA": wa, "WB": wb, "B": bias,
                "scales": np.array([1, 1, ratio, ratio], np.float32)})
    return wa[:, :, 0, 0], wb[:, :, 0, 0], bias


def window_mean_onnx(path: Path, channels: int) -> Path:
    """A patch model that answers each window's mean per band: (N, C, w, w) -> (N, C)."""
    from onnx import helper
    return onnx_model(path, [helper.make_node("ReduceMean", ["input"], ["output"], axes=[2, 3],
                                              keepdims=0)],
                      {"input": ["N", channels, "h", "w"]}, {"output": ["N", channels]}, {})


def linear_table_onnx(path: Path, features: int, targets: int, seed: int = 0):
    """A pixel-table regressor rows (N, F) -> (N, K): X @ W + b. Returns (W, b)."""
    from onnx import helper
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 1, (features, targets)).astype(np.float32)
    b = rng.normal(0, 1, targets).astype(np.float32)
    onnx_model(path, [helper.make_node("MatMul", ["X", "W"], ["xw"]),
                      helper.make_node("Add", ["xw", "b"], ["values"])],
               {"X": ["N", features]}, {"values": ["N", targets]}, {"W": w, "b": b})
    return w, b


def apply_pointwise(weight: np.ndarray, bias: np.ndarray, image: np.ndarray) -> np.ndarray:
    """What a 1x1 conv computes on (C, H, W): the expected model output, without the model."""
    return np.einsum("kc,chw->khw", weight[:, :, 0, 0], image) + bias[:, None, None]


GDAL_TYPES = {np.dtype(np.float32): gdal.GDT_Float32, np.dtype(np.float64): gdal.GDT_Float64,
              np.dtype(np.uint8): gdal.GDT_Byte, np.dtype(np.uint16): gdal.GDT_UInt16,
              np.dtype(np.int16): gdal.GDT_Int16, np.dtype(np.int32): gdal.GDT_Int32}


def write_geotiff(path: Path, array: np.ndarray, geotransform=LANDCOVER_GEOTRANSFORM,
                  epsg: int | None = 32633, nodata: float | None = None,
                  descriptions=()) -> Path:
    """(bands, rows, cols) or (rows, cols) array to a GeoTIFF of the array's type (other
    integer types: UInt16; other floats: Float32)."""
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[None]
    dtype = GDAL_TYPES.get(array.dtype,
                           gdal.GDT_Float32 if array.dtype.kind == "f" else gdal.GDT_UInt16)
    ds = gdal.GetDriverByName("GTiff").Create(str(path), array.shape[2], array.shape[1],
                                              array.shape[0], dtype)
    ds.SetGeoTransform(geotransform)
    if epsg:
        srs = osr.SpatialReference()
        srs.ImportFromEPSG(epsg)
        ds.SetProjection(srs.ExportToWkt())
    for i, band in enumerate(array):
        b = ds.GetRasterBand(i + 1)
        b.WriteArray(band)
        if nodata is not None:
            b.SetNoDataValue(nodata)
        if i < len(descriptions):
            b.SetDescription(descriptions[i])
    ds = None
    return path


def landcover_scene(shared_data: Path, scene: int = 2) -> np.ndarray:
    """One real landcover_s2 scene as (13, 101, 100) float32 TOA reflectance (0..1)."""
    scenes = np.load(shared_data / "landcover_s2" / "REFERENCE_SCENES.npy", mmap_mode="r")
    return np.ascontiguousarray(np.moveaxis(np.asarray(scenes[scene]), -1, 0), np.float32)


def landcover_geotiff(shared_data: Path, path: Path, scene: int = 2) -> Path:
    """The real landcover_s2 scene as a 13-band GeoTIFF (TOA reflectance 0..1)."""
    return write_geotiff(path, landcover_scene(shared_data, scene), LANDCOVER_GEOTRANSFORM,
                         descriptions=S2_L1C_BANDS)


def landcover_polygons(shared_data: Path) -> Path:
    """The labelled polygons of landcover_s2 (LULC_ID, LULC_NAME), in the scene's CRS."""
    return shared_data / "landcover_s2" / "LULC_polygons.gpkg"


def geopackage_layers(path: Path) -> dict[str, int]:
    """{layer name: feature count} of a GeoPackage."""
    ds = ogr.Open(str(path))
    return {ds.GetLayer(i).GetName(): ds.GetLayer(i).GetFeatureCount()
            for i in range(ds.GetLayerCount())}


def read(path: Path) -> tuple[np.ndarray, gdal.Dataset]:
    ds = gdal.Open(str(path))
    return ds.ReadAsArray(), ds


def qgis_process(*args: str, env: dict | None = None, check: bool = True,
                 timeout: int = 600) -> subprocess.CompletedProcess:
    """Run scripts/qgis_process; ``env`` adds variables (use an isolated QGIS profile)."""
    full_env = {**os.environ, **(env or {})}
    result = subprocess.run([str(QGIS_PROCESS), *args], capture_output=True, text=True,
                            env=full_env, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"qgis_process {' '.join(args)} failed ({result.returncode}):\n"
                             f"{result.stdout}\n{result.stderr}")
    return result


def snapshot(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (hidden ones included), by relative path.

    Left out: ``<raster>.aux.xml`` beside an input raster, where QGIS itself (not this
    toolbox) caches the histogram it computes when Processing loads the layer; the input's own
    bytes are compared."""
    files = {p for p in folder.rglob("*") if p.is_file()}
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(files)
            if not (p.name.endswith(".aux.xml") and p.with_name(p.name[:-8]) in files
                    and _only_statistics(p.read_text(errors="replace")))}


def _only_statistics(aux: str) -> bool:
    """A PAM file holding nothing but QGIS's cached histograms / statistics."""
    stripped = re.sub(r"<Histograms>.*?</Histograms>|<MDI key=\"STATISTICS_[A-Z_]+\">[^<]*</MDI>"
                      r"|</?(PAMDataset|PAMRasterBand|Metadata)[^>]*>|\s+", "", aux, flags=re.S)
    return stripped == ""
