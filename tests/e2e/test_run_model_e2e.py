"""rsai:run_model and rsai:download_model through real qgis_process, on real Sentinel-2 rasters."""

import json
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal

from rsai_toolbox.models.runtime.engine import softmax

from helpers import (EXAMPLE_MODELS, apply_pointwise, conv_onnx, landcover_geotiff, qgis_process,
                     read)
from hub_server import HubServer

REVISION = "3f1c2d4e5a6b7c8d9e0f11223344556677889900"
CLASSES = [{"value": 0, "name": "water", "color": "#1f78b4"},
           {"value": 1, "name": "vegetation", "color": "#33a02c"},
           {"value": 2, "name": "bare", "color": "#b15928"}]


@pytest.fixture
def profile(tmp_path):
    """An isolated QGIS profile and weights cache, so runs never touch the user's."""
    return {"QGIS_CUSTOM_CONFIG_PATH": str(tmp_path / "qgis"),
            "RSAI_CACHE_DIR": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "0"}


def card(model_id, bands, weights=None, tile=64, overlap=8):
    data = {"id": model_id, "title": f"Test model {model_id}", "task": "segmentation",
            "format": "onnx", "licence": "CC0-1.0", "citation": "none",
            "inputs": {"bands": bands, "tile_size": tile, "overlap": overlap},
            "outputs": {"classes": CLASSES}}
    if weights:
        data["weights"] = weights
    return data


def test_landcover_with_local_onnx_keeps_grid_and_matches_the_model(tmp_path, shared_data, profile):
    tif = landcover_geotiff(shared_data, tmp_path / "landcover.tif")
    weight, bias = conv_onnx(tmp_path / "model.onnx", 13, 3, metadata={
        "rsai_card": json.dumps(card("local", [f"b{i}" for i in range(13)]))})
    qgis_process("run", "rsai:run_model", "--", f"INPUT={tif}", f"MODEL={tmp_path / 'model.onnx'}",
                 "DEVICE=1", f"OUTPUT={tmp_path / 'classes.tif'}",
                 f"OUTPUT_PROBABILITIES={tmp_path / 'probabilities.tif'}", env=profile)

    image, source = read(tif)
    expected = softmax(apply_pointwise(weight, bias, image)[None])[0]
    probabilities, _ = read(tmp_path / "probabilities.tif")
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    classes, out = read(tmp_path / "classes.tif")
    assert np.mean(classes == expected.argmax(0)) > 0.9999
    assert out.GetGeoTransform() == pytest.approx(source.GetGeoTransform())
    assert out.GetSpatialRef().GetAuthorityCode(None) == "32633"
    assert out.GetRasterBand(1).GetNoDataValue() == 255
    qml = (tmp_path / "classes.qml").read_text()
    assert "paletted" in qml and 'label="vegetation"' in qml and "#33a02c" in qml


def test_tiled_equals_untiled_on_the_farmland_stack(tmp_path, shared_data, profile):
    farmland = shared_data / "farmland" / "ftw_s2_bitemporal_austria.tif"
    conv_onnx(tmp_path / "model.onnx", 8, 3, metadata={
        "rsai_card": json.dumps(card("ftw-like", [f"b{i}" for i in range(8)]))})
    for name, tile, overlap in (("tiled", 64, 8), ("whole", 600, 0)):
        qgis_process("run", "rsai:run_model", "--", f"INPUT={farmland}",
                     f"MODEL={tmp_path / 'model.onnx'}", f"TILE_SIZE={tile}", f"OVERLAP={overlap}",
                     f"OUTPUT={tmp_path / name}.tif", f"OUTPUT_PROBABILITIES={tmp_path / name}_p.tif",
                     env=profile)
    np.testing.assert_allclose(read(tmp_path / "tiled_p.tif")[0], read(tmp_path / "whole_p.tif")[0],
                               atol=1e-5)
    assert (read(tmp_path / "tiled.tif")[0] == read(tmp_path / "whole.tif")[0]).all()


def test_hub_download_offline_reuse_and_tampering(tmp_path, shared_data, profile):
    tif = landcover_geotiff(shared_data, tmp_path / "landcover.tif")
    conv_onnx(tmp_path / "model.onnx", 13, 3)
    with HubServer(tmp_path / "hub") as hub:
        digest = hub.add_file("rsai-test/landcover", REVISION, "onnx/model.onnx",
                              (tmp_path / "model.onnx").read_bytes())
        cards = Path(profile["QGIS_CUSTOM_CONFIG_PATH"]) / "profiles" / "default" / "rsai" / "cards"
        cards.mkdir(parents=True)
        (cards / "hub-landcover.json").write_text(json.dumps(card(
            "hub-landcover", [f"b{i}" for i in range(13)],
            {"repo_id": "rsai-test/landcover", "revision": REVISION,
             "filename": "onnx/model.onnx", "sha256": digest})))
        online = {**profile, "HF_ENDPOINT": hub.endpoint}
        fetched = qgis_process("run", "rsai:download_model", "--", "MODEL=hub-landcover", env=online)
        assert hub.count() >= 1
        assert "weights ready" in fetched.stdout + fetched.stderr

        requests_before = hub.count()
        offline = {**online, "HF_HUB_OFFLINE": "1"}
        qgis_process("run", "rsai:run_model", "--", f"INPUT={tif}", "MODEL=hub-landcover",
                     f"OUTPUT={tmp_path / 'offline.tif'}", env=offline)
        assert hub.count() == requests_before
        assert read(tmp_path / "offline.tif")[0].shape == (101, 100)

        # A Hub reference without a card: the ONNX file's own metadata describes it.
        reference = f"rsai-test/landcover@{REVISION}:onnx/model.onnx"
        qgis_process("run", "rsai:run_model", "--", f"INPUT={tif}", f"MODEL={reference}",
                     f"OUTPUT={tmp_path / 'by_reference.tif'}", env=online)
        assert read(tmp_path / "by_reference.tif")[0].shape == (101, 100)

    cached = [p for p in Path(profile["RSAI_CACHE_DIR"]).rglob("*") if p.is_file()
              and p.stat().st_size == (tmp_path / "model.onnx").stat().st_size]
    assert cached
    for blob in cached:
        blob.write_bytes(b"tampered" + blob.read_bytes()[8:])
    bad = qgis_process("run", "rsai:run_model", "--", f"INPUT={tif}", "MODEL=hub-landcover",
                       f"OUTPUT={tmp_path / 'tampered.tif'}", env=offline, check=False)
    assert bad.returncode != 0
    assert "checksum mismatch" in bad.stdout + bad.stderr
    assert not (tmp_path / "tampered.tif").exists()


def test_offline_with_empty_cache_says_how_to_prefetch(tmp_path, shared_data, profile):
    tif = landcover_geotiff(shared_data, tmp_path / "landcover.tif")
    cards = Path(profile["QGIS_CUSTOM_CONFIG_PATH"]) / "profiles" / "default" / "rsai" / "cards"
    cards.mkdir(parents=True)
    (cards / "c.json").write_text(json.dumps(card(
        "never-downloaded", [f"b{i}" for i in range(13)],
        {"repo_id": "rsai-test/none", "revision": REVISION, "filename": "m.onnx",
         "sha256": "0" * 64})))
    result = qgis_process("run", "rsai:run_model", "--", f"INPUT={tif}", "MODEL=never-downloaded",
                          f"OUTPUT={tmp_path / 'o.tif'}", env={**profile, "HF_HUB_OFFLINE": "1"},
                          check=False)
    assert result.returncode != 0
    assert "download_model" in result.stdout + result.stderr
    assert not (tmp_path / "o.tif").exists()


@pytest.mark.parametrize("arguments,message", [
    (["MODEL=no-such-card"], "no model card with id 'no-such-card'"),
    (["MODEL=adwm-fusionnet"], "is a pansharpening model, which this tool cannot run"),
    (["MODEL=owner/repo@main:model.onnx"], "revision"),
    (["MODEL={model}", "TILE_SIZE=64", "OVERLAP=32"], "larger than twice OVERLAP"),
    (["MODEL={model}", "BANDS=1", "BANDS=2"], "expects 13 bands"),
    (["MODEL={model}", "OUTPUT={input}"], "same file as an input"),
])
def test_bad_input_fails_with_a_clear_message(tmp_path, shared_data, profile, arguments, message):
    tif = landcover_geotiff(shared_data, tmp_path / "landcover.tif")
    before = tif.read_bytes()
    conv_onnx(tmp_path / "model.onnx", 13, 3)
    values = {"model": tmp_path / "model.onnx", "input": tif}
    arguments = [a.format(**values) for a in arguments]
    if not any(a.startswith("OUTPUT=") for a in arguments):
        arguments.append(f"OUTPUT={tmp_path / 'out.tif'}")
    result = qgis_process("run", "rsai:run_model", "--", f"INPUT={tif}", *arguments, env=profile,
                          check=False)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert not (tmp_path / "out.tif").exists()
    assert tif.read_bytes() == before


def test_graphical_model_chains_download_into_run(tmp_path, shared_data, profile):
    tif = landcover_geotiff(shared_data, tmp_path / "landcover.tif")
    weight, bias = conv_onnx(tmp_path / "model.onnx", 13, 3, metadata={
        "rsai_card": json.dumps(card("chained", [f"b{i}" for i in range(13)]))})
    model3 = EXAMPLE_MODELS / "download_then_run.model3"
    qgis_process("run", str(model3), "--", f"INPUT={tif}", f"MODEL={tmp_path / 'model.onnx'}",
                 f"run:classes={tmp_path / 'chained.tif'}", env=profile)
    classes, out = read(tmp_path / "chained.tif")
    expected = apply_pointwise(weight, bias, read(tif)[0]).argmax(0)
    assert np.mean(classes == expected) > 0.9999
    assert out.GetRasterBand(1).GetColorTable() is not None
