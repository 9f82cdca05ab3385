"""rsai:fusion_landcover through real qgis_process: an aerial image and the real Sentinel-2 scene
of landcover_s2, a model of the fusion signature (two named inputs), the single-source Deepness
card from a prepared offline cache, bad input, and a graphical model into Polygonize.

The aerial images are made from the real scene's red, green and blue bands resampled to 50 cm
(no real orthophoto is in the shared data); the satellite is the real 13-band scene.
"""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal, ogr, osr

from rsai_toolbox.models.registry import find_card
from rsai_toolbox.models.runtime.engine import softmax

from helpers import (EXAMPLE_MODELS, LANDCOVER_GEOTRANSFORM, apply_pointwise, conv_onnx,
                     landcover_geotiff, qgis_process, read, two_input_onnx)

RATIO, SIDE = 20, 600  # 50 cm aerial pixels under 10 m Sentinel-2; 600 px = 30 S2 pixels
SATELLITE_BANDS = [1, 2, 3, 7]  # B02, B03, B04, B08 of the 13 L1C bands (0-based)
CLASSES = [{"value": v, "name": n, "color": c} for v, n, c in
           ((0, "background", "#f2efe9"), (1, "building", "#e31a1c"), (2, "woodland", "#33a02c"),
            (3, "water", "#1f78b4"), (4, "road", "#ff7f00"))]


@pytest.fixture(scope="module")
def env(tmp_path_factory, shared_data):
    root = tmp_path_factory.mktemp("fusion")
    satellite = landcover_geotiff(shared_data, root / "s2.tif")
    weights = two_input_onnx(root / "fusion.onnx", 3, 4, RATIO, 5, seed=4)
    card = {"id": "fusion-e2e", "title": "Fusion test model", "task": "segmentation",
            "format": "onnx", "local_weights": "fusion.onnx", "licence": "CC0-1.0",
            "citation": "none",
            "inputs": [{"name": "aerial", "bands": ["R", "G", "B"], "scale": 255,
                        "resolution_m": 0.5},
                       {"name": "satellite", "bands": ["B02", "B03", "B04", "B08"],
                        "ratio": RATIO, "scale": 0.1, "pad": "edge"}],
            "tiling": {"tile_size": 200, "overlap": 40},
            "outputs": {"classes": CLASSES}}
    (root / "fusion.json").write_text(json.dumps(card))
    gt = LANDCOVER_GEOTRANSFORM
    origin = (gt[0] + 10 * gt[1], gt[3] + 10 * gt[5])  # on an S2 pixel corner: aligned grids
    aerial = aerial_like(satellite, root / "aerial_utm.tif",
                         (origin[0], gt[1] / RATIO, 0, origin[1], 0, gt[5] / RATIO), 32633)
    return {"root": root, "satellite": satellite, "weights": weights, "aerial": aerial,
            "card": root / "fusion.json",
            "vars": {"QGIS_CUSTOM_CONFIG_PATH": str(root / "qgis"),
                     "RSAI_CACHE_DIR": str(root / "cache"), "HF_HUB_OFFLINE": "1"}}


def aerial_like(satellite: Path, path: Path, geotransform, epsg: int) -> Path:
    """An RGB 'orthophoto' on the given 600 x 600 grid: the scene's B04, B03, B02 resampled
    (cubic) and stretched to 0-255."""
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    rgb = gdal.Translate("", str(satellite), format="VRT", bandList=[4, 3, 2],
                         scaleParams=[[0, 0.25, 0, 255]], outputType=gdal.GDT_Byte)
    target = gdal.GetDriverByName("GTiff").Create(str(path), SIDE, SIDE, 3, gdal.GDT_Byte)
    target.SetGeoTransform(geotransform)
    target.SetProjection(srs.ExportToWkt())
    gdal.Warp(target, rgb, resampleAlg="cubic")
    target = None
    return path


def run(env, out: Path, aerial, satellite=None, model=None, check=True, *extra):
    args = ["run", "rsai:fusion_landcover", "--", f"AERIAL={aerial}",
            f"MODEL={model or env['card']}", "DEVICE=1", f"OUTPUT={out}",
            f"OUTPUT_PROBABILITIES={out.with_name(out.stem + '_p.tif')}", *extra]
    if satellite:
        args.insert(3, f"SATELLITE={satellite}")
    result = qgis_process(*args, env=env["vars"], check=check)
    return result, result.stdout + result.stderr


def expected(env, aerial: Path, satellite_on_grid: np.ndarray) -> np.ndarray:
    """The model on the whole arrays: the aerial image and the satellite on the ratio grid."""
    wa, wb, bias = env["weights"]
    image = read(aerial)[0] / 255.0
    sat = np.einsum("kc,chw->khw", wb, satellite_on_grid / 0.1)
    up = np.repeat(np.repeat(sat, RATIO, 1), RATIO, 2)
    logits = np.einsum("kc,chw->khw", wa, image) + up + bias[:, None, None]
    return softmax(logits[None].astype(np.float32))[0]


def test_aligned_aerial_gets_window_reads_and_equals_the_model(env):
    aerial = env["aerial"]
    out = env["root"] / "landcover.tif"
    _, log = run(env, out, aerial, env["satellite"])
    assert "satellite: window reads at ratio 20" in log and "licence CC0-1.0" in log
    classes, ds = read(out)
    source = gdal.Open(str(aerial))
    assert ds.GetGeoTransform() == pytest.approx(source.GetGeoTransform())
    assert ds.GetSpatialRef().GetAuthorityCode(None) == "32633"
    assert ds.GetRasterBand(1).GetNoDataValue() == 255
    table = ds.GetRasterBand(1).GetColorTable()
    assert table.GetColorEntry(3)[:3] == (0x1f, 0x78, 0xb4)
    qml = out.with_suffix(".qml").read_text()
    assert "paletted" in qml and 'label="woodland"' in qml
    scene = read(env["satellite"])[0][SATELLITE_BANDS]
    want = expected(env, aerial, scene[:, 10:40, 10:40])
    probabilities = read(out.with_name("landcover_p.tif"))[0]
    np.testing.assert_allclose(probabilities, want, atol=1e-5)
    margin = np.sort(want, 0)[-1] - np.sort(want, 0)[-2] > 1e-4
    np.testing.assert_array_equal(classes[margin], want.argmax(0)[margin])


def test_aerial_in_another_crs_gets_each_tile_warped(env):
    """Aerial in Slovenia's D96/TM (EPSG:3794), satellite in UTM 33N: per-tile warps, compared
    with the whole scene warped once onto the model's 10 m grid."""
    utm, d96 = osr.SpatialReference(), osr.SpatialReference()
    utm.ImportFromEPSG(32633)
    d96.ImportFromEPSG(3794)
    for srs in (utm, d96):
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    to_d96 = osr.CoordinateTransformation(utm, d96)
    x, y, _ = to_d96.TransformPoint(465181.05 + 350, 5080254.63 - 350)
    origin = (round(x) - 150.0, round(y) + 150.0)
    aerial = aerial_like(env["satellite"], env["root"] / "aerial_d96.tif",
                         (origin[0], 0.5, 0, origin[1], 0, -0.5), 3794)
    out = env["root"] / "landcover_d96.tif"
    _, log = run(env, out, aerial, env["satellite"])
    assert "each tile's footprint is warped (bilinear)" in log
    _, ds = read(out)
    assert ds.GetSpatialRef().GetAuthorityCode(None) == "3794"
    assert ds.GetGeoTransform() == pytest.approx(gdal.Open(str(aerial)).GetGeoTransform())
    grid = gdal.Warp("", str(env["satellite"]), format="MEM", dstSRS=d96.ExportToWkt(),
                     outputBounds=(origin[0], origin[1] - 300, origin[0] + 300, origin[1]),
                     width=30, height=30, resampleAlg="bilinear", errorThreshold=0)
    want = expected(env, aerial, grid.ReadAsArray()[SATELLITE_BANDS])
    probabilities = read(out.with_name("landcover_d96_p.tif"))[0]
    difference = np.abs(probabilities - want)
    print(f"per-tile vs whole-scene warp: max |dP| {difference.max():.2e}")
    # measured 2.4e-07: the satellite tiles equal the whole-scene warp to float precision
    assert difference.max() < 1e-4


def test_single_source_card_from_a_prepared_offline_cache(env, tmp_path):
    """deepness-landcover's weights (a stand-in with the published file's signature) placed
    where the store keeps URL downloads, with the first-use record a download on a connected
    machine writes (tofu.json travels with the cache); without that record the file is not
    trusted. The satellite is ignored with a warning."""
    card = find_card("deepness-landcover")
    url = card.weights.url
    key = hashlib.sha256(url.encode()).hexdigest()
    cache = Path(env["vars"]["RSAI_CACHE_DIR"])
    cached = cache / "url" / key / url.rsplit("/", 1)[-1]
    cached.parent.mkdir(parents=True, exist_ok=True)
    weight, bias = conv_onnx(cached, 3, 5, seed=5)
    aerial = env["aerial"]
    out = tmp_path / "deepness.tif"
    result, log = run(env, out, aerial, env["satellite"], "deepness-landcover", False)
    assert result.returncode != 0 and "no record of its first download" in log
    record = json.loads((cache / "tofu.json").read_text()) if (cache / "tofu.json").exists() \
        else {}
    record[card.weights.identity()] = hashlib.sha256(cached.read_bytes()).hexdigest()
    (cache / "tofu.json").write_text(json.dumps(record))
    _, log = run(env, out, aerial, env["satellite"], model="deepness-landcover")
    assert "reads the aerial image only: SATELLITE is ignored" in log
    assert "Apache-2.0" in log and "CC-BY-NC-SA-4.0" in log
    classes = read(out)[0]
    want = apply_pointwise(weight, bias, read(aerial)[0] / 255.0).argmax(0)
    assert np.mean(classes == want) > 0.999


def test_bad_input_is_refused_with_a_clear_message_and_no_output(env, tmp_path):
    aerial = env["aerial"]
    far = tmp_path / "far.tif"
    gdal.Translate(str(far), str(env["satellite"]),
                   outputBounds=[400000, 5000000, 401000, 4999000])  # 80 km away
    for satellite, message in ((None, "give SATELLITE, or choose a single-source model"),
                               (far, "do not overlap")):
        out = tmp_path / "never.tif"
        result, log = run(env, out, aerial, satellite, check=False)
        assert result.returncode != 0 and message in log
        assert not out.exists() and not list(tmp_path.glob("*never*"))
    result, log = run(env, tmp_path / "x.tif", aerial, env["satellite"], None, False,
                      "TILE_SIZE=210")
    assert result.returncode != 0 and "multiple of 20" in log


def test_graphical_model_chains_fusion_into_polygons(env, tmp_path):
    model3 = EXAMPLE_MODELS / "fusion_landcover_polygons.model3"
    aerial = env["aerial"]
    qgis_process("run", str(model3), "--", f"AERIAL={aerial}",
                 f"SATELLITE={env['satellite']}", f"MODEL={env['card']}",
                 f"classify:landcover={tmp_path / 'landcover.tif'}",
                 f"polygonize:polygons={tmp_path / 'polygons.gpkg'}", env=env["vars"])
    classes, ds = read(tmp_path / "landcover.tif")
    polygons = ogr.Open(str(tmp_path / "polygons.gpkg"))  # kept open while its layer is read
    layer = polygons.GetLayer(0)
    assert layer.GetFeatureCount() > 0
    areas = {}
    for feature in layer:
        value = feature.GetField("class")
        areas[value] = areas.get(value, 0.0) + feature.GetGeometryRef().GetArea()
    pixel = abs(ds.GetGeoTransform()[1] * ds.GetGeoTransform()[5])
    counts = {int(v): int(n) * pixel for v, n in zip(*np.unique(classes, return_counts=True))}
    assert set(areas) == set(counts) and set(areas) <= {0, 1, 2, 3, 4}
    for value, area in counts.items():
        assert areas[value] == pytest.approx(area, rel=1e-6)
