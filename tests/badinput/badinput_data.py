"""Small synthetic inputs for the bad-input barrage (no shared data needed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from osgeo import ogr, osr

from helpers import conv_onnx, write_geotiff

GEOTRANSFORM = (500000.0, 10.0, 0.0, 5000000.0, 0.0, -10.0)
CLASSES = [{"value": 0, "name": "water", "color": "#0000ff"},
           {"value": 1, "name": "forest", "color": "#00aa00"},
           {"value": 2, "name": "crops", "color": "#ffcc00"}]


def card(**changes) -> dict:
    """A valid three-band segmentation card; ``changes`` replace top-level keys."""
    base = {"id": "badinput", "task": "segmentation", "format": "onnx", "licence": "CC0-1.0",
            "inputs": {"bands": ["red", "green", "blue"], "tile_size": 32, "overlap": 4},
            "outputs": {"classes": CLASSES}}
    base.update(changes)
    return base


def raster(path: Path, bands: int = 3, size: int = 48, seed: int = 0, dtype=np.uint16,
           nodata=None) -> Path:
    rng = np.random.default_rng(seed)
    values = rng.integers(100, 3000, (bands, size, size)).astype(np.dtype(dtype))
    return write_geotiff(path, values, GEOTRANSFORM, nodata=nodata)


def model(path: Path, metadata_card: dict | str | None = None, bands: int = 3,
          classes: int = 3) -> Path:
    """A one-layer ONNX network with its card in the metadata (``rsai_card``)."""
    value = card() if metadata_card is None else metadata_card
    metadata = {"rsai_card": value if isinstance(value, str) else json.dumps(value)}
    conv_onnx(path, bands, classes, metadata=metadata)
    return path


def polygons(path: Path, classes=(1, 2), layer: str = "training", extra_layers=(),
             per_class: int = 3, names: dict | None = None, driver: str = "GPKG",
             shift: float = 0.0, columns: int = 6, spacing: float = 70.0,
             side: float = 50.0) -> Path:
    """Labelled square polygons over ``raster``'s extent (``class`` and ``name`` fields);
    ``extra_layers`` adds other layers (a user's data beside the training layer)."""
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    source = ogr.GetDriverByName(driver).CreateDataSource(str(path))
    for layer_name in (layer, *extra_layers):
        out = source.CreateLayer(layer_name, srs, ogr.wkbPolygon,
                                 ["GEOMETRY=AS_WKT"] if driver == "CSV" else [])
        out.CreateField(ogr.FieldDefn("class", ogr.OFTString if any(
            isinstance(c, str) for c in classes) else ogr.OFTInteger))
        out.CreateField(ogr.FieldDefn("name", ogr.OFTString))
        slot = 0
        for value in classes:
            for _ in range(per_class):
                x0 = GEOTRANSFORM[0] + 20 + (slot % columns) * spacing + shift
                y0 = GEOTRANSFORM[3] - 20 - (slot // columns) * spacing
                ring = ogr.Geometry(ogr.wkbLinearRing)
                for x, y in ((x0, y0), (x0 + side, y0), (x0 + side, y0 - side),
                             (x0, y0 - side), (x0, y0)):
                    ring.AddPoint_2D(x, y)
                polygon = ogr.Geometry(ogr.wkbPolygon)
                polygon.AddGeometry(ring)
                feature = ogr.Feature(out.GetLayerDefn())
                feature.SetGeometry(polygon)
                feature.SetField("class", value)
                feature.SetField("name", (names or {}).get(value, f"class {value}"))
                out.CreateFeature(feature)
                slot += 1
    source = None
    return path


def class_raster(path: Path, size: int = 48) -> Path:
    """Fields (1) separated by boundaries (2)."""
    values = np.ones((size, size), np.uint8)
    values[::12, :] = 2
    values[:, ::12] = 2
    return write_geotiff(path, values, GEOTRANSFORM)


def pan_ms(folder: Path, ratio: int = 4, size: int = 64, bands: int = 4) -> tuple[Path, Path]:
    """A PAN and an MS raster on matching grids (MS pixels ``ratio`` times larger)."""
    rng = np.random.default_rng(1)
    pan = rng.integers(200, 1000, (size, size)).astype(np.uint16)
    ms = rng.integers(200, 1000, (bands, size // ratio, size // ratio)).astype(np.uint16)
    pan_path = write_geotiff(folder / "pan.tif", pan, (500000.0, 1.0, 0.0, 5000000.0, 0.0, -1.0))
    ms_path = write_geotiff(folder / "ms.tif", ms,
                            (500000.0, float(ratio), 0.0, 5000000.0, 0.0, -float(ratio)))
    return pan_path, ms_path
