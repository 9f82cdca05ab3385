"""The core's GeoPackage writer: whole or nothing, and the user's other layers kept."""

import hashlib

import numpy as np
import pytest
from osgeo import gdal, ogr, osr

from rsai_toolbox.models.callbacks import Callbacks
from rsai_toolbox.models.errors import UserError
from rsai_toolbox.models.runtime.vectors import (Field, geopackage_layer, polygon_wkb,
                                                 read_columns)

from helpers import geopackage_layers

FIELDS = [Field("name", "str"), Field("area_km2", "float"), Field("count", "int"),
          Field("embedding", "bytes")]


def utm33() -> str:
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    return srs.ExportToWkt()


def square(x, y, size=10.0) -> ogr.Geometry:
    return ogr.CreateGeometryFromWkt(
        f"POLYGON(({x} {y},{x + size} {y},{x + size} {y + size},{x} {y + size},{x} {y}))")


def write(path, layer="fields", count=3, fail_at=None, callbacks=Callbacks()):
    with geopackage_layer(path, layer, utm33(), "polygon", FIELDS, {"model": "m1"},
                          callbacks) as writer:
        for i in range(count):
            if i == fail_at:
                raise RuntimeError("stopped")
            writer.add(square(i * 20, 0), ["f%d" % i, 1e-4, i, bytes([i, 255])])


def test_new_file_has_the_features_fields_crs_and_metadata(tmp_path):
    write(tmp_path / "out.gpkg")
    ds = ogr.Open(str(tmp_path / "out.gpkg"))
    layer = ds.GetLayer("fields")
    assert layer.GetFeatureCount() == 3
    assert layer.GetSpatialRef().GetAuthorityCode(None) == "32633"
    assert layer.GetMetadataItem("model") == "m1"
    feature = layer.GetFeature(2)
    assert feature.GetField("name") == "f1" and feature.GetField("count") == 1
    assert feature.GetFieldAsBinary("embedding") == bytes([1, 255])
    assert feature.GetGeometryRef().GetArea() == pytest.approx(100.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.gpkg"]


def test_other_layers_of_an_existing_geopackage_are_kept(tmp_path):
    path = tmp_path / "project.gpkg"
    write(path, "roads", 5)
    write(path, "fields", 3)
    warnings = []
    write(path, "fields", 2, callbacks=Callbacks(warn=warnings.append))  # an earlier run's layer
    assert geopackage_layers(path) == {"roads": 5, "fields": 2}
    assert warnings == [f"replaced the layer 'fields' of {path}, written by an earlier run of "
                        "this toolbox (the file's other layers were kept)."]


def user_geopackage(path, layer="fields"):
    """A GeoPackage the user made elsewhere: a layer without the toolbox's mark, and a raster."""
    raster = gdal.GetDriverByName("GPKG").Create(str(path), 16, 16, 3, gdal.GDT_Byte,
                                                 ["RASTER_TABLE=photo"])
    raster.SetGeoTransform((0, 1, 0, 16, 0, -1))
    raster.GetRasterBand(1).WriteArray(np.arange(256, dtype=np.uint8).reshape(16, 16))
    raster = None
    dataset = ogr.Open(str(path), 1)
    points = dataset.CreateLayer(layer, geom_type=ogr.wkbPoint)
    feature = ogr.Feature(points.GetLayerDefn())
    feature.SetGeometry(ogr.CreateGeometryFromWkt("POINT (1 2)"))
    points.CreateFeature(feature)
    dataset = None


def test_a_users_layer_of_the_same_name_is_never_replaced(tmp_path):
    path = tmp_path / "survey.gpkg"
    user_geopackage(path)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(UserError, match="already has a layer named 'fields' that this toolbox did "
                                        "not write.*Choose another output file"):
        write(path, "fields")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["survey.gpkg"]


def test_rasters_in_an_existing_geopackage_are_kept(tmp_path):
    path = tmp_path / "survey.gpkg"
    user_geopackage(path, layer="points")
    write(path, "fields", 3)
    assert geopackage_layers(path) == {"points": 1, "fields": 3}
    photo = gdal.OpenEx(str(path), gdal.OF_RASTER, open_options=["TABLE=photo"])
    assert (photo.GetRasterBand(1).ReadAsArray() == np.arange(256).reshape(16, 16)).all()


def test_columns_are_read_in_one_pass_with_fixed_size_blobs(tmp_path):
    path = tmp_path / "blobs.gpkg"
    rows = np.random.default_rng(0).normal(size=(300, 4)).astype("<f4")
    corners = np.array([[[0, 0], [1, 0], [1, -1], [0, -1]]], np.float64) + np.arange(300)[:, None, None]
    wkb = polygon_wkb(corners)
    with geopackage_layer(path, "chips", "", "polygon", [Field("embedding", "bytes"),
                                                         Field("col", "int")],
                          {"RSAI_MODEL_ID": "m"}) as writer:
        for i in range(300):
            writer.add(wkb[i].tobytes(), (rows[i].tobytes(), i))
    columns = read_columns(path, "chips", ["embedding", "col"], {"embedding": 16})
    np.testing.assert_array_equal(columns.fids, np.arange(1, 301))
    np.testing.assert_array_equal(columns.columns["embedding"].view("<f4").reshape(-1, 4), rows)
    np.testing.assert_array_equal(columns.columns["col"], np.arange(300))
    assert columns.metadata["RSAI_MODEL_ID"] == "m" and columns.crs_wkt == ""
    ds = ogr.Open(str(path))
    assert ds.GetLayer(0).GetFeature(8).GetGeometryRef().ExportToWkt() == \
        "POLYGON ((7 7,8 7,8 6,7 6,7 7))"
    ds = None
    with pytest.raises(UserError, match="not all 12 bytes long"):
        read_columns(path, "chips", ["embedding"], {"embedding": 12})
    with pytest.raises(UserError, match="has no field"):
        read_columns(path, "chips", ["score"])


def test_a_failed_write_leaves_the_file_as_it_was(tmp_path):
    path = tmp_path / "project.gpkg"
    write(path, "roads", 5)
    before = path.read_bytes()
    with pytest.raises(RuntimeError):
        write(path, "fields", 3, fail_at=1)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project.gpkg"]
    with pytest.raises(RuntimeError):
        write(tmp_path / "new.gpkg", fail_at=2)
    assert not (tmp_path / "new.gpkg").exists()


def test_other_formats_and_folders_are_refused(tmp_path):
    with pytest.raises(UserError, match="must be a GeoPackage"):
        write(tmp_path / "out.shp")
    (tmp_path / "dir.gpkg").mkdir()
    with pytest.raises(UserError, match="is a folder"):
        write(tmp_path / "dir.gpkg")
    (tmp_path / "text.gpkg").write_text("not a database")
    with pytest.raises(UserError, match="not a GeoPackage GDAL can open"):
        write(tmp_path / "text.gpkg")
    assert (tmp_path / "text.gpkg").read_text() == "not a database"
