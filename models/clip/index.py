"""The chip embedding index: a GeoPackage layer of chip footprints, one embedding per chip.

Each feature is a chip's footprint polygon with its embedding in the BLOB field ``embedding``
(little-endian float32, or float16 for half the size) and its position on the chip grid
(``col``, ``row``). The layer metadata names the model and the sha256 of its weights, so a later
search refuses an index made with another model and embeds only the query: the image side is
read, never recomputed. It also holds the chip grid (raster geotransform, chip size, stride),
so searches write their heat maps and class rasters on that grid from the index alone.

Written and read through the core's one GeoPackage writer (runtime/vectors.py): a temporary
file renamed when complete, the file's other layers kept, and a user's layer of the same name
never replaced.
"""

from __future__ import annotations

import contextlib
import os
from typing import Callable, Iterator, Mapping

import numpy as np

from ..callbacks import Callbacks
from ..errors import UserError
from ..runtime import vectors
from .chips import GRID_KEYS, ChipBatch, ChipGrid, ChipSet
from .search import unit_rows

EMBEDDING_FIELD = "embedding"
FIELDS = (vectors.Field(EMBEDDING_FIELD, "bytes"), vectors.Field("col", "int"),
          vectors.Field("row", "int"))
INDEX_VERSION = "2"
DTYPES = {"float32": "<f4", "float16": "<f2"}
DEFAULT_LAYER = "chips"
_META = "RSAI_"  # layer metadata keys: RSAI_MODEL_ID, RSAI_WEIGHTS_SHA256, ...
_STANDARD = ("INDEX_VERSION", "MODEL_ID", "WEIGHTS_SHA256", "EMBEDDING_DIM", "EMBEDDING_DTYPE",
             vectors.WRITER_KEY[len(_META):])


@contextlib.contextmanager
def index_layer(path: str | os.PathLike, grid: ChipGrid, model_id: str, weights_sha256: str,
                embedding_dim: int, settings: Mapping[str, str] | None = None,
                layer: str = DEFAULT_LAYER, dtype: str = "float32",
                callbacks: Callbacks = Callbacks()) -> Iterator[Callable[[ChipBatch], None]]:
    """Write an index layer: yields ``add(chips)``; committed when the block ends."""
    if dtype not in DTYPES:
        raise UserError(f"embedding type must be one of {', '.join(DTYPES)}, not {dtype!r}.")
    items = {"INDEX_VERSION": INDEX_VERSION, "MODEL_ID": model_id,
             "WEIGHTS_SHA256": weights_sha256, "EMBEDDING_DIM": str(embedding_dim),
             "EMBEDDING_DTYPE": dtype, **grid.metadata(), **(settings or {})}
    with vectors.geopackage_layer(path, layer, grid.raster.crs, "polygon", FIELDS,
                                  {_META + k: v for k, v in items.items()}, callbacks) as writer:
        def add(chips: ChipBatch) -> None:
            rows = unit_rows(chips.embeddings).astype(DTYPES[dtype])
            if rows.shape[1] != embedding_dim:
                raise ValueError(f"embeddings of {rows.shape[1]} values, not {embedding_dim}")
            wkb = vectors.polygon_wkb(grid.footprints(chips.cols, chips.rows))
            for i in range(len(rows)):
                writer.add(wkb[i].tobytes(), (rows[i].tobytes(), int(chips.cols[i]),
                                              int(chips.rows[i])))

        yield add
        if writer.count == 0:
            raise UserError(f"no chips to write into {path}: the mask or the raster's nodata "
                            "left none. Check that the mask overlaps the raster.")


def write_chip_set(path: str | os.PathLike, chips: ChipSet, layer: str = DEFAULT_LAYER,
                   dtype: str = "float32", callbacks: Callbacks = Callbacks()) -> None:
    """A chip set already in memory as an index layer."""
    with index_layer(path, chips.grid, chips.model_id, chips.weights_sha256,
                     chips.embeddings.shape[1], chips.settings, layer, dtype,
                     callbacks) as add:
        add(ChipBatch(chips.cols, chips.rows, chips.embeddings))


def read_index(path: str | os.PathLike, layer: str | None = None) -> ChipSet:
    """Every embedding of an index layer in one columnar pass; ``layer`` may be left out
    when the file holds one index layer."""
    if not os.path.isfile(path):
        raise UserError(f"the index {path} does not exist; make one with "
                        "rsai:embed_image_chips.")
    layer = index_layer_name(path, layer)
    meta = {k[len(_META):]: v for k, v in vectors.layer_metadata(path, layer).items()
            if k.startswith(_META)}
    where = f"the index {path} (layer {layer})"
    try:
        dim, dtype = int(meta["EMBEDDING_DIM"]), meta["EMBEDDING_DTYPE"]
        if dtype not in DTYPES or dim < 1 or not meta["WEIGHTS_SHA256"]:
            raise ValueError(f"EMBEDDING_DTYPE {dtype}, EMBEDDING_DIM {dim}")
        columns = vectors.read_columns(path, layer, [EMBEDDING_FIELD, "col", "row"],
                                       {EMBEDDING_FIELD: np.dtype(DTYPES[dtype]).itemsize * dim})
        grid = ChipGrid.from_metadata(meta, columns.crs_wkt)
    except (KeyError, ValueError) as exc:
        raise UserError(f"the metadata of {where} is incomplete or damaged ({exc}); make the "
                        "index again with rsai:embed_image_chips.") from None
    cols, rows = columns.columns["col"].astype(np.int64), columns.columns["row"].astype(np.int64)
    if len(cols) and (cols.min() < 0 or rows.min() < 0 or cols.max() >= grid.cols
                      or rows.max() >= grid.rows):
        raise UserError(f"{where} has chips off its chip grid; it was edited. Make the index "
                        "again with rsai:embed_image_chips.")
    return ChipSet(grid, cols, rows,
                   columns.columns[EMBEDDING_FIELD].view(DTYPES[dtype]).reshape(-1, dim),
                   meta["MODEL_ID"], meta["WEIGHTS_SHA256"], where,
                   {k: v for k, v in meta.items() if k not in _STANDARD + GRID_KEYS})


def index_layer_name(path: str | os.PathLike, layer: str | None = None) -> str:
    """``layer`` checked to be an index, or the file's one index layer."""
    names = vectors.layer_names(path)
    indexes = [n for n in names if _META + "MODEL_ID" in vectors.layer_metadata(path, n)]
    if layer:
        if layer not in names:
            raise UserError(f"{path} has no layer '{layer}' (layers: {', '.join(names) or 'none'}).")
        if layer not in indexes:
            raise UserError(f"the layer '{layer}' of {path} is not a chip embedding index (no "
                            "model metadata); make one with rsai:embed_image_chips.")
        return layer
    if len(indexes) != 1:
        raise UserError(f"{path} holds {len(indexes)} chip embedding index layers "
                        f"({', '.join(indexes) or 'none'}); " + (
                            "pick the layer to use." if indexes else
                            "make an index with rsai:embed_image_chips."))
    return indexes[0]


def index_model_id(path: str | os.PathLike, layer: str | None = None) -> str:
    """The model an index was made with (read from its metadata alone)."""
    layer = index_layer_name(path, layer)
    return vectors.layer_metadata(path, layer)[_META + "MODEL_ID"]
