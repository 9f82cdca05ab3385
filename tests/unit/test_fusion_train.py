"""Fusion training on a tiny LandCover.ai-layout dataset: metrics, ONNX parity, v2 card."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from osgeo import gdal

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import helpers_fusion as hf  # noqa: E402
from hub_server import HubServer  # noqa: E402

from rsai_toolbox.models.callbacks import Callbacks  # noqa: E402
from rsai_toolbox.models.errors import Cancelled, UserError  # noqa: E402
from rsai_toolbox.models.fusion import network, train as fusion_train  # noqa: E402
from rsai_toolbox.models.hub import sha256_file  # noqa: E402

REVISION = "0123456789abcdef0123456789abcdef01234567"
RATIO, TILE = 20, 80  # 50 cm aerial, 10 m Sentinel-2


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """A local Hub serving a resnet18 classifier checkpoint (timm/torchvision key layout)."""
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(7)
    state = timm.create_model("resnet18", pretrained=False).state_dict()
    path = tmp_path_factory.mktemp("weights") / "r18.safetensors"
    save_file(state, str(path))
    with HubServer(tmp_path_factory.mktemp("hub")) as server:
        server.add_file("someone/resnet18", REVISION, "resnet18.safetensors", path.read_bytes())
        yield server, state


@pytest.fixture(scope="module")
def trained(tmp_path_factory, hub, monkeypatch_module):
    server, _ = hub
    monkeypatch_module.setenv("HF_ENDPOINT", server.endpoint)
    root = tmp_path_factory.mktemp("fusion")
    data, strip = hf.write_landcover_tiles(root / "data")
    s2 = strip.satellite_path
    fractions, logs, warnings = [], [], []
    metrics = fusion_train.train(
        data, root / "out", satellite=s2, satellite_bands=["B08", "B02", "B04"], ratio=RATIO,
        tile_size=TILE, epochs=2, batch_size=3, lr=3e-3,
        encoder_weights=f"someone/resnet18@{REVISION}:resnet18.safetensors",
        cache_dir=root / "cache",
        callbacks=Callbacks(progress=fractions.append, log=logs.append, warn=warnings.append))
    return root, data, strip, metrics, fractions, logs + [f"warning: {w}" for w in warnings]


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def _load(metrics, satellite_channels=3):
    model = network.FusionDeepLabV3Plus(5, 3, satellite_channels, RATIO, "resnet18")
    model.load_state_dict(torch.load(metrics["state_dict"], weights_only=True))
    return model.eval()


def _labelled_pixels(data, split):
    names = (data / f"{split}.txt").read_text().split()
    return sum(int((gdal.Open(str(data / "masks" / f"{n}.tif")).ReadAsArray() <= 4).sum())
               for n in names)


def test_metrics_per_class_and_held_out(trained):
    root, data, _, metrics, fractions, _ = trained
    for split in ("val", "test"):
        m = metrics[split]
        assert set(m["iou"]) == {"background", "building", "woodland", "water", "road"}
        assert all(v is None or 0 <= v <= 1 for v in m["iou"].values())
        present = [v for v in m["iou"].values() if v is not None]
        assert m["miou"] == pytest.approx(np.mean(present))
        assert 0 <= m["accuracy"] <= 1
        assert m["pixels"] == _labelled_pixels(data, split)
    assert metrics["tiles"] == {"train": 5, "val": 2, "test": 1}
    assert len(metrics["history"]) == 2 and all(np.isfinite(h["loss"]) for h in metrics["history"])
    assert fractions[-1] == 1.0
    assert json.loads((root / "out" / "metrics.json").read_text())["val"] == metrics["val"]


def test_encoder_weights_came_through_the_weights_store(trained, hub):
    root, *_, logs = trained
    server, _ = hub
    assert any("resolve" in path and "resnet18.safetensors" in path
               for _, path, _ in server.requests)
    tofu = json.loads((root / "cache" / "tofu.json").read_text())
    assert any("someone/resnet18" in key for key in tofu)
    assert any("encoder weights loaded" in m and "2 classifier weight(s) not used" in m
               for m in logs)
    assert not any(m.startswith("warning") for m in logs)  # ratio 20 fits 50 cm / 10 m
    assert not list((root / "out").glob(".*partial"))


def test_encoder_weights_are_loaded_exactly(tmp_path, hub):
    _, state = hub
    from safetensors.torch import save_file
    save_file(state, str(tmp_path / "w.safetensors"))
    for channels in (3, 4):
        model = network.FusionDeepLabV3Plus(5, channels, 4, 32)
        assert network.load_encoder_weights(model, tmp_path / "w.safetensors") == ["fc.bias",
                                                                                  "fc.weight"]
        assert torch.equal(model.encoder.layer3[1].conv2.weight, state["layer3.1.conv2.weight"])
        first = model.encoder.conv1.weight
        if channels == 3:
            assert torch.equal(first, state["conv1.weight"])
        else:  # RGBN: RGB repeated, scaled by 3/4
            assert torch.allclose(first[:, 3], state["conv1.weight"][:, 0] * 0.75)
    wrong = network.FusionDeepLabV3Plus(5, 3, 0, 32, "resnet34")
    with pytest.raises(UserError, match="missing"):
        network.load_encoder_weights(wrong, tmp_path / "w.safetensors")


def test_exported_onnx_equals_the_torch_model(trained):
    import onnxruntime as ort

    root, data, strip, metrics, *_ = trained
    model = _load(metrics)
    session = ort.InferenceSession(metrics["onnx"], providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["aerial", "satellite"]
    card = json.loads(Path(metrics["card"]).read_text())
    sat_stats = (card["inputs"][1]["mean"], card["inputs"][1]["std"])
    reader = fusion_train.TileReader(TILE, RATIO, 3, strip.satellite_path, [4, 1, 3])
    tiles = fusion_train.find_tiles(data)
    samples = [(t, 0, 0) for t in tiles]
    for aerial, sat, _ in fusion_train._batches(reader, samples, 4, sat_stats,
                                                np.random.default_rng(0), train=False):
        with torch.no_grad():
            expected = model(torch.from_numpy(aerial), torch.from_numpy(sat)).numpy()
        got = session.run(["output"], {"aerial": aerial, "satellite": sat})[0]
        assert np.abs(got - expected).max() <= 1e-5 * max(1.0, np.abs(expected).max())
    # the saved weights reproduce the reported validation metrics
    val = [(t, 0, 0) for t in fusion_train.split_tiles(tiles, data)["val"]]
    assert fusion_train.evaluate(fusion_train.torch_predictor(model), reader, val,
                                 sat_stats) == metrics["val"]


def test_v2_card_describes_both_inputs(trained):
    import onnx

    root, data, strip, metrics, *_ = trained
    card = json.loads(Path(metrics["card"]).read_text())
    aerial, satellite = card["inputs"]
    assert (aerial["name"], aerial["ratio"], aerial["bands"]) == ("aerial", 1, ["R", "G", "B"])
    assert aerial["scale"] == 255 and len(aerial["mean"]) == len(aerial["std"]) == 3
    assert (satellite["name"], satellite["ratio"]) == ("satellite", RATIO)
    assert satellite["bands"] == ["B08", "B02", "B04"]  # as asked, matched on descriptions
    # normalisation: mean/std of the true B08, B02, B04 values under the training tiles
    train = (data / "train.txt").read_text().split()
    true = np.concatenate([strip.expected(int(n[-2:]) * TILE, 0, TILE, TILE, RATIO)
                           .values[[3, 0, 2]].reshape(3, -1) for n in train], axis=1)
    np.testing.assert_allclose(satellite["mean"], true.mean(1), rtol=1e-4)
    np.testing.assert_allclose(satellite["std"], true.std(1), rtol=1e-3)
    assert card["tiling"]["tile_size"] == TILE and card["tiling"]["overlap"] % RATIO == 0
    assert card["head"] == {"type": "dense"} and card["format"] == "onnx"
    assert [c["name"] for c in card["outputs"]["classes"]] == [
        "background", "building", "woodland", "water", "road"]
    assert "CC BY-NC-SA 4.0" in card["citation"] and "2503.22909" in card["citation"]
    assert card["architecture"]["kwargs"]["satellite_channels"] == 3
    assert card["files"]["sha256"] == sha256_file(Path(metrics["onnx"]))
    embedded = {p.key: p.value for p in onnx.load(metrics["onnx"]).metadata_props}
    assert json.loads(embedded["rsai_card"])["inputs"] == card["inputs"]


def test_the_card_loads_and_both_weights_files_run_alike(trained):
    """The v2 card passes the project's validation; the ONNX (card beside it) and the state
    dict (same card as torch_state_dict + the declared architecture) give the same scores."""
    from rsai_toolbox.models.cards import card_from_dict
    from rsai_toolbox.models.registry import onnx_card
    from rsai_toolbox.models.runtime.backends import load_predictor

    root, data, strip, metrics, *_ = trained
    card = onnx_card(Path(metrics["onnx"]))
    assert [(s.name, s.ratio) for s in card.inputs] == [("aerial", 1), ("satellite", RATIO)]
    assert card.tiling.tile_size == TILE and card.head.type == "dense"
    as_torch = json.loads(Path(metrics["card"]).read_text())
    as_torch.update(format="torch_state_dict", local_weights=metrics["state_dict"])
    torch_card = card_from_dict(as_torch)
    rng = np.random.default_rng(3)
    arrays = {"aerial": rng.normal(size=(2, 3, TILE, TILE)).astype(np.float32),
              "satellite": rng.normal(size=(2, 3, TILE // RATIO, TILE // RATIO)).astype(np.float32)}
    by_onnx = load_predictor(card, Path(metrics["onnx"]), "cpu")(arrays)["output"]
    by_torch = load_predictor(torch_card, Path(metrics["state_dict"]), "cpu")(arrays)["output"]
    assert np.abs(by_onnx - by_torch).max() <= 1e-5 * max(1.0, np.abs(by_torch).max())


def test_single_source_model_has_one_input(tmp_path):
    import onnxruntime as ort

    data, _ = hf.write_landcover_tiles(tmp_path / "data", count=4, splits=(3, 1, 0))
    metrics = fusion_train.train(data, tmp_path / "out", tile_size=TILE, epochs=1, batch_size=3,
                                 callbacks=Callbacks(log=lambda m: None))
    card = json.loads(Path(metrics["card"]).read_text())
    assert [i["name"] for i in card["inputs"]] == ["aerial"]
    assert card["id"] == "landcover-resnet18" and metrics["test"] is None
    session = ort.InferenceSession(metrics["onnx"], providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["aerial"]


def test_satellite_chips_matched_by_name(tmp_path):
    """Chips per tile (georeferenced: read for the footprint; beside ungeoreferenced PNG tiles:
    taken to cover the tile) give the same satellite values as the one big raster."""
    data, strip = hf.write_landcover_tiles(tmp_path / "data", count=3, splits=(2, 1, 0))
    s2 = strip.satellite_path
    chips, png = tmp_path / "chips", tmp_path / "png"
    for sub in ("images", "masks"):
        (png / sub).mkdir(parents=True)
    chips.mkdir()
    tiles = fusion_train.find_tiles(data)
    for tile in tiles:
        ds = gdal.Open(str(tile.image))
        gt = ds.GetGeoTransform()
        bounds = (gt[0], gt[3] + gt[5] * TILE, gt[0] + gt[1] * TILE, gt[3])
        gdal.Warp(str(chips / f"{tile.name}.tif"), str(s2), outputBounds=bounds, width=4,
                  height=4, dstSRS=ds.GetProjection(), resampleAlg="bilinear")
        for sub, path in (("images", tile.image), ("masks", tile.mask)):
            out = png / sub / f"{tile.name}.png"
            gdal.Translate(str(out), str(path), format="PNG")
            out.with_name(out.name + ".aux.xml").unlink()  # no georeferencing, like split.py's
    big = fusion_train.TileReader(TILE, RATIO, satellite=s2)
    by_chip = fusion_train.TileReader(TILE, RATIO)
    for folder in (data, png):
        chipped = fusion_train.find_tiles(folder, chips)
        assert [t.chip.name for t in chipped] == [f"{t.name}.tif" for t in tiles]
        for tile, plain in zip(chipped, tiles):
            want = big.read(plain, 0, 0)[2]
            got = by_chip.read(tile, 0, 0)[2]
            assert got.shape == want.shape == (4, 4, 4)
            np.testing.assert_allclose(got, want, atol=hf.VALUE_TOLERANCE)
    (chips / f"{tiles[0].name}.tif").unlink()
    with pytest.raises(UserError, match="no satellite chip"):
        fusion_train.find_tiles(data, chips)
    with pytest.raises(UserError, match="georeferencing"):
        big.read(fusion_train.find_tiles(png)[0], 0, 0)


def test_bad_inputs_are_user_errors(tmp_path):
    data, strip = hf.write_landcover_tiles(tmp_path / "data", count=3, splits=(2, 1, 0))
    s2 = strip.satellite_path
    with pytest.raises(UserError, match="multiple of 80"):
        fusion_train.train(data, tmp_path / "out", satellite=s2, ratio=RATIO, tile_size=64)
    far = hf.Grid(32634, 100000.0, 1000000.0, 10.0, 20, 20)
    hf.write_raster(tmp_path / "far.tif", far, hf.satellite_field(far), hf.SATELLITE_BANDS)
    with pytest.raises(UserError, match="covers none of the training tiles"):
        fusion_train.train(data, tmp_path / "out", satellite=tmp_path / "far.tif", ratio=RATIO,
                           tile_size=TILE)
    with pytest.raises(UserError, match="B8A"):
        fusion_train.train(data, tmp_path / "out", satellite=s2, satellite_bands=["B8A"],
                           ratio=RATIO, tile_size=TILE)
    with pytest.raises(Cancelled):
        fusion_train.train(data, tmp_path / "out", satellite=s2, ratio=RATIO, tile_size=TILE,
                           callbacks=Callbacks(is_cancelled=lambda: True))
    (tmp_path / "empty" / "images").mkdir(parents=True)
    with pytest.raises(UserError, match="masks"):
        fusion_train.train(tmp_path / "empty", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_ratio_that_does_not_fit_the_pixel_sizes_is_logged(tmp_path):
    data, strip = hf.write_landcover_tiles(tmp_path / "data", count=3, splits=(2, 1, 0))
    tile = fusion_train.find_tiles(data)[0]
    assert fusion_train.ratio_warning(tile, strip.satellite_path, RATIO) is None
    warning = fusion_train.ratio_warning(tile, strip.satellite_path, 40)
    assert "20.0 aerial pixels" in warning and "--ratio 20" in warning


def test_alpha_band_is_a_mask_not_a_band(tmp_path):
    data, _ = hf.write_landcover_tiles(tmp_path / "data", count=2, splits=(1, 1, 0))
    tile = fusion_train.find_tiles(data)[0]
    rgb = gdal.Open(str(tile.image)).ReadAsArray()
    alpha = np.full(rgb.shape[1:], 255, np.uint8)
    alpha[:10] = 0
    grid = hf.Grid(2180, *gdal.Open(str(tile.image)).GetGeoTransform()[::3][:2], 0.5, TILE, TILE)
    path = hf.write_raster(tmp_path / "rgba.tif", grid, np.concatenate([rgb, alpha[None]]))
    ds = gdal.Open(str(path), gdal.GA_Update)
    ds.GetRasterBand(4).SetColorInterpretation(gdal.GCI_AlphaBand)
    ds = None
    aerial, mask, _ = fusion_train.TileReader(TILE, RATIO).read(
        fusion_train.Tile("rgba", path, tile.mask), 0, 0, with_satellite=False)
    assert aerial.shape == (3, TILE, TILE)  # the alpha band is not a fourth band
    np.testing.assert_array_equal(aerial[:, 10:], rgb[:, 10:])
    assert (mask[:10] == fusion_train.IGNORE).all() and (mask[10:] <= 4).all()


def test_cli_help_explains_publishing():
    plugins_dir = Path(__file__).resolve().parents[2] / "build" / "plugins"
    result = subprocess.run([sys.executable, "-m", "rsai_toolbox.models.fusion.train", "--help"],
                            capture_output=True, text=True, cwd=plugins_dir, timeout=120)
    assert result.returncode == 0, result.stderr
    for text in ("--satellite-dir", "--ratio", "huggingface-cli upload", "upload_folder",
                 "sha256", "CC BY-NC-SA 4.0"):
        assert text in result.stdout
