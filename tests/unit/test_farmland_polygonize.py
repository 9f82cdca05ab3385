"""Field polygons: exact areas, boundary splitting, validity, no overlaps, CRS, probabilities."""
import numpy as np
import pytest
from osgeo import gdal, ogr, osr

from rsai_toolbox.models.callbacks import Callbacks
from rsai_toolbox.models.errors import Cancelled, UserError
from rsai_toolbox.models.farmland.polygonize import polygonize_fields

from helpers import geopackage_layers

gdal.UseExceptions()
ogr.UseExceptions()


def _write(path, array, epsg=32633, origin=(500000.0, 5300000.0), pixel=10.0, nodata=None,
           dtype=gdal.GDT_Byte):
    rows, cols = array.shape
    ds = gdal.GetDriverByName("GTiff").Create(str(path), cols, rows, 1, dtype)
    ds.SetGeoTransform((origin[0], pixel, 0, origin[1], 0, -pixel))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    ds.SetProjection(srs.ExportToWkt())
    band = ds.GetRasterBand(1)
    band.WriteArray(array)
    if nodata is not None:
        band.SetNoDataValue(nodata)
    ds = None
    return path


def _features(path):
    ds = ogr.Open(str(path))
    layer = ds.GetLayer(0)
    rows = [(f.GetGeometryRef().Clone(), f.items()) for f in layer]
    return ds, layer, rows


def _assert_valid_and_disjoint(rows):
    geoms = [g for g, _ in rows]
    for g in geoms:
        assert g.IsValid()
        assert ogr.GT_Flatten(g.GetGeometryType()) == ogr.wkbPolygon
    envelopes = [g.GetEnvelope() for g in geoms]
    for i in range(len(geoms)):
        for j in range(i + 1, len(geoms)):
            a, b = envelopes[i], envelopes[j]
            if a[1] < b[0] or b[1] < a[0] or a[3] < b[2] or b[3] < a[2]:
                continue
            inter = geoms[i].Intersection(geoms[j])
            assert inter is None or inter.GetArea() < 1e-6, (i, j, inter.GetArea())


@pytest.fixture(scope="module")
def ftw_mask(shared_data):
    return shared_data / "farmland" / "ftw_prediction_mask_3class.tif"


def test_real_ftw_mask_exact_area_valid_disjoint_crs(ftw_mask, tmp_path):
    src = gdal.Open(str(ftw_mask))
    classes = src.ReadAsArray()
    gt = src.GetGeoTransform()
    pixel_area = abs(gt[1] * gt[5])
    expected = np.count_nonzero(classes == 1) * pixel_area
    assert np.count_nonzero(classes == 1) == 29834  # PROVENANCE.md

    fractions = []
    out = tmp_path / "fields.gpkg"
    result = polygonize_fields(ftw_mask, out, callbacks=Callbacks(progress=fractions.append))
    assert out.is_file() and not list(tmp_path.glob("*.tmp*"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fields.gpkg"]  # no partial file
    assert fractions[-1] == 1.0 and fractions == sorted(fractions)
    assert result.count > 10
    assert result.total_area_m2 == pytest.approx(expected, rel=0.01)
    assert result.total_area_m2 == pytest.approx(expected, rel=1e-9)  # polygonize is exact

    ds, layer, rows = _features(out)
    assert layer.GetFeatureCount() == result.count
    assert sum(g.GetArea() for g, _ in rows) == pytest.approx(expected, rel=1e-9)
    for geom, attrs in rows:
        assert attrs["area_m2"] == pytest.approx(geom.GetArea())
        assert attrs["perimeter_m"] == pytest.approx(geom.Boundary().Length())
        assert attrs["area_m2"] % pixel_area == pytest.approx(0, abs=1e-6)
        assert "mean_field_prob" not in attrs
    _assert_valid_and_disjoint(rows)
    raster_srs = osr.SpatialReference(wkt=src.GetProjection())
    assert layer.GetSpatialRef().IsSame(raster_srs)
    assert layer.GetGeomType() == ogr.wkbPolygon


def test_min_area_and_simplify_on_real_mask(ftw_mask, tmp_path):
    full = polygonize_fields(ftw_mask, tmp_path / "full.gpkg")
    _, _, full_rows = _features(tmp_path / "full.gpkg")

    big = polygonize_fields(ftw_mask, tmp_path / "big.gpkg", min_area_m2=5000)
    _, _, big_rows = _features(tmp_path / "big.gpkg")
    assert 0 < big.count < full.count
    assert all(a["area_m2"] >= 5000 for _, a in big_rows)
    small_area = sum(a["area_m2"] for _, a in full_rows if a["area_m2"] < 5000)
    assert big.total_area_m2 == pytest.approx(full.total_area_m2 - small_area)

    simple = polygonize_fields(ftw_mask, tmp_path / "simple.gpkg", simplify_tolerance_m=15)
    _, _, simple_rows = _features(tmp_path / "simple.gpkg")
    _assert_valid_and_disjoint(simple_rows)
    points = lambda rows: sum(g.GetGeometryRef(0).GetPointCount() for g, _ in rows)
    assert points(simple_rows) < 0.7 * points(full_rows)
    assert simple.total_area_m2 == pytest.approx(full.total_area_m2, rel=0.05)


def test_boundary_line_splits_touching_fields(tmp_path):
    classes = np.ones((10, 21), np.uint8)
    classes[:, 10] = 2  # a boundary column between two field blocks
    path = _write(tmp_path / "two.tif", classes)
    result = polygonize_fields(path, tmp_path / "two.gpkg")
    assert result.count == 2
    _, _, rows = _features(tmp_path / "two.gpkg")
    assert sorted(a["area_m2"] for _, a in rows) == [10000.0, 10000.0]
    assert sorted(a["perimeter_m"] for _, a in rows) == [400.0, 400.0]
    _assert_valid_and_disjoint(rows)


def test_diagonal_boundary_separates_with_four_connectivity(tmp_path):
    classes = np.ones((8, 8), np.uint8)
    np.fill_diagonal(classes, 2)  # fields only touch at corners across the diagonal
    path = _write(tmp_path / "diag.tif", classes)
    result = polygonize_fields(path, tmp_path / "diag.gpkg")
    assert result.count == 2
    assert result.total_area_m2 == pytest.approx(56 * 100.0)
    _, _, rows = _features(tmp_path / "diag.gpkg")
    _assert_valid_and_disjoint(rows)


def test_mean_field_probability_exact(tmp_path):
    classes = np.zeros((4, 9), np.uint8)
    classes[:, :4] = 1
    classes[:, 4] = 2
    classes[:, 5:] = 1
    prob = np.zeros((4, 9), np.float32)
    prob[:, :4] = np.tile([0.2, 0.4], (4, 2))  # left field: mean 0.3
    prob[:, 5:] = 0.9
    prob[0, 8] = -1  # nodata inside the right field: ignored
    cls_path = _write(tmp_path / "cls.tif", classes)
    prob_path = _write(tmp_path / "prob.tif", prob, nodata=-1, dtype=gdal.GDT_Float32)
    polygonize_fields(cls_path, tmp_path / "p.gpkg", probability_raster_path=prob_path)
    _, _, rows = _features(tmp_path / "p.gpkg")
    by_area = sorted((g.GetEnvelope()[0], a["mean_field_prob"]) for g, a in rows)
    assert [p for _, p in by_area] == [pytest.approx(0.3), pytest.approx(0.9)]


def test_probability_on_another_grid_is_a_user_error(tmp_path):
    cls_path = _write(tmp_path / "cls.tif", np.ones((4, 4), np.uint8))
    prob_path = _write(tmp_path / "prob.tif", np.ones((5, 4), np.float32), dtype=gdal.GDT_Float32)
    with pytest.raises(UserError, match="grid"):
        polygonize_fields(cls_path, tmp_path / "x.gpkg", probability_raster_path=prob_path)


def test_geographic_crs_areas_in_metres(tmp_path):
    classes = np.zeros((20, 20), np.uint8)
    classes[5:15, 5:15] = 1
    path = _write(tmp_path / "geo.tif", classes, epsg=4326, origin=(13.1, 48.3), pixel=0.0001)
    warnings = []
    result = polygonize_fields(path, tmp_path / "geo.gpkg",
                               callbacks=Callbacks(warn=warnings.append))
    # 100 pixels of 0.0001 deg at 48.3 N on WGS84: ~7.44 m x ~11.12 m
    lat = np.radians(48.299)
    a, e2 = 6378137.0, 0.00669437999014
    w = 1 - e2 * np.sin(lat) ** 2
    dx = np.radians(1e-4) * a * np.cos(lat) / np.sqrt(w)
    dy = np.radians(1e-4) * a * (1 - e2) / w ** 1.5
    assert result.total_area_m2 == pytest.approx(100 * dx * dy, rel=0.01)
    assert "equal-area" in result.area_method and any("geographic CRS" in w for w in warnings)
    ds, layer, _ = _features(tmp_path / "geo.gpkg")
    assert layer.GetSpatialRef().IsGeographic()


def test_empty_raster_and_cancel(tmp_path):
    empty = _write(tmp_path / "empty.tif", np.zeros((5, 5), np.uint8))
    assert polygonize_fields(empty, tmp_path / "e.gpkg").count == 0
    ds, layer, _ = _features(tmp_path / "e.gpkg")  # keep ds alive while using its layer
    assert layer.GetFeatureCount() == 0

    full = _write(tmp_path / "full.tif", np.ones((5, 5), np.uint8))
    with pytest.raises(Cancelled):
        polygonize_fields(full, tmp_path / "c.gpkg", callbacks=Callbacks(is_cancelled=lambda: True))
    assert not list(tmp_path.glob("c*.gpkg"))


def test_other_layers_of_the_geopackage_are_kept(tmp_path):
    classes = np.ones((10, 21), np.uint8)
    classes[:, 10] = 2
    path = _write(tmp_path / "two.tif", classes)
    project = tmp_path / "project.gpkg"
    _write_points(project)  # the user's layer
    first = polygonize_fields(path, project, layer_name="fields")
    assert first.layer == "fields" and first.count == 2
    assert geopackage_layers(project) == {"wells": 3, "fields": 2}
    classes[:, :10] = 0  # a second run replaces its own layer only
    polygonize_fields(_write(tmp_path / "one.tif", classes), project, layer_name="fields")
    assert geopackage_layers(project) == {"wells": 3, "fields": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.tif", "project.gpkg", "two.tif"]


def test_cancel_while_writing_leaves_the_geopackage_as_it_was(ftw_mask, tmp_path):
    project = tmp_path / "project.gpkg"
    _write_points(project)  # the user's layer
    before = project.read_bytes()
    asked = []

    def cancel_while_writing():  # two checks before writing, one per 200 fields while writing
        asked.append(1)
        return len(asked) > 3

    with pytest.raises(Cancelled):
        polygonize_fields(ftw_mask, project, callbacks=Callbacks(is_cancelled=cancel_while_writing))
    assert len(asked) == 4  # it was writing when cancelled
    assert project.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project.gpkg"]


def test_output_that_is_not_a_geopackage_is_refused_before_any_work(tmp_path):
    path = _write(tmp_path / "cls.tif", np.ones((4, 4), np.uint8))
    asked = []
    with pytest.raises(UserError, match=r"must be a GeoPackage \(\.gpkg\)"):
        polygonize_fields(path, tmp_path / "fields.shp",
                          callbacks=Callbacks(progress=asked.append))
    assert asked == [] and sorted(p.name for p in tmp_path.iterdir()) == ["cls.tif"]


def test_a_users_layer_of_the_same_name_is_refused_before_any_work(tmp_path):
    path = _write(tmp_path / "cls.tif", np.ones((4, 4), np.uint8))
    project = _write_points(tmp_path / "project.gpkg")
    before, asked = project.read_bytes(), []
    with pytest.raises(UserError, match="already has a layer named 'wells' that this toolbox "
                                        "did not write"):
        polygonize_fields(path, project, layer_name="wells",
                          callbacks=Callbacks(progress=asked.append))
    assert asked == [] and project.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cls.tif", "project.gpkg"]


def _write_points(path):
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = ds.CreateLayer("wells", srs, ogr.wkbPoint)
    for i in range(3):
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetGeometry(ogr.CreateGeometryFromWkt(f"POINT ({500000 + i} 5300000)"))
        layer.CreateFeature(feature)
    feature = layer = ds = None
    return path
