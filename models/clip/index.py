"""The chip embedding index: a GeoPackage layer of chip footprints, one embedding per chip.

Each feature is a chip's footprint polygon with its embedding in the BLOB field ``embedding``
(little-endian float32, or float16 for half the size) plus any attributes the writer gets (chip
grid position...). The layer metadata names the model and the sha256 of its weights, so a later
search refuses an index made with another model, and embeds only the query: the image side is
read, never recomputed.

Writing never leaves something that looks complete: a new file is written under a temporary
name and renamed; a layer added to an existing GeoPackage is written under a temporary layer
name and renamed, and the file's other layers are never touched (an existing layer of the same
name is refused, not replaced). Reading takes every embedding in one columnar pass (GDAL's Arrow
stream), about half a second for 100k chips.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
from osgeo import gdal, ogr, osr

from ..callbacks import never_cancelled, no_progress
from ..errors import Cancelled, UserError
from .search import unit_rows

gdal.UseExceptions()
ogr.UseExceptions()

EMBEDDING_FIELD = "embedding"
INDEX_VERSION = "1"
DTYPES = {"float32": "<f4", "float16": "<f2"}
_META = "RSAI_"  # layer metadata keys: RSAI_MODEL_ID, RSAI_WEIGHTS_SHA256, ...
_PAGE_SIZE = "page_size=65536"  # 2 KB embedding rows pack into big pages (223 MB, not 400, per 100k)
_CHECK_EVERY = 1000


@dataclass(frozen=True)
class ChipIndex:
    """Every embedding of an index layer (rows in feature order) with its provenance."""

    path: str
    layer: str
    fids: np.ndarray  # (N,) feature ids
    embeddings: np.ndarray  # (N, D) unit rows, float32 or float16 as stored
    model_id: str
    weights_sha256: str
    crs_wkt: str
    metadata: dict[str, str] = field(default_factory=dict)  # the writer's extra items

    def check_model(self, model_id: str, weights_sha256: str) -> None:
        """Refuse to compare this index with embeddings of another model."""
        if (model_id, weights_sha256) != (self.model_id, self.weights_sha256):
            raise UserError(
                f"the index {self.path} (layer {self.layer}) was made with model {self.model_id} "
                f"(weights sha256 {self.weights_sha256[:12]}…), not with {model_id} "
                f"(weights sha256 {weights_sha256[:12]}…): embeddings of different models cannot "
                "be compared. Choose the model the index was made with, or embed the imagery "
                "again with this one.")


def window_footprints(geotransform, cols, rows, width: int, height: int) -> np.ndarray:
    """(N, 4, 2) corner coordinates of pixel windows (col, row = top-left pixel), rotated
    geotransforms included."""
    cols = np.asarray(cols, np.float64)[:, None]
    rows = np.asarray(rows, np.float64)[:, None]
    dc = np.array([0, width, width, 0], np.float64)[None]
    dr = np.array([0, 0, height, height], np.float64)[None]
    c, r = cols + dc, rows + dr
    x0, px, rx, y0, ry, py = geotransform
    return np.stack([x0 + c * px + r * rx, y0 + c * ry + r * py], axis=-1)


def write_index(path: str | os.PathLike, footprints: np.ndarray, embeddings: np.ndarray,
                crs_wkt: str, model_id: str, weights_sha256: str, layer: str = "chips",
                attributes: Mapping[str, np.ndarray] | None = None,
                metadata: Mapping[str, str] | None = None, dtype: str = "float32",
                progress: Callable[[float], None] = no_progress,
                is_cancelled: Callable[[], bool] = never_cancelled) -> str:
    """Write chips ((N, 4, 2) footprint corners, (N, D) embeddings, optional integer/float
    attribute columns) as ``layer`` of the GeoPackage ``path``; returns the layer name."""
    path = Path(path)
    embeddings = np.atleast_2d(np.asarray(embeddings))
    footprints = np.asarray(footprints, np.float64)
    attributes = {k: np.asarray(v) for k, v in (attributes or {}).items()}
    _check_write_arguments(path, footprints, embeddings, attributes, dtype, layer)
    rows = unit_rows(embeddings).astype(DTYPES[dtype])
    items = {"INDEX_VERSION": INDEX_VERSION, "MODEL_ID": model_id,
             "WEIGHTS_SHA256": weights_sha256, "EMBEDDING_FIELD": EMBEDDING_FIELD,
             "EMBEDDING_DIM": str(rows.shape[1]), "EMBEDDING_DTYPE": dtype,
             **{k.upper(): str(v) for k, v in (metadata or {}).items()}}
    partial = f"{layer}_partial_{uuid.uuid4().hex[:8]}"
    if path.exists():
        _add_layer(path, layer, partial, footprints, rows, attributes, crs_wkt, items,
                   progress, is_cancelled)
    else:
        _new_file(path, layer, footprints, rows, attributes, crs_wkt, items, progress,
                  is_cancelled)
    progress(1.0)
    return layer


def read_index(path: str | os.PathLike, layer: str | None = None) -> ChipIndex:
    """All embeddings of an index layer as one array; ``layer`` may be left out when the file
    holds one index layer."""
    dataset = _open(path, update=False)
    lyr = _index_layer(dataset, path, layer)
    meta = {k[len(_META):]: v for k, v in (lyr.GetMetadata() or {}).items() if k.startswith(_META)}
    try:
        dim, dtype = int(meta["EMBEDDING_DIM"]), meta["EMBEDDING_DTYPE"]
        meta["WEIGHTS_SHA256"]
    except (KeyError, ValueError) as exc:
        raise UserError(f"the index metadata of {path} (layer {lyr.GetName()}) is incomplete "
                        f"({exc}); make the index again with rsai:embed_image_chips.") from None
    if dtype not in DTYPES:
        raise UserError(f"{path}: unknown embedding type {dtype!r} in the index metadata.")
    item = np.dtype(DTYPES[dtype]).itemsize * dim
    lyr.SetIgnoredFields([f.GetName() for f in lyr.schema if f.GetName() != EMBEDDING_FIELD]
                         + ["OGR_GEOMETRY"])
    fids, blobs = [], []
    for batch in lyr.GetArrowStreamAsNumPy(options=["INCLUDE_FID=YES", "USE_MASKED_ARRAYS=NO"]):
        fids.append(np.asarray(batch[lyr.GetFIDColumn() or "OGC_FID"], np.int64))
        blobs.append(_fixed_width(batch[EMBEDDING_FIELD], item, path))
    raw = np.concatenate(blobs) if blobs else np.zeros(0, f"V{item}")
    srs = lyr.GetSpatialRef()
    if srs is not None and srs.GetName().startswith("Undefined"):  # GeoPackage for "no CRS"
        srs = None
    return ChipIndex(
        path=str(path), layer=lyr.GetName(),
        fids=np.concatenate(fids) if fids else np.zeros(0, np.int64),
        embeddings=raw.view(DTYPES[dtype]).reshape(-1, dim),
        model_id=meta["MODEL_ID"], weights_sha256=meta["WEIGHTS_SHA256"],
        crs_wkt=srs.ExportToWkt() if srs is not None else "",
        metadata={k: v for k, v in meta.items() if k not in _STANDARD_ITEMS})


_STANDARD_ITEMS = {"INDEX_VERSION", "MODEL_ID", "WEIGHTS_SHA256", "EMBEDDING_FIELD",
                   "EMBEDDING_DIM", "EMBEDDING_DTYPE"}


# -- writing ---------------------------------------------------------------------------------
def _check_write_arguments(path, footprints, embeddings, attributes, dtype, layer) -> None:
    if path.suffix.lower() != ".gpkg":
        raise UserError(f"the index {path} must be a GeoPackage (.gpkg).")
    if dtype not in DTYPES:
        raise UserError(f"embedding type must be one of {', '.join(DTYPES)}, not {dtype!r}.")
    if not layer or not layer.replace("_", "").isalnum():
        raise UserError(f"index layer name {layer!r} must be letters, digits and '_'.")
    n = len(embeddings)
    if n == 0:
        raise UserError(f"no chips to write into {path}: the mask or the raster's nodata left "
                        "none. Check that the mask overlaps the raster.")
    if footprints.shape != (n, 4, 2):
        raise UserError(f"{n} embeddings need (N, 4, 2) footprint corners, got {footprints.shape}.")
    for name, values in attributes.items():
        if values.shape != (n,) or values.dtype.kind not in "iuf":
            raise UserError(f"attribute {name!r} needs {n} numbers, got {values.dtype} {values.shape}.")
        if name == EMBEDDING_FIELD:
            raise UserError(f"attribute name {name!r} is reserved for the embeddings.")


def _new_file(path, layer, footprints, rows, attributes, crs_wkt, items, progress, is_cancelled):
    """Write a whole new GeoPackage under a temporary name, then rename it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.partial-{uuid.uuid4().hex[:8]}.gpkg")
    previous = gdal.GetThreadLocalConfigOption("OGR_SQLITE_PRAGMA", None)
    gdal.SetThreadLocalConfigOption("OGR_SQLITE_PRAGMA", _PAGE_SIZE)
    try:
        dataset = ogr.GetDriverByName("GPKG").CreateDataSource(str(tmp))
    finally:
        gdal.SetThreadLocalConfigOption("OGR_SQLITE_PRAGMA", previous)
    try:
        _write_layer(dataset, layer, footprints, rows, attributes, crs_wkt, items, progress,
                     is_cancelled)
        dataset.FlushCache()
        dataset = None
        if path.exists():
            raise UserError(f"{path} appeared while the index was written; nothing was replaced. "
                            "Run again with another output file.")
        os.replace(tmp, path)
    except BaseException:
        dataset = None
        _remove_file(tmp)
        raise


def _add_layer(path, layer, partial, footprints, rows, attributes, crs_wkt, items, progress,
               is_cancelled):
    """Add a layer to an existing GeoPackage: written as ``partial``, renamed when complete."""
    dataset = _open(path, update=True)
    if dataset.GetLayerByName(layer) is not None:
        raise UserError(f"{path} already has a layer named {layer!r}; existing layers are never "
                        "replaced. Choose another layer name or another file.")
    try:
        lyr = _write_layer(dataset, partial, footprints, rows, attributes, crs_wkt, items,
                           progress, is_cancelled)
        lyr.Rename(layer)
    except BaseException:
        if dataset.GetLayerByName(partial) is not None:
            dataset.DeleteLayer(partial)
        raise
    finally:
        dataset = None


def _write_layer(dataset, name, footprints, rows, attributes, crs_wkt, items, progress,
                 is_cancelled):
    srs = None
    if crs_wkt:
        srs = osr.SpatialReference()
        srs.ImportFromWkt(crs_wkt)
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    lyr = dataset.CreateLayer(name, srs=srs, geom_type=ogr.wkbPolygon,
                              options=["SPATIAL_INDEX=YES", "FID=fid"])
    lyr.CreateField(ogr.FieldDefn(EMBEDDING_FIELD, ogr.OFTBinary))
    for key, values in attributes.items():
        lyr.CreateField(ogr.FieldDefn(key, ogr.OFTInteger64 if values.dtype.kind in "iu"
                                      else ogr.OFTReal))
    for key, value in items.items():
        lyr.SetMetadataItem(_META + key, value)
    lyr.SyncToDisk()  # creates the table now, outside the transaction that a cancel rolls back
    defn = lyr.GetLayerDefn()
    columns = [(defn.GetFieldIndex(k), v.tolist()) for k, v in attributes.items()]
    blob = defn.GetFieldIndex(EMBEDDING_FIELD)
    wkb = _polygon_wkb(footprints)
    lyr.StartTransaction()
    try:
        for i in range(len(rows)):
            if i % _CHECK_EVERY == 0:
                if is_cancelled():
                    raise Cancelled()
                progress(i / max(len(rows), 1))
            feature = ogr.Feature(defn)
            feature.SetGeometryDirectly(ogr.CreateGeometryFromWkb(wkb[i].tobytes()))
            feature.SetFieldBinaryFromHexString(blob, rows[i].tobytes().hex())
            for index, values in columns:
                feature.SetField(index, values[i])
            lyr.CreateFeature(feature)
        lyr.CommitTransaction()
    except BaseException:
        lyr.RollbackTransaction()
        raise
    return lyr


def _polygon_wkb(footprints: np.ndarray) -> np.ndarray:
    """(N, 4, 2) corners -> (N, 93) bytes: little-endian WKB polygons with one closed ring."""
    n = len(footprints)
    header = np.frombuffer(np.array([1], "u1").tobytes() + np.array([3, 1, 5], "<u4").tobytes(), "u1")
    ring = np.concatenate([footprints, footprints[:, :1]], axis=1).astype("<f8")
    return np.concatenate([np.broadcast_to(header, (n, len(header))),
                           ring.reshape(n, -1).view("u1")], axis=1)


# -- reading ---------------------------------------------------------------------------------
def _open(path, update: bool):
    path = Path(path)
    if not path.is_file():
        raise UserError(f"the index {path} does not exist; make one with rsai:embed_image_chips.")
    try:
        dataset = gdal.OpenEx(str(path), gdal.OF_VECTOR | (gdal.OF_UPDATE if update else 0),
                              allowed_drivers=["GPKG"])
    except RuntimeError as exc:
        raise UserError(f"{path} is not a readable GeoPackage ({exc}); an index is the .gpkg "
                        "written by rsai:embed_image_chips.")
    return dataset


def _index_layer(dataset, path, layer: str | None):
    names = [dataset.GetLayer(i).GetName() for i in range(dataset.GetLayerCount())]
    indexes = [n for n in names if dataset.GetLayerByName(n).GetMetadataItem(_META + "MODEL_ID")]
    if layer is not None:
        if layer not in names:
            raise UserError(f"{path} has no layer {layer!r} (layers: {', '.join(names) or 'none'}).")
        if layer not in indexes:
            raise UserError(f"layer {layer!r} of {path} is not a chip embedding index (no model "
                            "metadata); make one with rsai:embed_image_chips.")
        return dataset.GetLayerByName(layer)
    if len(indexes) != 1:
        raise UserError(f"{path} holds {len(indexes)} chip embedding index layers "
                        f"({', '.join(indexes) or 'none'}); " + (
                            "name the layer to use." if indexes else
                            "make an index with rsai:embed_image_chips."))
    return dataset.GetLayerByName(indexes[0])


def _fixed_width(values: np.ndarray, item: int, path) -> np.ndarray:
    """A batch of BLOBs as one (n,) array of ``item``-byte records."""
    if values.dtype.kind == "V" and values.dtype.itemsize == item:
        return values
    try:
        joined = b"".join(values.tolist())
    except TypeError:
        raise UserError(f"{path}: some chips have no embedding; the index is damaged, make it "
                        "again.") from None
    if len(joined) != item * len(values):
        raise UserError(f"{path}: embeddings are not all {item} bytes long; the index is damaged, "
                        "make it again.")
    return np.frombuffer(joined, f"V{item}")


def _remove_file(path: Path) -> None:
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        candidate.unlink(missing_ok=True)
