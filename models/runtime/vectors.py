"""The one way the core writes and reads vector outputs: GeoPackage layers, committed whole.

Writing: features go into a temporary file that is renamed into place only when every feature
is written, so a cancelled or failed run leaves no layer that looks complete. An existing
GeoPackage is copied first, so everything else in it (the user's other layers, rasters, saved
styles) is kept.

A layer of the same name is the one case where something could be lost, so one rule holds for
every tool: a layer this toolbox wrote (it carries ``RSAI_WRITER`` in its metadata) is the
output of an earlier run and is replaced, with a warning; any other layer of that name is the
user's and is never replaced (the run stops before any work with an error saying how to
proceed).

Reading: ``read_columns`` takes whole columns in one pass (GDAL's Arrow stream), BLOB columns
as fixed-width records (100k features of 2 KB in about 0.75 s, bench/bench_clip.py).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import numpy as np
from osgeo import gdal, ogr, osr

from ..callbacks import Callbacks
from ..errors import UserError
from ..files import partial_path, remove_leftovers

FIELD_TYPES = {"int": ogr.OFTInteger64, "float": ogr.OFTReal, "str": ogr.OFTString,
               "bytes": ogr.OFTBinary}
GEOMETRIES = {"point": ogr.wkbPoint, "polygon": ogr.wkbPolygon,
              "multipolygon": ogr.wkbMultiPolygon}
VECTOR_EXTENSIONS = (".gpkg",)  # every vector output is a GeoPackage
WRITER_KEY = "RSAI_WRITER"
WRITER = "rsai_toolbox"
_PER_TRANSACTION = 20000
_RESERVED = ("gpkg_", "rtree_", "sqlite_")  # GeoPackage's and SQLite's own tables
# BLOB rows of a few KB pack into 64 KiB pages (about half the file size of 4 KiB pages).
_BLOB_PAGE_SIZE = "page_size=65536"


@dataclass(frozen=True)
class Field:
    name: str
    type: str = "float"  # "int", "float", "str" or "bytes"


class LayerWriter:
    """``add(geometry, values)`` for each feature; created by ``geopackage_layer``."""

    def __init__(self, layer: ogr.Layer, fields: Sequence[Field]):
        self.layer, self.fields = layer, list(fields)
        self._definition = layer.GetLayerDefn()
        self.count = 0

    def add(self, geometry: ogr.Geometry | bytes, values: Sequence | dict) -> None:
        """``geometry`` as an OGR geometry or WKB bytes; ``values`` in field order or by name."""
        feature = ogr.Feature(self._definition)
        if isinstance(geometry, (bytes, bytearray, memoryview)):
            geometry = ogr.CreateGeometryFromWkb(bytes(geometry))
        feature.SetGeometry(geometry)
        items = values.items() if isinstance(values, dict) else zip(
            (f.name for f in self.fields), values)
        for name, value in items:
            if value is None:
                continue
            if isinstance(value, (bytes, bytearray, memoryview)):
                feature.SetFieldBinaryFromHexString(name, bytes(value).hex())
            else:
                feature.SetField(name, value.item() if hasattr(value, "item") else value)
        self.layer.CreateFeature(feature)
        self.count += 1
        if self.count % _PER_TRANSACTION == 0:
            self.layer.CommitTransaction()
            self.layer.StartTransaction()


@contextlib.contextmanager
def geopackage_layer(path: str | os.PathLike, layer_name: str, crs_wkt: str, geometry: str,
                     fields: Sequence[Field], metadata: Mapping[str, str] | None = None,
                     callbacks: Callbacks = Callbacks()) -> Iterator[LayerWriter]:
    """Write the layer ``layer_name`` of ``path`` (a .gpkg); everything else in an existing
    file is kept, and a same-name layer follows the rule in the module docstring."""
    final = Path(path)
    replaced = check_destination(final, layer_name)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(final)  # what a killed earlier run left
    temp = partial_path(final, ".gpkg")
    dataset = None
    try:
        if final.exists():
            shutil.copyfile(final, temp)
            dataset = ogr.Open(str(temp), 1)
            if dataset.GetLayerByName(layer_name) is not None:
                dataset.DeleteLayer(layer_name)
        else:
            pragma = _BLOB_PAGE_SIZE if any(f.type == "bytes" for f in fields) else None
            with _config("OGR_SQLITE_PRAGMA", pragma):
                dataset = ogr.GetDriverByName("GPKG").CreateDataSource(str(temp))
        srs = None
        if crs_wkt:
            srs = osr.SpatialReference()
            srs.ImportFromWkt(crs_wkt)
        layer = dataset.CreateLayer(layer_name, srs, GEOMETRIES[geometry],
                                    ["GEOMETRY_NAME=geom", "FID=fid"])
        for spec in fields:
            layer.CreateField(ogr.FieldDefn(spec.name, FIELD_TYPES[spec.type]))
        for key, value in {**(metadata or {}), WRITER_KEY: WRITER}.items():
            layer.SetMetadataItem(key, str(value))
        layer.StartTransaction()
        writer = LayerWriter(layer, fields)
        yield writer
        layer.CommitTransaction()
        dataset = None  # closes the file
        os.replace(temp, final)
    except BaseException:
        dataset = None
        for leftover in (temp, temp.with_name(temp.name + "-journal"),
                         temp.with_name(temp.name + "-wal"), temp.with_name(temp.name + "-shm")):
            with contextlib.suppress(OSError):
                leftover.unlink()
        raise
    if replaced:
        callbacks.warn(f"replaced the layer '{layer_name}' of {final}, written by an earlier "
                       "run of this toolbox (the file's other layers were kept).")


def check_geopackage_path(path: str | os.PathLike) -> Path:
    """A vector output must be a .gpkg file name; checked before the work that fills it."""
    final = Path(path)
    if final.suffix.lower() != ".gpkg":
        raise UserError(f"the vector output {final} must be a GeoPackage (.gpkg); choose a "
                        "file name ending in .gpkg.")
    if final.is_dir():
        raise UserError(f"the vector output {final} is a folder; choose a .gpkg file name.")
    return final


def check_destination(path: str | os.PathLike, layer_name: str) -> bool:
    """Check before any work that ``layer_name`` may be written into ``path``; True when an
    earlier run's layer of that name will be replaced. The user's layers are never replaced."""
    final = check_geopackage_path(path)
    if not layer_name.strip() or layer_name.lower().startswith(_RESERVED) or any(
            ord(c) < 32 for c in layer_name):
        raise UserError(f"the layer name {layer_name!r} is empty, has control characters or "
                        "is reserved by GeoPackage (gpkg_..., rtree_..., sqlite_...); choose "
                        "another.")
    if not final.exists():
        return False
    dataset = _open(final)
    existing = dataset.GetLayerByName(layer_name)
    if existing is None:
        return False
    if existing.GetMetadataItem(WRITER_KEY) != WRITER:
        raise UserError(f"{final} already has a layer named '{layer_name}' that this toolbox "
                        "did not write, and a user's layer is never replaced. Choose another "
                        "output file, or rename or delete that layer first.")
    return True


def layer_names(path: str | os.PathLike) -> list[str]:
    """The layers (feature tables) of a GeoPackage."""
    dataset = _open(Path(path))
    return [dataset.GetLayer(i).GetName() for i in range(dataset.GetLayerCount())]


def layer_metadata(path: str | os.PathLike, layer_name: str) -> dict[str, str]:
    dataset = _open(Path(path))
    layer = dataset.GetLayerByName(layer_name)
    if layer is None:
        raise UserError(f"{path} has no layer '{layer_name}' (layers: "
                        f"{', '.join(layer_names(path)) or 'none'}).")
    return dict(layer.GetMetadata() or {})


@dataclass(frozen=True)
class LayerColumns:
    """Whole columns of one layer, rows in feature order."""

    fids: np.ndarray  # (N,) int64
    columns: dict[str, np.ndarray]
    metadata: dict[str, str] = field(default_factory=dict)
    crs_wkt: str = ""  # "" when the layer has no CRS


def read_columns(path: str | os.PathLike, layer_name: str, names: Sequence[str],
                 record_sizes: Mapping[str, int] | None = None) -> LayerColumns:
    """The columns ``names`` of a layer in one columnar pass, without geometries. A BLOB
    column named in ``record_sizes`` comes back as one (N,) array of fixed-size byte records
    (``.view(dtype)`` turns it into numbers); a row whose BLOB has another size is an error."""
    record_sizes = dict(record_sizes or {})
    dataset = _open(Path(path))
    layer = dataset.GetLayerByName(layer_name)
    if layer is None:
        raise UserError(f"{path} has no layer '{layer_name}'.")
    present = {f.GetName() for f in layer.schema}
    missing = [n for n in names if n not in present]
    if missing:
        raise UserError(f"the layer '{layer_name}' of {path} has no field(s) "
                        f"{', '.join(missing)}; it was not written by this toolbox's tool for "
                        "it, or it was edited.")
    layer.SetIgnoredFields([n for n in present if n not in names] + ["OGR_GEOMETRY"])
    fid_column = layer.GetFIDColumn() or "OGC_FID"
    parts: dict[str, list[np.ndarray]] = {n: [] for n in (fid_column, *names)}
    for batch in layer.GetArrowStreamAsNumPy(options=["INCLUDE_FID=YES",
                                                      "USE_MASKED_ARRAYS=NO"]):
        for name in parts:
            values = batch[name]
            if name in record_sizes:
                values = _records(values, record_sizes[name], f"{path} ({layer_name}.{name})")
            parts[name].append(np.asarray(values))
    columns = {n: (np.concatenate(v) if v else
                   np.zeros(0, f"V{record_sizes[n]}" if n in record_sizes else np.float64))
               for n, v in parts.items()}
    srs = layer.GetSpatialRef()
    if srs is not None and srs.GetName().startswith("Undefined"):  # GeoPackage's "no CRS"
        srs = None
    return LayerColumns(fids=columns.pop(fid_column).astype(np.int64, copy=False),
                        columns=columns, metadata=dict(layer.GetMetadata() or {}),
                        crs_wkt=srs.ExportToWkt() if srs is not None else "")


def polygon_wkb(corners: np.ndarray) -> np.ndarray:
    """(N, 4, 2) corner coordinates -> (N, 93) uint8: little-endian WKB polygons (one closed
    ring), built for all features at once."""
    corners = np.asarray(corners, np.float64)
    n = len(corners)
    header = np.frombuffer(np.array([1], "u1").tobytes() + np.array([3, 1, 5], "<u4").tobytes(),
                           "u1")
    ring = np.concatenate([corners, corners[:, :1]], axis=1).astype("<f8")
    return np.concatenate([np.broadcast_to(header, (n, len(header))),
                           ring.reshape(n, 10).view("u1")], axis=1)


def _records(values: np.ndarray, size: int, where: str) -> np.ndarray:
    """A batch of BLOBs as one (n,) array of ``size``-byte records."""
    if values.dtype.kind == "V" and values.dtype.itemsize == size:
        return values
    try:
        joined = b"".join(values.tolist())
    except TypeError:
        raise UserError(f"{where}: some features have no value; the layer is damaged, make "
                        "it again.") from None
    if len(joined) != size * len(values):
        raise UserError(f"{where}: the values are not all {size} bytes long; the layer is "
                        "damaged, make it again.")
    return np.frombuffer(joined, f"V{size}")


def _open(path: Path):
    """An existing GeoPackage, read-only; anything else is refused and left as it is."""
    if not path.is_file():
        raise UserError(f"{path} does not exist.")
    try:
        dataset = gdal.OpenEx(str(path), gdal.OF_VECTOR, allowed_drivers=["GPKG"])
    except RuntimeError:
        dataset = None
    if dataset is None:
        raise UserError(f"{path} exists but is not a GeoPackage GDAL can open; choose another "
                        "file (it was left as it is).")
    return dataset


@contextlib.contextmanager
def _config(key: str, value: str | None):
    """A GDAL configuration option for this thread only, restored afterwards."""
    previous = gdal.GetThreadLocalConfigOption(key, None)
    gdal.SetThreadLocalConfigOption(key, value)
    try:
        yield
    finally:
        gdal.SetThreadLocalConfigOption(key, previous)
