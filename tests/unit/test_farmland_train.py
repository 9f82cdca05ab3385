"""Training script on a tiny FarmSeg-VL-layout folder: metrics, ONNX parity, card."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from osgeo import gdal

from rsai_toolbox.models.callbacks import Callbacks
from rsai_toolbox.models.errors import UserError
from rsai_toolbox.models.hub import sha256_file
from rsai_toolbox.models.farmland import train as farmland_train

gdal.UseExceptions()


def _png(path, array):
    array = np.asarray(array, np.uint8)
    if array.ndim == 2:
        array = array[None]
    mem = gdal.GetDriverByName("MEM").Create("", array.shape[2], array.shape[1], array.shape[0],
                                             gdal.GDT_Byte)
    for i, band in enumerate(array, start=1):
        mem.GetRasterBand(i).WriteArray(band)
    gdal.GetDriverByName("PNG").CreateCopy(str(path), mem)


def _make_dataset(root, counts=(6, 2, 2), size=64):
    rng = np.random.default_rng(42)
    for split, n in zip(("train", "val", "test"), counts):
        for sub in ("img", "lbl", "json"):
            (root / split / sub).mkdir(parents=True)
        for i in range(n):
            label = np.zeros((size, size), np.uint8)
            r0, c0 = rng.integers(0, size // 2, 2)
            h, w = rng.integers(size // 4, size // 2, 2)
            label[r0:r0 + h, c0:c0 + w] = 1
            img = np.empty((3, size, size), np.float32)
            img[:] = np.array([40, 110, 50], np.float32)[:, None, None]  # green background
            img[:, label == 1] = np.array([240, 190, 50], np.float32)[:, None]  # yellow crop
            img += rng.normal(0, 10, img.shape)
            stem = f"{split}_{i:03d}"
            _png(root / split / "img" / f"{stem}.png", np.clip(img, 0, 255))
            _png(root / split / "lbl" / f"{stem}.png", label * (255 if i % 2 else 1))
            (root / split / "json" / f"{stem}.json").write_text(
                json.dumps({"caption": "a rectangular farmland parcel"}))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("farmseg")
    _make_dataset(root / "data")
    fractions = []
    metrics = farmland_train.train(root / "data", root / "out", epochs=2, batch_size=3,
                                   tile_size=64, lr=3e-3,
                                   callbacks=Callbacks(progress=fractions.append))
    return root, metrics, fractions


def test_metrics_in_unit_range(trained):
    root, metrics, fractions = trained
    for split in ("val", "test"):
        for key in ("iou", "f1", "accuracy"):
            assert 0.0 <= metrics[split][key] <= 1.0
        assert metrics[split]["pixels"] == 2 * 64 * 64
    assert metrics["images"] == {"train": 6, "val": 2, "test": 2}
    assert metrics["captions_found"] == 10
    assert len(metrics["history"]) == 2 and all(np.isfinite(h["loss"]) for h in metrics["history"])
    assert fractions[-1] == 1.0
    saved = json.loads((root / "out" / "metrics.json").read_text())
    assert saved["val"] == metrics["val"]


def test_onnx_matches_torch_with_dynamic_shapes(trained):
    import onnxruntime as ort

    root, metrics, _ = trained
    model = farmland_train.build_model("resnet18")
    model.load_state_dict(torch.load(metrics["state_dict"], weights_only=True))
    model.eval()
    session = ort.InferenceSession(metrics["onnx"], providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["image"]
    for shape in ((1, 3, 64, 64), (2, 3, 96, 128)):
        x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
        with torch.no_grad():
            expected = model(torch.from_numpy(x)).numpy()
        got = session.run(["logits"], {"image": x})[0]
        assert got.shape == (shape[0], 2, shape[2], shape[3])
        # float32 kernels differ in summation order: tolerance relative to the logits' scale
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())
        assert np.mean(got.argmax(1) == expected.argmax(1)) > 0.999
    # and the exported model reproduces the reported validation metrics
    assert farmland_train.evaluate(model, farmland_train.find_pairs(root / "data" / "val")) == \
        metrics["val"]


def test_card_beside_onnx(trained):
    import onnx

    root, metrics, _ = trained
    onnx_path = root / "out" / "model.onnx"
    card = json.loads((root / "out" / "model.json").read_text())
    for key in ("id", "title", "task", "format", "inputs", "outputs", "licence", "citation"):
        assert key in card
    assert card["task"] == "segmentation" and card["format"] == "onnx"
    assert card["files"] == {"onnx": "model.onnx", "sha256": sha256_file(onnx_path),
                             "state_dict": "model.pth"}
    assert card["inputs"][0]["bands"] == ["R", "G", "B"] and card["inputs"][0]["scale"] == 255
    assert card["inputs"][0]["name"] == "image"  # the ONNX input's name
    assert len(card["inputs"][0]["mean"]) == len(card["inputs"][0]["std"]) == 3
    assert card["tiling"]["tile_size"] == 64
    assert card["outputs"]["classes"] == [
        {"value": 0, "name": "background", "color": "#000000"},
        {"value": 1, "name": "farmland", "color": "#f2c12e"}]
    embedded = {p.key: p.value for p in onnx.load(str(onnx_path)).metadata_props}
    assert json.loads(embedded["rsai_card"])["outputs"] == card["outputs"]

    # The project's own loader reads the card beside the ONNX file.
    from rsai_toolbox.models.registry import onnx_card

    loaded = onnx_card(onnx_path)
    assert loaded.local_weights == onnx_path
    assert [c.name for c in loaded.classes] == ["background", "farmland"]
    assert loaded.primary.scale == 255 and loaded.tiling.tile_size == 64


def test_missing_layout_is_a_user_error(tmp_path):
    (tmp_path / "train" / "img").mkdir(parents=True)
    with pytest.raises(UserError, match="lbl"):
        farmland_train.train(tmp_path, tmp_path / "out", epochs=1)


def test_cli_help_explains_publishing(tmp_path):
    plugins_dir = Path(__file__).resolve().parents[2] / "build" / "plugins"  # conftest's link
    result = subprocess.run([sys.executable, "-m", "rsai_toolbox.models.farmland.train", "--help"],
                            capture_output=True, text=True, cwd=plugins_dir, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "--epochs" in result.stdout and "huggingface-cli upload" in result.stdout
    assert "upload_folder" in result.stdout and "sha256" in result.stdout
