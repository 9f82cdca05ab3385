"""The model manager against a local Hub server: lists cards with their cache state,
downloads with progress, removes from the cache, adds custom models (local ONNX, Hub
reference) as user cards; the dialog does the same through its worker thread."""

import json
import sys
from pathlib import Path

import pytest

from rsai_toolbox.models.hub import WeightsStore
from rsai_toolbox.models.runtime.devices import device_report, device_summary
from rsai_toolbox.plugin.model_catalog import ModelCatalog

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))
sys.path.insert(0, str(TESTS / "qgis"))
from desktop_support import screenshot, wait_until  # noqa: E402
from helpers import conv_onnx  # noqa: E402
from hub_server import HubServer  # noqa: E402

REV = "0123456789abcdef0123456789abcdef01234567"
DEEPNESS = {"model_type": "Segmentor", "class_names": json.dumps({"0": "water", "1": "land"}),
            "tiles_size": "256", "resolution": "1000"}


@pytest.fixture
def hub(tmp_path):
    with HubServer(tmp_path / "hub") as server:
        yield server


@pytest.fixture
def catalog(tmp_path, hub):
    store = WeightsStore(tmp_path / "cache", endpoint=hub.endpoint)
    return ModelCatalog(store, tmp_path / "cards")


def hub_card(hub, tmp_path, cards: Path, model_id="water-conv") -> bytes:
    """A user card whose weights (a real ONNX) live on the local Hub at a pinned commit."""
    onnx = tmp_path / f"{model_id}.onnx"
    conv_onnx(onnx, 3, 2)
    data = onnx.read_bytes()
    sha = hub.add_file("rsai/test-models", REV, f"{model_id}.onnx", data)
    cards.mkdir(parents=True, exist_ok=True)
    (cards / f"{model_id}.json").write_text(json.dumps({
        "id": model_id, "title": f"Water {model_id}", "task": "segmentation", "format": "onnx",
        "inputs": {"bands": ["red", "green", "blue"]},
        "outputs": {"classes": [{"value": 0, "name": "water", "color": "#1f77b4"},
                                {"value": 1, "name": "land", "color": "#2ca02c"}]},
        "weights": {"repo_id": "rsai/test-models", "revision": REV,
                    "filename": f"{model_id}.onnx", "sha256": sha},
        "licence": "CC-BY-4.0"}))
    return data


def test_lists_downloads_and_removes(catalog, hub, tmp_path):
    data = hub_card(hub, tmp_path, catalog.user_dir)
    row = next(r for r in catalog.rows() if r.id == "water-conv")
    assert (row.cached, row.size, row.card.licence, row.card.task) == (
        None, None, "CC-BY-4.0", "segmentation")
    assert "rsai/test-models@" in row.source and "Hugging Face Hub" in row.source
    assert catalog.cache_size() == 0

    fractions = []
    path = catalog.download("water-conv", fractions.append)
    assert path.read_bytes() == data and fractions[-1] == 1.0
    row = next(r for r in catalog.rows() if r.id == "water-conv")
    assert row.cached == path and row.size == len(data)
    assert catalog.cache_size() >= len(data)

    catalog.remove("water-conv")
    row = next(r for r in catalog.rows() if r.id == "water-conv")
    assert row.cached is None and row.size is None
    assert catalog.cache_size() < len(data)


def test_custom_models_local_onnx_and_hub_reference(catalog, hub, tmp_path):
    local = tmp_path / "models" / "my water model.onnx"
    local.parent.mkdir()
    conv_onnx(local, 4, 2, metadata=DEEPNESS)
    card = catalog.add_onnx_file(local)
    assert card.id == "my-water-model" and card.local_weights == local.resolve()
    assert [c.name for c in card.classes] == ["water", "land"] and card.tiling.tile_size == 256
    row = next(r for r in catalog.rows() if r.id == card.id)
    assert row.custom and row.cached == local.resolve() and "local file" in row.source
    saved = json.loads((catalog.user_dir / "my-water-model.json").read_text())
    assert saved["local_weights"] == str(local.resolve())

    remote = tmp_path / "remote.onnx"
    conv_onnx(remote, 3, 5, seed=1, metadata=DEEPNESS | {"class_names": json.dumps(
        ["a", "b", "c", "d", "e"])})
    sha = hub.add_file("someone/models", REV, "seg/remote.onnx", remote.read_bytes())
    card = catalog.add_hub_reference(f"someone/models@{REV}:seg/remote.onnx")
    assert card.id == "models-remote" and card.weights.sha256 == sha
    assert card.local_weights is None and len(card.classes) == 5
    row = next(r for r in catalog.rows() if r.id == "models-remote")
    assert row.custom and row.cached is not None

    catalog.delete_custom("my-water-model")
    assert local.is_file()  # the user's own file is never deleted
    assert "my-water-model" not in {r.id for r in catalog.rows()}


def test_device_status_names_backends():
    lines = device_report()
    assert lines[0].startswith("CPU: ") and lines[1].startswith("NVIDIA driver: ")
    assert lines[2].startswith("onnxruntime ") and "ExecutionProvider" in lines[2]
    summary = device_summary()
    assert summary.startswith("Devices: onnxruntime ") and "torch" in summary


def test_dialog_downloads_with_progress_and_screenshot(catalog, hub, tmp_path, qgis_app):
    from rsai_toolbox.plugin.model_manager import ModelManagerDialog

    hub_card(hub, tmp_path, catalog.user_dir, "water-conv")
    hub_card(hub, tmp_path, catalog.user_dir, "roads-conv")
    local = tmp_path / "fields.onnx"
    conv_onnx(local, 4, 2, metadata=DEEPNESS)
    catalog.add_onnx_file(local)
    dialog = ModelManagerDialog(catalog)
    ids = [dialog.table.item(i, 0).data(0x0100) for i in range(dialog.table.rowCount())]
    assert {"water-conv", "roads-conv", "fields"} <= set(ids)
    dialog.select("water-conv")
    assert dialog.download_button.isEnabled() and not dialog.remove_button.isEnabled()
    job = dialog.download_selected()
    wait_until(lambda: dialog.job is None)
    assert "Downloaded water-conv" in dialog.message.text()
    assert dialog.progress.value() == 100
    row = dialog.rows[[r.id for r in dialog.rows].index("water-conv")]
    assert row.cached is not None
    assert dialog.remove_button.isEnabled() and not dialog.download_button.isEnabled()
    assert job.isFinished()

    dialog.set_offline(True)
    dialog.select("roads-conv")
    assert not dialog.download_button.isEnabled() and catalog.store.offline
    dialog.set_offline(False)
    dialog.select("water-conv")
    dialog.resize(1200, 640)
    screenshot(dialog, "model_manager")
    dialog.remove_selected()
    assert "Removed" in dialog.message.text()
    dialog.close()
