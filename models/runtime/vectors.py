"""The one way the core writes vector outputs: a GeoPackage layer, committed whole or not at all.

Features go into a temporary file that is renamed into place only when every feature is
written, so a cancelled or failed run leaves no layer that looks complete. When the GeoPackage
already holds *other* layers (the user's), they are kept: the new layer is written into a copy
of the file, which then replaces it; a layer of the same name is replaced.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from osgeo import ogr, osr

from ..errors import UserError

FIELD_TYPES = {"int": ogr.OFTInteger64, "float": ogr.OFTReal, "str": ogr.OFTString,
               "bytes": ogr.OFTBinary}
GEOMETRIES = {"point": ogr.wkbPoint, "polygon": ogr.wkbPolygon,
              "multipolygon": ogr.wkbMultiPolygon}
_PER_TRANSACTION = 20000


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
        feature = ogr.Feature(self._definition)
        if isinstance(geometry, (bytes, bytearray)):
            geometry = ogr.CreateGeometryFromWkb(bytes(geometry))
        feature.SetGeometry(geometry)
        items = values.items() if isinstance(values, dict) else zip(
            (f.name for f in self.fields), values)
        for name, value in items:
            if value is None:
                continue
            if isinstance(value, (bytes, bytearray)):
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
                     fields: Sequence[Field], metadata: dict[str, str] | None = None
                     ) -> Iterator[LayerWriter]:
    """Write one layer of ``path`` (a .gpkg); other layers of an existing file are kept."""
    final = check_geopackage_path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    temp = final.with_name(f".{final.stem}.{uuid.uuid4().hex[:8]}.partial.gpkg")
    keep_others = final.exists() and bool(other_layers(final, layer_name))
    if keep_others:
        shutil.copyfile(final, temp)
        dataset = ogr.Open(str(temp), 1)
        if dataset.GetLayerByName(layer_name) is not None:
            dataset.DeleteLayer(layer_name)
    else:
        dataset = ogr.GetDriverByName("GPKG").CreateDataSource(str(temp))
    try:
        srs = None
        if crs_wkt:
            srs = osr.SpatialReference()
            srs.ImportFromWkt(crs_wkt)
        layer = dataset.CreateLayer(layer_name, srs, GEOMETRIES[geometry],
                                    ["GEOMETRY_NAME=geom", "FID=fid"])
        for field in fields:
            layer.CreateField(ogr.FieldDefn(field.name, FIELD_TYPES[field.type]))
        for key, value in (metadata or {}).items():
            layer.SetMetadataItem(key, value)
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


def check_geopackage_path(path: str | os.PathLike) -> Path:
    """A vector output must be a .gpkg file name; checked before the work that fills it."""
    final = Path(path)
    if final.suffix.lower() != ".gpkg":
        raise UserError(f"the vector output {final} must be a GeoPackage (.gpkg); choose a "
                        "file name ending in .gpkg.")
    if final.is_dir():
        raise UserError(f"the vector output {final} is a folder; choose a .gpkg file name.")
    return final


def other_layers(path: str | os.PathLike, layer_name: str) -> list[str]:
    """Names of the layers of an existing GeoPackage other than ``layer_name``."""
    dataset = ogr.Open(str(path))
    if dataset is None:
        raise UserError(f"{path} exists but is not a GeoPackage GDAL can open; choose another "
                        "output file (it was left as it is).")
    names = [dataset.GetLayer(i).GetName() for i in range(dataset.GetLayerCount())]
    return [name for name in names if name != layer_name]
