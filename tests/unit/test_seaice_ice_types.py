"""Sea-ice type maps through the engine: every window equals the network on that window, grids
and styles right, dB and linear input alike, land masks, block averaging to the model's pixel,
a multi-task U-Net on the dense head, polygons, and bad input refused before anything is
written."""
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from numpy.lib.stride_tricks import sliding_window_view
from osgeo import gdal, ogr, osr

from rsai_toolbox.models.callbacks import Callbacks
from rsai_toolbox.models.cards import card_from_dict, load_card
from rsai_toolbox.models.errors import Cancelled, UserError
from rsai_toolbox.models.runtime.backends import load_predictor
from rsai_toolbox.models.runtime.engine import RunOptions, normaliser
from rsai_toolbox.models.seaice import icetype_cnn
from rsai_toolbox.models.seaice import train as seaice_train
from rsai_toolbox.models.seaice.ice_types import IceTypeOutputs, map_ice_types

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers import read, write_geotiff  # noqa: E402
from helpers_seaice import (NERSC_WEIGHTS, ORIGIN, POLAR_STEREO, sar_scene,  # noqa: E402
                            scaled_nersc_card, tree_digest, write_safe_product,
                            write_sar_geotiff, write_unreferenced_sar)

ROWS, COLS = 230, 260


@pytest.fixture(scope="module")
def nersc(shared_data, tmp_path_factory):
    weights = shared_data / NERSC_WEIGHTS
    card = load_card(scaled_nersc_card(tmp_path_factory.mktemp("card") / "card.json", weights))
    return card, icetype_cnn.load_nersc_network(weights), load_predictor(card, weights, "cpu")


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    linear = sar_scene(ROWS, COLS)
    return linear, write_sar_geotiff(tmp_path_factory.mktemp("scene") / "s1.tif", linear)


def collect() -> tuple[Callbacks, list[str], list[str]]:
    logs, warnings = [], []
    return Callbacks(log=logs.append, warn=warnings.append), logs, warnings


def window_probabilities(card, network, linear, stride, window=50):
    """The network on every window cut straight from the array: (rows, cols, classes)."""
    db = np.log10(linear)
    db *= 10
    view = sliding_window_view(db, (window, window), axis=(1, 2))[:, ::stride, ::stride]
    rows, cols = view.shape[1:3]
    windows = np.ascontiguousarray(np.moveaxis(view, 0, 2).reshape(-1, 2, window, window))
    windows = normaliser(card.primary)(windows)
    with torch.inference_mode():
        return network(torch.from_numpy(windows)).numpy().reshape(rows, cols, -1)


def nearest_window(pixels, stride, count, window=50):
    return np.clip(np.floor((pixels + 0.5 - (window - stride) / 2) / stride), 0,
                   count - 1).astype(int)


def assert_class_raster(ds, card, geotransform):
    assert ds.GetGeoTransform() == pytest.approx(geotransform)
    assert ds.GetSpatialRef().GetAuthorityCode(None) == str(POLAR_STEREO)
    band = ds.GetRasterBand(1)
    assert band.DataType == gdal.GDT_Byte and band.GetNoDataValue() == 255
    assert band.GetCategoryNames()[:4] == [c.name for c in card.classes]
    table = band.GetColorTable()
    for c in card.classes:
        assert "#%02X%02X%02X" % table.GetColorEntry(c.value)[:3] == c.color.upper()


@pytest.mark.parametrize("stride", [50, 10])
def test_every_window_equals_the_network_on_that_window(nersc, scene, tmp_path, stride):
    card, network, predictor = nersc
    linear, tif = scene
    outputs = IceTypeOutputs(str(tmp_path / "classes.tif"), str(tmp_path / "windows.tif"),
                             str(tmp_path / "p.tif"))
    result = map_ice_types(card, predictor, str(tif), outputs,
                           options=RunOptions(stride=stride))
    expected = window_probabilities(card, network, linear, stride)
    rows, cols = expected.shape[:2]
    windows, wds = read(outputs.windows)
    probabilities, _ = read(outputs.probabilities)
    at_centres = probabilities[:, 25 + stride * np.arange(rows)[:, None],
                               25 + stride * np.arange(cols)[None, :]]
    difference = np.abs(np.moveaxis(at_centres, 0, -1) - expected).max()
    print(f"stride {stride}: {rows} x {cols} windows, max |tool - network| {difference:.2e}")
    assert difference < 1e-5
    top2 = np.sort(expected, axis=-1)
    clear = top2[..., -1] - top2[..., -2] > 1e-4
    assert (windows == expected.argmax(-1))[clear].all() and clear.mean() > 0.99
    assert len(np.unique(windows)) >= 3  # the scene exercises several classes

    # the input grid: each pixel takes the window whose centre is nearest; beyond the last
    # window (not under any window) nodata
    classes, cds = read(outputs.classes)
    gt = (ORIGIN[0], 40.0, 0.0, ORIGIN[1], 0.0, -40.0)
    assert_class_raster(cds, card, gt)
    covered_rows, covered_cols = (rows - 1) * stride + 50, (cols - 1) * stride + 50
    r = nearest_window(np.arange(covered_rows), stride, rows)
    c = nearest_window(np.arange(covered_cols), stride, cols)
    assert (classes[:covered_rows, :covered_cols] == windows[r[:, None], c[None, :]]).all()
    assert (classes[covered_rows:] == 255).all() and (classes[:, covered_cols:] == 255).all()
    shift = (50 - stride) / 2 * 40
    assert_class_raster(wds, card, (ORIGIN[0] + shift, 40.0 * stride, 0.0, ORIGIN[1] - shift,
                                    0.0, -40.0 * stride))
    assert result.run.tiles == rows * cols and result.units == {"HH": "linear", "HV": "linear"}


def test_db_input_gives_the_linear_result_and_contradicting_units_warn(nersc, scene, tmp_path):
    card, _, predictor = nersc
    linear, tif = scene
    reference = IceTypeOutputs(str(tmp_path / "lin.tif"), probabilities=str(tmp_path / "lin_p.tif"))
    map_ice_types(card, predictor, str(tif), reference)
    db_tif = write_sar_geotiff(tmp_path / "db.tif", linear, db=True)
    callbacks, logs, warnings = collect()
    outputs = IceTypeOutputs(str(tmp_path / "db_out.tif"), probabilities=str(tmp_path / "db_p.tif"))
    result = map_ice_types(card, predictor, str(db_tif), outputs, units="linear",
                           callbacks=callbacks)
    assert result.units == {"HH": "db", "HV": "db"}
    assert any("declared linear" in w and "looks like dB" in w for w in warnings)
    # dB -> linear power (GDAL dB2pow) -> dB again in the engine: float rounding only
    assert np.abs(read(outputs.probabilities)[0] - read(reference.probabilities)[0]).max() < 1e-4
    assert np.mean(read(outputs.classes)[0] == read(reference.classes)[0]) > 0.999
    # a band whose description says dB but holding linear values: warned, values win
    tagged = write_sar_geotiff(tmp_path / "tagged.tif", linear,
                               descriptions=("Sigma0_HH_db", "Sigma0_HV_db"))
    callbacks, _, warnings = collect()
    map_ice_types(card, predictor, str(tagged), IceTypeOutputs(str(tmp_path / "t.tif")),
                  callbacks=callbacks)
    assert any("declared db" in w and "looks like linear" in w for w in warnings)
    assert (read(tmp_path / "t.tif")[0] == read(reference.classes)[0]).all()


def test_land_polygons_and_land_rasters_become_nodata(nersc, scene, tmp_path):
    card, _, predictor = nersc
    _, tif = scene
    # land: the western 100 columns, given as a polygon in WGS84 (laid onto the scene's grid)
    polar, wgs84 = osr.SpatialReference(), osr.SpatialReference()
    polar.ImportFromEPSG(POLAR_STEREO)
    wgs84.ImportFromEPSG(4326)
    wgs84.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    polar.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    x0, y0 = ORIGIN[0] - 400, ORIGIN[1] + 400
    x1, y1 = ORIGIN[0] + 100 * 40, ORIGIN[1] - ROWS * 40 - 400
    ring = ogr.Geometry(ogr.wkbLinearRing)
    for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)):
        ring.AddPoint_2D(x, y)
    land = ogr.Geometry(ogr.wkbPolygon)
    land.AddGeometry(ring)
    land.Segmentize(100)
    land.Transform(osr.CoordinateTransformation(polar, wgs84))
    gpkg = tmp_path / "land.gpkg"
    source = ogr.GetDriverByName("GPKG").CreateDataSource(str(gpkg))
    layer = source.CreateLayer("land", wgs84, ogr.wkbPolygon)
    feature = ogr.Feature(layer.GetLayerDefn())
    feature.SetGeometry(land)
    layer.CreateFeature(feature)
    source = None
    out = IceTypeOutputs(str(tmp_path / "masked.tif"))
    map_ice_types(card, predictor, str(tif), out, land_mask=str(gpkg))
    classes = read(out.classes)[0]
    assert (classes[:, :99] == 255).all()  # the reprojected edge may shift by a pixel
    assert (classes[:200, 150:250] != 255).all()

    # the same land as a raster at 80 m, 1 on land, 0 at sea
    mask = np.zeros((ROWS // 2 + 2, COLS // 2 + 2), np.uint8)
    mask[:, :50] = 1
    mask_tif = write_geotiff(tmp_path / "land.tif", mask,
                             (ORIGIN[0], 80.0, 0.0, ORIGIN[1], 0.0, -80.0), epsg=POLAR_STEREO)
    out2 = IceTypeOutputs(str(tmp_path / "masked2.tif"))
    map_ice_types(card, predictor, str(tif), out2, land_mask=str(mask_tif))
    classes2 = read(out2.classes)[0]
    assert (classes2[:, :100] == 255).all() and (classes2[:200, 150:250] != 255).all()


def test_finer_pixels_are_averaged_in_linear_power_to_the_models(nersc, tmp_path):
    """10 m pixels for the 40 m NERSC model: the model sees 4 x 4 means of linear power, the
    outputs stay on the 10 m grid."""
    card, network, predictor = nersc
    linear = sar_scene(460, 520, seed=3, block=150)
    tif = write_sar_geotiff(tmp_path / "iw.tif", linear, pixel=10.0)
    callbacks, logs, _ = collect()
    out = IceTypeOutputs(str(tmp_path / "c.tif"), str(tmp_path / "w.tif"), str(tmp_path / "p.tif"))
    result = map_ice_types(card, predictor, str(tif), out, options=RunOptions(stride=25),
                           callbacks=callbacks)
    assert result.factor == 4 and any("4 x 4 px averaged" in line for line in logs)
    averaged = linear.reshape(2, 115, 4, 130, 4).mean(axis=(2, 4), dtype=np.float64)
    expected = window_probabilities(card, network, averaged.astype(np.float32), 25)
    windows = read(out.windows)[0]
    probabilities, pds = read(out.probabilities)
    rows, cols = expected.shape[:2]
    assert windows.shape == (rows, cols)
    at_centres = probabilities[:, 4 * (25 + 25 * np.arange(rows))[:, None],
                               4 * (25 + 25 * np.arange(cols))[None, :]]
    difference = np.abs(np.moveaxis(at_centres, 0, -1) - expected).max()
    print(f"10 m input, 40 m model: max |tool - network on 4 x 4 means| {difference:.2e}")
    assert difference < 1e-4
    assert pds.GetGeoTransform() == pytest.approx((ORIGIN[0], 10.0, 0.0, ORIGIN[1], 0.0, -10.0))
    assert read(out.windows)[1].GetGeoTransform()[1] == pytest.approx(25 * 40.0)


@pytest.fixture(scope="module")
def unet(tmp_path_factory):
    """An untrained multi-task U-Net exported by train.py (ONNX + card, incidence angle)."""
    folder = tmp_path_factory.mktemp("unet")
    torch.manual_seed(0)
    model = seaice_train.build_model("resnet18", use_angle=True).eval()
    card = seaice_train.model_card("unet-test", "resnet18", True, 64, "CC0-1.0", None)
    onnx_path = seaice_train.export_onnx(model, folder / "model.onnx", True, card=card)
    card["local_weights"] = str(onnx_path)
    return card_from_dict(card), model, onnx_path


def test_multi_task_unet_runs_on_the_dense_head_with_all_three_charts(unet, tmp_path):
    card, model, onnx_path = unet
    predictor = load_predictor(card, onnx_path, "cpu")
    linear = sar_scene(96, 128, seed=5, block=24)
    angle = np.tile(np.linspace(20, 45, 128, dtype=np.float32), (96, 1))[None]
    tif = write_geotiff(tmp_path / "s1a.tif", np.concatenate([linear, angle]),
                        (ORIGIN[0], 40.0, 0.0, ORIGIN[1], 0.0, -40.0), epsg=POLAR_STEREO,
                        descriptions=("HH", "HV", "incidence_angle"))
    out = IceTypeOutputs(str(tmp_path / "sod.tif"), probabilities=str(tmp_path / "p.tif"),
                         sic=str(tmp_path / "sic.tif"), floe=str(tmp_path / "floe.tif"))
    result = map_ice_types(card, predictor, str(tif), out,
                           options=RunOptions(tile_size=64, overlap=0))
    assert result.factor == 2  # 40 m input, 80 m model
    # direct: 2 x 2 means (linear power, angle), dB, the card's normalisation, one 64 px tile
    mean = linear.reshape(2, 48, 2, 64, 2).mean(axis=(2, 4), dtype=np.float64).astype(np.float32)
    sar = normaliser(card.primary)(np.log10(mean)[None] * np.float32(10))
    ang = normaliser(card.input("angle"))(angle.reshape(1, 48, 2, 64, 2).mean(axis=(2, 4))[None]
                                          .astype(np.float32))
    pad = ((0, 0), (0, 0), (0, 16), (0, 0))
    with torch.inference_mode():
        scores = model(torch.from_numpy(np.pad(sar, pad, mode="reflect")),
                       torch.from_numpy(np.pad(ang, pad, mode="reflect")))
    expected = {name: torch.softmax(s, 1)[0, :, :48, :64].numpy().repeat(2, 1).repeat(2, 2)
                for name, s in zip(seaice_train.TARGETS, scores)}
    assert np.abs(read(out.probabilities)[0] - expected["SOD"]).max() < 1e-4
    for name, path in (("SOD", out.classes), ("SIC", out.sic), ("FLOE", out.floe)):
        classes, ds = read(path)
        assert np.mean(classes == expected[name].argmax(0)) > 0.999
        band = ds.GetRasterBand(1)
        # GDAL 3.6's GeoTIFF driver reads the .aux.xml lazily: ask for the description first
        assert band.GetDescription() == name
        spec = card.outputs[[o.name for o in card.outputs].index(name)]
        assert band.GetCategoryNames()[:len(spec.classes)] == [c.name for c in spec.classes]
    assert band.GetCategoryNames()[6] == "icebergs"


def test_polygons_are_connected_regions_with_area_and_mean_probability(nersc, scene, tmp_path):
    from scipy import ndimage

    card, _, predictor = nersc
    _, tif = scene
    out = IceTypeOutputs(str(tmp_path / "c.tif"), probabilities=str(tmp_path / "p.tif"),
                         polygons=str(tmp_path / "ice.gpkg"))
    result = map_ice_types(card, predictor, str(tif), out, options=RunOptions(stride=10))
    classes, probabilities = read(out.classes)[0], read(out.probabilities)[0]
    regions = []
    for c in card.classes:
        labels, n = ndimage.label(classes == c.value)  # 4-connected, as GDAL traces
        for k in range(1, n + 1):
            inside = labels == k
            regions.append((c.value, int(inside.sum()),
                            float(probabilities[c.value][inside].mean())))
    vectors = ogr.Open(out.polygons)  # kept: a layer must not outlive its data source
    layer = vectors.GetLayer("sea_ice_polygons")
    got = sorted((f.GetField("class"), f.GetField("pixels"), f.GetField("mean_probability"),
                  f.GetField("area_km2"), f.GetField("class_name")) for f in layer)
    assert result.polygons == len(regions) == len(got) > 3
    for (value, pixels, mean), (g_value, g_pixels, g_mean, area, name) in zip(sorted(regions), got):
        assert (g_value, g_pixels) == (value, pixels)
        assert g_mean == pytest.approx(mean, abs=1e-5)
        assert area == pytest.approx(pixels * 0.04 * 0.04)
        assert name == card.classes[value].name
    assert layer.GetSpatialRef().GetAuthorityCode(None) == str(POLAR_STEREO)


def test_a_gcp_only_scene_is_warped_north_up_first(nersc, tmp_path):
    card, _, predictor = nersc
    linear = sar_scene(ROWS, COLS, seed=4)
    path = tmp_path / "gcps.tif"
    ds = gdal.GetDriverByName("GTiff").Create(str(path), COLS, ROWS, 2, gdal.GDT_Float32)
    for index, band in enumerate(linear):
        ds.GetRasterBand(index + 1).WriteArray(band)
        ds.GetRasterBand(index + 1).SetDescription(("HH", "HV")[index])
    wgs84 = osr.SpatialReference()
    wgs84.ImportFromEPSG(4326)
    # about 40 m pixels near 75 N, the image rotated against north as a GRD swath is
    corners = [(0, 0, -20.0, 75.30), (COLS, 0, -19.62, 75.33), (0, ROWS, -20.03, 75.22),
               (COLS, ROWS, -19.65, 75.25)]
    ds.SetGCPs([gdal.GCP(lon, lat, 0, px, ln) for px, ln, lon, lat in corners],
               wgs84.ExportToWkt())
    ds = None
    callbacks, logs, _ = collect()
    out = IceTypeOutputs(str(tmp_path / "c.tif"))
    result = map_ice_types(card, predictor, str(path), out, callbacks=callbacks)
    classes, cds = read(out.classes)
    gt = cds.GetGeoTransform()
    assert gt[2] == gt[4] == 0 and gt[1] > 0 > gt[5]  # north-up
    assert cds.GetSpatialRef().GetAuthorityCode(None) == str(POLAR_STEREO)  # beyond 60 N
    assert 30 < result.pixel_m < 50 and (classes != 255).sum() > 0.3 * classes.size


def test_cancel_leaves_no_output(nersc, scene, tmp_path):
    card, _, predictor = nersc
    _, tif = scene
    calls = []
    callbacks = Callbacks(is_cancelled=lambda: calls.append(1) or len(calls) > 3)
    with pytest.raises(Cancelled):
        map_ice_types(card, predictor, str(tif), IceTypeOutputs(str(tmp_path / "c.tif"),
                                                                str(tmp_path / "w.tif")),
                      options=RunOptions(stride=10), callbacks=callbacks)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- bad input
BAD_INPUTS = {
    "single polarisation": (lambda f, lin: write_sar_geotiff(f / "hh.tif", lin[:1],
                                                             descriptions=("Sigma0_HH",)),
                            "HH only (single polarisation) but"),
    "one band, no description": (lambda f, lin: write_sar_geotiff(f / "one.tif", lin[:1],
                                                                  descriptions=()),
                                 "needs HH and HV: give a dual-polarisation product"),
    "no georeferencing": (lambda f, lin: write_unreferenced_sar(f / "plain.tif", lin),
                          "is not georeferenced"),
    "no CRS": (lambda f, lin: write_sar_geotiff(f / "nocrs.tif", lin, epsg=None),
               "no coordinate reference system"),
    "all nodata": (lambda f, lin: write_sar_geotiff(f / "empty.tif", np.full_like(lin, -9999),
                                                    nodata=-9999), "is all nodata"),
    "raw digital numbers": (lambda f, lin: write_sar_geotiff(f / "dn.tif", lin * 1e5),
                            "does not look like calibrated backscatter"),
    "pixels coarser than the model's": (lambda f, lin: write_sar_geotiff(f / "c.tif", lin,
                                                                         pixel=100.0),
                                        "coarser than the 40 m"),
    "SAFE without calibration": (lambda f, lin: write_safe_product(f / "p"),
                                 "offers no calibrated sigma0"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_refused_naming_problem_and_fix(nersc, tmp_path, case):
    card, _, predictor = nersc
    make, message = BAD_INPUTS[case]
    source = tmp_path / "in"
    source.mkdir()
    path = make(source, sar_scene(ROWS, COLS))
    before = tree_digest(path)
    out = tmp_path / "out"
    with pytest.raises(UserError, match=re.escape(message)) as error:
        map_ice_types(card, predictor, str(path),
                      IceTypeOutputs(str(out / "c.tif"), probabilities=str(out / "p.tif"),
                                     polygons=str(out / "p.gpkg")))
    print(f"{case}: {error.value}")
    assert not out.exists() or list(out.iterdir()) == []
    assert tree_digest(path) == before


def test_all_land_and_missing_angle_and_absent_heads_are_refused(nersc, unet, scene, tmp_path):
    card, _, predictor = nersc
    _, tif = scene
    land = write_geotiff(tmp_path / "land.tif", np.ones((ROWS, COLS), np.uint8),
                         (ORIGIN[0], 40.0, 0.0, ORIGIN[1], 0.0, -40.0), epsg=POLAR_STEREO)
    out = tmp_path / "out"
    with pytest.raises(UserError, match="LAND_MASK .* covers all of it"):
        map_ice_types(card, predictor, str(tif), IceTypeOutputs(str(out / "c.tif")),
                      land_mask=str(land))
    with pytest.raises(UserError, match="no SIC output"):
        map_ice_types(card, predictor, str(tif), IceTypeOutputs(str(out / "c.tif"),
                                                                sic=str(out / "sic.tif")))
    unet_card, _, onnx_path = unet
    with pytest.raises(UserError, match="needs the incidence angle"):
        map_ice_types(unet_card, load_predictor(unet_card, onnx_path, "cpu"), str(tif),
                      IceTypeOutputs(str(out / "c.tif")))
    with pytest.raises(UserError, match="same file as an input"):
        map_ice_types(card, predictor, str(tif), IceTypeOutputs(str(tif)))
    assert not out.exists()


def test_safe_product_single_polarisation_is_refused(nersc, tmp_path):
    card, _, predictor = nersc
    safe = write_safe_product(tmp_path / "p", polarisations=("HH",))
    with pytest.raises(UserError, match="has polarisation\\(s\\) HH but the model needs HH, HV"):
        map_ice_types(card, predictor, str(safe), IceTypeOutputs(str(tmp_path / "c.tif")))
    assert not (tmp_path / "c.tif").exists()
