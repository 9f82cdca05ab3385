"""The core's GeoPackage writer: whole or nothing, and the user's other layers kept."""

import pytest
from osgeo import ogr, osr

from rsai_toolbox.models.errors import UserError
from rsai_toolbox.models.runtime.vectors import Field, geopackage_layer

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


def write(path, layer="fields", count=3, fail_at=None):
    with geopackage_layer(path, layer, utm33(), "polygon", FIELDS, {"model": "m1"}) as writer:
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
    write(path, "fields", 2)  # a second run replaces its own layer only
    assert geopackage_layers(path) == {"roads": 5, "fields": 2}


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
