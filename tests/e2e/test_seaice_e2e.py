"""rsai:sea_ice_types and rsai:sea_ice_scores through real qgis_process, and the graphical
model that chains them.

The NERSC weights are the released file (../shared/data/seaice): the built-in card
``nersc-s1-icetype`` finds them in a prepared offline cache (the layout the weights store
downloads into, verified by sha256 on use, HF_HUB_OFFLINE=1); the tests that need all four
classes use a user card in the QGIS profile with the same weights as a local file and a
normalisation onto the network's training scale (helpers_seaice.scaled_nersc_card).
"""

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from numpy.lib.stride_tricks import sliding_window_view
from osgeo import gdal, ogr
from sklearn.metrics import f1_score

from rsai_toolbox.models.cards import load_card
from rsai_toolbox.models.registry import BUILTIN_CARDS
from rsai_toolbox.models.runtime.engine import normaliser
from rsai_toolbox.models.seaice import icetype_cnn
from rsai_toolbox.models.seaice import train as seaice_train

from helpers import EXAMPLE_MODELS, qgis_process, read, write_geotiff
from helpers_seaice import (NERSC_WEIGHTS, ORIGIN, POLAR_STEREO, sar_scene, scaled_nersc_card,
                            tree_digest, write_safe_product, write_sar_geotiff,
                            write_unreferenced_sar)

SHA256 = "f9b18b7005d42f9405bda1da53662b7175c5bc39f051d5b49b79be17cd8889e9"
ROWS, COLS = 230, 260


@pytest.fixture(scope="module")
def env(tmp_path_factory, shared_data):
    root = tmp_path_factory.mktemp("seaice")
    weights = shared_data / NERSC_WEIGHTS
    cached = root / "cache" / "url" / SHA256 / "weights.hdf5"  # the store's URL layout
    cached.parent.mkdir(parents=True)
    cached.symlink_to(weights)
    cards = root / "qgis" / "profiles" / "default" / "rsai" / "cards"
    cards.mkdir(parents=True)
    scaled_nersc_card(cards / "nersc-scaled-test.json", weights)
    linear = sar_scene(ROWS, COLS)
    return {"root": root, "weights": weights, "cards": cards, "linear": linear,
            "scene": write_sar_geotiff(root / "s1.tif", linear),
            "vars": {"QGIS_CUSTOM_CONFIG_PATH": str(root / "qgis"),
                     "RSAI_CACHE_DIR": str(root / "cache"), "HF_HUB_OFFLINE": "1"}}


def types(env, *arguments, check=True):
    result = qgis_process("run", "rsai:sea_ice_types", "--", "DEVICE=1", *arguments,
                          env=env["vars"], check=check)
    return result, result.stdout + result.stderr


def direct(card, weights, linear, stride):
    """The released network on every window cut from the array: (rows, cols, classes)."""
    network = icetype_cnn.load_nersc_network(weights)
    db = np.log10(linear)
    db *= 10
    view = sliding_window_view(db, (50, 50), axis=(1, 2))[:, ::stride, ::stride]
    rows, cols = view.shape[1:3]
    windows = normaliser(card.primary)(
        np.ascontiguousarray(np.moveaxis(view, 0, 2).reshape(-1, 2, 50, 50)))
    with torch.inference_mode():
        return network(torch.from_numpy(windows)).numpy().reshape(rows, cols, -1)


def at_window_centres(probabilities, stride, rows, cols):
    picked = probabilities[:, 25 + stride * np.arange(rows)[:, None],
                           25 + stride * np.arange(cols)[None, :]]
    return np.moveaxis(picked, 0, -1)


def test_the_released_card_runs_from_the_offline_cache(env, tmp_path):
    out = tmp_path / "ice.tif"
    _, log = types(env, f"INPUT={env['scene']}", f"OUTPUT={out}",
                   f"OUTPUT_PROBABILITIES={tmp_path / 'p.tif'}")
    card = load_card(BUILTIN_CARDS / "nersc-s1-icetype.json")
    assert "Model nersc-s1-icetype" in log and "raw.githubusercontent.com/nansencenter" in log
    assert "GPL-3.0" in log and "device torch cpu" in log
    assert "HH looks like linear sigma0" in log
    expected = direct(card, env["weights"], env["linear"], 50)
    got = at_window_centres(read(tmp_path / "p.tif")[0], 50, *expected.shape[:2])
    assert np.abs(got - expected).max() < 1e-5
    classes, ds = read(out)
    assert ds.GetGeoTransform() == pytest.approx((ORIGIN[0], 40.0, 0, ORIGIN[1], 0, -40.0))
    assert ds.GetSpatialRef().GetAuthorityCode(None) == str(POLAR_STEREO)
    band = ds.GetRasterBand(1)
    assert band.GetNoDataValue() == 255 and band.GetColorTable().GetColorEntry(3)[:3] == (
        0xB4, 0x64, 0x32)
    qml = out.with_suffix(".qml").read_text()
    assert "paletted" in qml and 'label="old ice"' in qml and 'label="ice free"' in qml
    assert (classes[200:] == 255).all()  # below the last window row


@pytest.fixture(scope="module")
def fine_run(env):
    """Scaled card, stride 10, every output."""
    folder = env["root"] / "fine"
    folder.mkdir()
    outs = {name: folder / f"{name.lower()}.tif" for name in
            ("OUTPUT", "OUTPUT_WINDOWS", "OUTPUT_PROBABILITIES")}
    outs["OUTPUT_POLYGONS"] = folder / "ice.gpkg"
    _, log = types(env, f"INPUT={env['scene']}", "MODEL=nersc-scaled-test", "STRIDE=10",
                   *[f"{k}={v}" for k, v in outs.items()])
    return outs, log


def test_every_window_at_stride_10_equals_the_network(env, fine_run):
    outs, log = fine_run
    card = load_card(env["cards"] / "nersc-scaled-test.json")
    expected = direct(card, env["weights"], env["linear"], 10)
    rows, cols = expected.shape[:2]
    got = at_window_centres(read(outs["OUTPUT_PROBABILITIES"])[0], 10, rows, cols)
    difference = np.abs(got - expected).max()
    print(f"qgis_process, stride 10: {rows} x {cols} windows, max |tool - network| "
          f"{difference:.2e}")
    assert difference < 1e-5
    windows, wds = read(outs["OUTPUT_WINDOWS"])
    assert (windows == expected.argmax(-1)).mean() > 0.99 and len(np.unique(windows)) == 4
    assert wds.GetGeoTransform() == pytest.approx(
        (ORIGIN[0] + 800, 400.0, 0, ORIGIN[1] - 800, 0, -400.0))
    assert "22 x 19 windows of 50 px every 10 px" in log  # columns x rows
    assert Path(outs["OUTPUT_WINDOWS"]).with_suffix(".qml").is_file()


def test_polygons_carry_class_area_and_probability(env, fine_run):
    outs, _ = fine_run
    vectors = ogr.Open(str(outs["OUTPUT_POLYGONS"]))
    layer = vectors.GetLayer("sea_ice_polygons")
    features = list(layer)
    classes = read(outs["OUTPUT"])[0]
    assert len(features) > 4
    assert sum(f.GetField("pixels") for f in features) == int((classes != 255).sum())
    assert sum(f.GetField("area_km2") for f in features) == pytest.approx(
        (classes != 255).sum() * 0.0016)
    names = {f.GetField("class"): f.GetField("class_name") for f in features}
    assert names[0] == "ice free" and all(0 < f.GetField("mean_probability") <= 1
                                          for f in features)
    qml = Path(outs["OUTPUT_POLYGONS"]).with_suffix(".qml").read_text()
    assert 'attr="class"' in qml and "young ice" in qml


def test_db_raster_said_to_be_linear_warns_and_runs(env, tmp_path):
    db = write_sar_geotiff(tmp_path / "db.tif", env["linear"], db=True)
    out = tmp_path / "db_out.tif"
    _, log = types(env, f"INPUT={db}", "MODEL=nersc-scaled-test", "UNITS=1", f"OUTPUT={out}")
    assert "WARNING" in log and "declared linear but HH looks like dB" in log
    reference = tmp_path / "lin.tif"
    types(env, f"INPUT={env['scene']}", "MODEL=nersc-scaled-test", f"OUTPUT={reference}")
    assert np.mean(read(out)[0] == read(reference)[0]) > 0.999


def test_land_mask_polygons(env, tmp_path):
    gpkg = tmp_path / "land.gpkg"
    source = ogr.GetDriverByName("GPKG").CreateDataSource(str(gpkg))
    srs = gdal.Open(str(env["scene"])).GetSpatialRef()
    layer = source.CreateLayer("land", srs, ogr.wkbPolygon)
    feature = ogr.Feature(layer.GetLayerDefn())
    x1 = ORIGIN[0] + 120 * 40
    feature.SetGeometry(ogr.CreateGeometryFromWkt(
        f"POLYGON(({ORIGIN[0] - 100} {ORIGIN[1] + 100},{x1} {ORIGIN[1] + 100},"
        f"{x1} {ORIGIN[1] - 10000},{ORIGIN[0] - 100} {ORIGIN[1] - 10000},"
        f"{ORIGIN[0] - 100} {ORIGIN[1] + 100}))"))
    layer.CreateFeature(feature)
    source = None
    out = tmp_path / "masked.tif"
    types(env, f"INPUT={env['scene']}", "MODEL=nersc-scaled-test", f"LAND_MASK={gpkg}",
          f"OUTPUT={out}")
    classes = read(out)[0]
    assert (classes[:, :120] == 255).all() and (classes[:200, 150:250] != 255).all()


@pytest.fixture(scope="module")
def unet_card(env):
    """A multi-task U-Net card with its ONNX (train.py's export) in the user cards folder."""
    torch.manual_seed(0)
    model = seaice_train.build_model("resnet18", use_angle=True).eval()
    card = seaice_train.model_card("unet-e2e", "resnet18", True, 64, "CC0-1.0", None)
    onnx_path = seaice_train.export_onnx(model, env["cards"] / "unet-e2e.onnx", True, card=card)
    card["local_weights"] = onnx_path.name
    (env["cards"] / "unet-e2e.json").write_text(json.dumps(card))
    return "unet-e2e"


BAD = {
    "single polarisation": ("nersc-s1-icetype",
                            lambda f, lin: write_sar_geotiff(f / "hh.tif", lin[:1],
                                                             descriptions=("Sigma0_HH",)),
                            "HH only (single polarisation) but"),
    "no georeferencing": ("nersc-s1-icetype",
                          lambda f, lin: write_unreferenced_sar(f / "plain.tif", lin),
                          "is not georeferenced"),
    "all nodata": ("nersc-s1-icetype",
                   lambda f, lin: write_sar_geotiff(f / "e.tif", np.full_like(lin, np.nan),
                                                    nodata=float("nan")), "is all nodata"),
    "angle missing": ("unet-e2e", lambda f, lin: write_sar_geotiff(f / "two.tif", lin),
                      "needs the incidence angle"),
    "SAFE without calibration": ("nersc-s1-icetype",
                                 lambda f, lin: write_safe_product(f / "p"),
                                 "offers no calibrated sigma0"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_fails_clearly_and_writes_nothing(env, unet_card, tmp_path, case):
    model, make, message = BAD[case]
    folder = tmp_path / "in"
    folder.mkdir()
    path = make(folder, env["linear"])
    before = tree_digest(path)
    out = tmp_path / "out"
    result, log = types(env, f"INPUT={path}", f"MODEL={model}", f"OUTPUT={out / 'c.tif'}",
                        f"OUTPUT_POLYGONS={out / 'p.gpkg'}", check=False)
    assert result.returncode != 0
    assert message in log, log[-2000:]
    assert not out.exists() or not any(out.iterdir())
    assert tree_digest(path) == before


def test_all_land_fails_and_writes_nothing(env, tmp_path):
    land = write_geotiff(tmp_path / "land.tif", np.ones((ROWS, COLS), np.uint8),
                         (ORIGIN[0], 40.0, 0.0, ORIGIN[1], 0.0, -40.0), epsg=POLAR_STEREO)
    result, log = types(env, f"INPUT={env['scene']}", f"LAND_MASK={land}",
                        f"OUTPUT={tmp_path / 'c.tif'}", check=False)
    assert result.returncode != 0 and "covers all of it" in log
    assert not (tmp_path / "c.tif").exists()


def nersc_chart(classes, seed=0):
    """A chart in the model's codes: the prediction with a fifth of the pixels changed."""
    rng = np.random.default_rng(seed)
    chart = classes.copy()
    change = (rng.random(chart.shape) < 0.2) & (chart != 255)
    chart[change] = rng.integers(0, 4, change.sum())
    return chart


def test_scores_of_the_map_against_a_chart(env, fine_run, tmp_path):
    outs, _ = fine_run
    classes, ds = read(outs["OUTPUT"])
    chart = nersc_chart(classes)
    chart_path = write_geotiff(tmp_path / "chart.tif", chart, ds.GetGeoTransform(),
                               epsg=POLAR_STEREO, nodata=255)
    table = tmp_path / "scores.csv"
    result = qgis_process("run", "rsai:sea_ice_scores", "--", f"PREDICTION={outs['OUTPUT']}",
                          f"CHART={chart_path}", f"OUTPUT_TABLE={table}", env=env["vars"])
    keep = (chart != 255) & (classes != 255)
    expected = 100 * f1_score(chart[keep], classes[keep], average="weighted")
    printed = float(re.search(r"SOD_F1:\s*([0-9.]+)", result.stdout).group(1))
    assert printed == pytest.approx(expected, abs=1e-4)
    rows = list(csv.DictReader(open(table)))
    sod = next(r for r in rows if r["chart"] == "SOD" and r["metric"] == "weighted F1")
    assert 100 * float(sod["value"]) == pytest.approx(expected, abs=1e-4)
    assert {r["class_name"] for r in rows if r["metric"] == "f1"} == {
        "ice free", "young ice", "first-year ice", "old ice"}
    assert re.search(r"COMBINED:\s*nan", result.stdout)


def test_graphical_model_chains_types_into_scores(env, fine_run, tmp_path):
    outs, _ = fine_run
    chart = nersc_chart(read(outs["OUTPUT"])[0], seed=1)
    chart_path = write_geotiff(tmp_path / "chart.tif", chart,
                               gdal.Open(str(env["scene"])).GetGeoTransform(),
                               epsg=POLAR_STEREO, nodata=255)
    model3 = EXAMPLE_MODELS / "sea_ice_types_then_scores.model3"
    qgis_process("run", str(model3), "--", f"INPUT={env['scene']}", f"CHART={chart_path}",
                 "MODEL=nersc-scaled-test", f"types:ice_types={tmp_path / 'ice.tif'}",
                 f"scores:table={tmp_path / 'table.csv'}", env=env["vars"])
    classes = read(tmp_path / "ice.tif")[0]  # the model's default stride: 50
    keep = (chart != 255) & (classes != 255)
    expected = f1_score(chart[keep], classes[keep], average="weighted")
    rows = list(csv.DictReader(open(tmp_path / "table.csv")))
    sod = next(r for r in rows if r["chart"] == "SOD" and r["metric"] == "weighted F1")
    assert float(sod["value"]) == pytest.approx(expected, abs=1e-6)
