"""Farmland tools through real qgis_process on the real FTW Sentinel-2 stack and mask.

The FTW model is the real card ``ftw-3class`` (torchgeo/ftw at its pinned revision, sha256 null
= trust on first use) served by the local Hub stand-in with an FTW U-Net of random, seeded
weights: everything but the trained values is the real path (download, TOFU, strict state-dict
load, tiling, styles).
"""

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from osgeo import gdal, ogr

from rsai_toolbox.models.farmland.clipseg import IMAGENET_MEAN, IMAGENET_STD
from rsai_toolbox.models.registry import BUILTIN_CARDS, find_card

from helpers import EXAMPLE_MODELS, qgis_process, read, write_geotiff
from helpers_farmland import (FTW_FILE_3CLASS, FTW_REPO, FTW_REVISION, clipseg_assets,
                              ftw_model)
from hub_server import HubServer

CLIPSEG_REPO, CLIPSEG_REVISION = "Xenova/clipseg-rd64-refined", "0" * 39 + "1"
MARGIN = 48  # pixels from the raster's edge left out of comparisons


@pytest.fixture(scope="module")
def env(tmp_path_factory, shared_data):
    """Isolated profile + cache, the FTW weights served as torchgeo/ftw, a CLIPSeg stand-in."""
    root = tmp_path_factory.mktemp("farmland")
    model = ftw_model(3, seed=0)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    clipseg, tokenizer, onnx = clipseg_assets(root / "clipseg")
    # The stand-in's file name carries the start of its own sha256, as TorchGeo's names do (the
    # store checks that prefix at the first download): the card is the built-in one with that
    # file name, given as a user card of the same id.
    digest = hashlib.sha256(buffer.getvalue()).hexdigest()
    filename = FTW_FILE_3CLASS.replace("5d591cbb", digest[:8])
    card = json.loads((BUILTIN_CARDS / "ftw-3class.json").read_text())
    card["weights"]["filename"] = filename
    cards = root / "qgis" / "profiles" / "default" / "rsai" / "cards"
    cards.mkdir(parents=True)
    (cards / "ftw-3class.json").write_text(json.dumps(card))
    with HubServer(root / "hub") as hub:
        hub.add_file(FTW_REPO, FTW_REVISION, filename, buffer.getvalue())
        hub.add_file(CLIPSEG_REPO, CLIPSEG_REVISION, "onnx/model.onnx", onnx.read_bytes())
        hub.add_file(CLIPSEG_REPO, CLIPSEG_REVISION, "tokenizer.json", tokenizer.read_bytes())
        yield {"root": root, "model": model, "hub": hub, "onnx": onnx, "tokenizer": tokenizer,
               "clipseg": clipseg,
               "stack": shared_data / "farmland" / "ftw_s2_bitemporal_austria.tif",
               "mask": shared_data / "farmland" / "ftw_prediction_mask_3class.tif",
               "vars": {"QGIS_CUSTOM_CONFIG_PATH": str(root / "qgis"),
                        "RSAI_CACHE_DIR": str(root / "cache"), "HF_HUB_OFFLINE": "0",
                        "HF_ENDPOINT": hub.endpoint}}


def segment(env, out: Path, *arguments, check=True, probabilities=True):
    args = ["run", "rsai:farmland_segmentation", "--", "MODEL=ftw-3class", "DEVICE=1",
            f"OUTPUT={out}", *arguments]
    if probabilities:
        args.append(f"OUTPUT_PROBABILITIES={out.with_name(out.stem + '_p.tif')}")
    result = qgis_process(*args, env=env["vars"], check=check)
    return result, result.stdout + result.stderr


@pytest.fixture(scope="module")
def default_run(env):
    out = env["root"] / "fields.tif"
    _, log = segment(env, out, f"INPUT={env['stack']}")
    return out, log


def inner(array):
    return array[..., MARGIN:-MARGIN, MARGIN:-MARGIN]


def test_segmentation_of_the_real_stack_keeps_grid_style_and_logs(env, default_run):
    out, log = default_run
    classes, ds = read(out)
    _, source = read(env["stack"])
    assert classes.shape == (379, 578)
    assert ds.GetGeoTransform() == pytest.approx(source.GetGeoTransform())
    assert ds.GetSpatialRef().GetAuthorityCode(None) == "32633"
    assert set(np.unique(classes)) <= {0, 1, 2}
    table = ds.GetRasterBand(1).GetColorTable()
    assert table is not None and table.GetColorEntry(2)[:3] == (0xe4, 0x1a, 0x1c)
    qml = out.with_suffix(".qml").read_text()
    assert "paletted" in qml and 'label="boundary"' in qml
    assert "ftw-3class" in log and FTW_REVISION in log and "device torch cpu" in log
    assert "no published checksum: recorded sha256" in log  # TOFU on the first download
    probabilities, _ = read(out.with_name("fields_p.tif"))
    assert probabilities.shape == (3, 379, 578)
    np.testing.assert_allclose(probabilities.sum(0), 1, atol=1e-4)


def test_untiled_run_equals_the_model_and_tiled_run_is_close(env, default_run):
    whole, tiled = env["root"] / "whole.tif", env["root"] / "tiled.tif"
    segment(env, whole, f"INPUT={env['stack']}", "TILE_SIZE=640", "OVERLAP=0")
    segment(env, tiled, f"INPUT={env['stack']}", "TILE_SIZE=128", "OVERLAP=32")

    stack = read(env["stack"])[0].astype(np.float32) / np.float32(find_card("ftw-3class").primary.scale)
    padded = np.pad(stack, ((0, 0), (0, 640 - 379), (0, 640 - 578)), mode="reflect")
    with torch.inference_mode():
        logits = env["model"](torch.from_numpy(padded[None]))[0, :, :379, :578]
    expected = torch.softmax(logits, 0).numpy()
    p_whole = read(whole.with_name("whole_p.tif"))[0]
    np.testing.assert_allclose(p_whole, expected, atol=1e-4)  # the whole raster, one tile
    assert (read(whole)[0] == expected.argmax(0)).all()

    p_tiled = read(tiled.with_name("tiled_p.tif"))[0]
    difference = np.abs(inner(p_tiled) - inner(p_whole))
    agreement = np.mean(inner(read(tiled)[0]) == inner(read(whole)[0]))
    print(f"tiled (128/32) vs untiled: max |dP| {difference.max():.4f}, mean {difference.mean():.5f}, "
          f"class agreement {agreement:.4f}")
    # A U-Net's receptive field is larger than a 128 px tile: tiling changes the context, so
    # tiled and untiled agree closely, not bit for bit.
    assert difference.mean() < 0.005 and agreement > 0.99


def _split(env, folder: Path, shift_px: int = 0, offset_m: float = 0.0):
    """A (bands 1-4) and B (bands 5-8, stored as B08, B02, B03, B04) with band descriptions."""
    stack, ds = read(env["stack"])
    gt = list(ds.GetGeoTransform())
    a = write_geotiff(folder / "a.tif", stack[:4], gt, descriptions=("B04", "B03", "B02", "B08"))
    b_data = stack[[7, 6, 5, 4], :, shift_px:]
    b_gt = [gt[0] + shift_px * gt[1] + offset_m, gt[1], 0, gt[3], 0, gt[5]]
    b = write_geotiff(folder / f"b_{shift_px}_{int(offset_m)}.tif", b_data, b_gt,
                      descriptions=("B08 nir", "B02", "B03", "B04"))
    return a, b


def test_two_dates_equal_the_stack_and_misaligned_b_is_warped(env, default_run, tmp_path):
    a, b = _split(env, tmp_path)
    out = tmp_path / "ab.tif"
    _, log = segment(env, out, f"INPUT_A={a}", f"INPUT_B={b}")
    assert (read(out)[0] == read(default_run[0])[0]).all()
    np.testing.assert_array_equal(read(out.with_name("ab_p.tif"))[0],
                                  read(default_run[0].with_name("fields_p.tif"))[0])
    assert "band descriptions" in log

    a, shifted = _split(env, tmp_path, shift_px=5)
    out = tmp_path / "shifted.tif"
    _, log = segment(env, out, f"INPUT_A={a}", f"INPUT_B={shifted}")
    # Whole pixels off: B's pixels still line up with A's, so B is read, not resampled.
    assert "WARNING" in log and "covers only 99%" in log and "resampled" not in log
    classes, ds = read(out)
    assert ds.GetGeoTransform() == pytest.approx(read(a)[1].GetGeoTransform())
    assert (classes[:, :5] == 255).all()  # window B does not cover these columns: nodata
    agreement = np.mean(inner(classes)[:, MARGIN:] == inner(read(default_run[0])[0])[:, MARGIN:])
    print(f"B shifted by 5 px: class agreement away from the gap {agreement:.4f}")
    assert agreement > 0.95

    a, off_grid = _split(env, tmp_path, shift_px=5, offset_m=5.0)
    out = tmp_path / "off_grid.tif"
    _, log = segment(env, out, f"INPUT_A={a}", f"INPUT_B={off_grid}")
    # Half a pixel off A's grid: B is resampled (bilinear) tile by tile, with a warning.
    assert "WARNING" in log and "resampled (bilinear)" in log
    classes = read(out)[0]
    assert (classes[:, :5] == 255).all()
    agreement = np.mean(inner(classes)[:, MARGIN:] == inner(read(default_run[0])[0])[:, MARGIN:])
    print(f"B half a pixel off A's grid, resampled: class agreement {agreement:.4f}")
    assert agreement > 0.9


def test_two_date_errors(env, tmp_path):
    a, far = _split(env, tmp_path, offset_m=100_000)
    result, log = segment(env, tmp_path / "far.tif", f"INPUT_A={a}", f"INPUT_B={far}", check=False)
    assert result.returncode != 0 and "do not overlap" in log
    result, log = segment(env, tmp_path / "one.tif", f"INPUT_A={a}", check=False)
    assert result.returncode != 0 and "INPUT_B is empty" in log
    result, log = segment(env, tmp_path / "four.tif", f"INPUT={a}", check=False)
    assert result.returncode != 0 and "has 4 bands but this model needs 8" in log
    assert not any(tmp_path.glob("far.tif")) and not any(tmp_path.glob("one.tif"))


def test_polygonize_the_real_ftw_mask(env, tmp_path):
    out = tmp_path / "fields.gpkg"
    result = qgis_process("run", "rsai:polygonize_fields", "--", f"INPUT={env['mask']}",
                          "MIN_AREA=0", f"OUTPUT={out}", env=env["vars"])
    mask, mask_ds = read(env["mask"])
    field_area = np.count_nonzero(mask == 1) * abs(mask_ds.GetGeoTransform()[1] *
                                                   mask_ds.GetGeoTransform()[5])
    ds = ogr.Open(str(out))
    layer = ds.GetLayer(0)
    assert layer.GetSpatialRef().GetAuthorityCode(None) == "32633"
    geometries, areas = [], []
    for feature in layer:
        geom = feature.GetGeometryRef().Clone()
        assert geom.IsValid()
        assert feature.GetField("area_m2") == pytest.approx(geom.GetArea(), rel=1e-9)
        assert feature.GetField("perimeter_m") > 0
        geometries.append(geom)
        areas.append(geom.GetArea())
    union = ogr.Geometry(ogr.wkbMultiPolygon)
    for geom in geometries:
        union.AddGeometry(geom)
    union = union.UnionCascaded()
    error = abs(sum(areas) - field_area) / field_area
    print(f"polygonize real FTW mask: {len(geometries)} polygons, area {sum(areas):.0f} m² vs "
          f"{field_area:.0f} m² of field pixels (error {error:.3%})")
    assert len(geometries) > 50
    assert error < 0.01
    assert union.GetArea() == pytest.approx(sum(areas), rel=1e-9)  # no overlaps
    assert "field polygons" in result.stdout + result.stderr
    assert "<renderer-v2" in out.with_suffix(".qml").read_text()


def test_polygonize_with_probabilities_after_segmentation(env, default_run, tmp_path):
    out = tmp_path / "p.gpkg"
    qgis_process("run", "rsai:polygonize_fields", "--", f"INPUT={default_run[0]}",
                 f"PROBABILITIES={default_run[0].with_name('fields_p.tif')}", "MIN_AREA=500",
                 # random weights call most pixels "boundary": polygonize those, with P(boundary)
                 "FIELD_VALUE=2", "BOUNDARY_VALUE=1", "PROBABILITY_BAND=3",
                 "SIMPLIFY=5", f"OUTPUT={out}", env=env["vars"])
    ds = ogr.Open(str(out))
    layer = ds.GetLayer(0)
    values = [(f.GetField("area_m2"), f.GetField("mean_field_prob")) for f in layer]
    assert values and all(area >= 500 for area, _ in values)
    assert all(p is not None and 0 <= p <= 1 for _, p in values)


def _rgb(env, path: Path) -> Path:
    stack, ds = read(env["stack"])
    rgb = np.clip(stack[:3] / 3000.0 * 255, 0, 255).astype(np.uint8)
    out = gdal.GetDriverByName("GTiff").Create(str(path), rgb.shape[2], rgb.shape[1], 3, gdal.GDT_Byte)
    out.SetGeoTransform(ds.GetGeoTransform())
    out.SetProjection(ds.GetProjection())
    for i in range(3):
        out.GetRasterBand(i + 1).WriteArray(rgb[i])
    out = None
    return path


def test_prompt_mask_through_the_hub_and_empty_prompt(env, tmp_path):
    rgb = _rgb(env, tmp_path / "rgb.tif")
    reference = f"{CLIPSEG_REPO}@{CLIPSEG_REVISION}:onnx/model.onnx"
    result = qgis_process("run", "rsai:farmland_prompt_mask", "--", f"INPUT={rgb}",
                          "PROMPT=rice paddy fields", "THRESHOLD=0.6", f"MODEL={reference}",
                          f"OUTPUT={tmp_path / 'mask.tif'}",
                          f"OUTPUT_PROBABILITIES={tmp_path / 'prob.tif'}", env=env["vars"])
    log = result.stdout + result.stderr
    assert CLIPSEG_REVISION in log and "onnxruntime" in log

    # The stand-in is pointwise and 352 px tiles are not resized: the probability is exact.
    from rsai_toolbox.models.farmland.clipseg import ClipSegPrompter
    ids, attention = ClipSegPrompter(env["onnx"], env["tokenizer"]).tokenize("rice paddy fields")
    with torch.no_grad():
        text = env["clipseg"].text(torch.from_numpy(ids), torch.from_numpy(attention))[0].numpy()
    image = read(rgb)[0].astype(np.float64) / 255.0
    pixels = (image - np.array(IMAGENET_MEAN)[:, None, None]) / np.array(IMAGENET_STD)[:, None, None]
    expected = 1 / (1 + np.exp(-(np.einsum("chw,c->hw", pixels, text) + 0.1)))
    probability, ds = read(tmp_path / "prob.tif")
    np.testing.assert_allclose(probability, expected, atol=1e-4)
    mask = read(tmp_path / "mask.tif")[0]
    decided = np.abs(expected - 0.6) > 1e-3
    assert (mask[decided] == (expected > 0.6)[decided]).all()
    assert 0 < mask.mean() < 1  # both classes present on the real scene
    assert ds.GetGeoTransform() == pytest.approx(read(rgb)[1].GetGeoTransform())

    empty = qgis_process("run", "rsai:farmland_prompt_mask", "--", f"INPUT={rgb}", "PROMPT= ",
                         f"MODEL={env['onnx']}", f"OUTPUT={tmp_path / 'empty.tif'}",
                         env=env["vars"], check=False)
    assert empty.returncode != 0 and "PROMPT is empty" in empty.stdout + empty.stderr
    assert not (tmp_path / "empty.tif").exists()


def test_graphical_model_chains_segmentation_into_polygons(env, default_run, tmp_path):
    model3 = EXAMPLE_MODELS / "farmland_fields.model3"
    qgis_process("run", str(model3), "--", f"INPUT={env['stack']}", "MODEL=ftw-3class",
                 f"segment:fields={tmp_path / 'fields.tif'}",
                 f"polygonize:polygons={tmp_path / 'polygons.gpkg'}", env=env["vars"])
    # the model runs on DEVICE auto: a GPU, where there is one, may differ in the last bits
    assert np.mean(read(tmp_path / "fields.tif")[0] == read(default_run[0])[0]) > 0.999
    ds = ogr.Open(str(tmp_path / "polygons.gpkg"))
    assert ds.GetLayer(0).GetFeatureCount() > 0


def test_weights_file_on_disk_runs_without_network(env, default_run, tmp_path):
    """WEIGHTS: the .pth already on disk (e.g. copied from a connected machine) replaces the
    download; an empty cache and no reachable Hub do not matter."""
    weights = tmp_path / "ftw.pth"
    torch.save(env["model"].state_dict(), weights)
    offline = env["vars"] | {"RSAI_CACHE_DIR": str(tmp_path / "empty-cache"),
                             "HF_ENDPOINT": "https://rsai-no-such-host.invalid"}
    out = tmp_path / "fields.tif"
    result = qgis_process("run", "rsai:farmland_segmentation", "--", "MODEL=ftw-3class",
                          "DEVICE=1", f"INPUT={env['stack']}", f"WEIGHTS={weights}",
                          f"OUTPUT={out}", env=offline)
    assert "local file" in result.stdout + result.stderr
    assert (read(out)[0] == read(default_run[0])[0]).all()
