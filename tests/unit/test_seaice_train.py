"""Multi-task sea-ice U-Net training on tiny AI4Arctic-layout scenes: scores, ONNX parity,
card, encoder weights from a local file and through the weights store."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score, r2_score

from rsai_toolbox.models.cards import load_card
from rsai_toolbox.models.errors import UserError
from rsai_toolbox.models.hub import WeightsStore
from rsai_toolbox.models.seaice import train as seaice_train

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers_seaice import write_ai4arctic_scene  # noqa: E402
from hub_server import HubServer  # noqa: E402

REV = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("ai4arctic")
    files = [write_ai4arctic_scene(root / f"scene_{i}.nc", seed=i) for i in range(4)]
    fractions = []
    metrics = seaice_train.train(files[:3], files[3:], root / "out", steps=3, batch_size=2,
                                 patch=32, eval_tile=64, lr=3e-3, progress=fractions.append)
    return root, files, metrics, fractions


def load_trained(metrics, use_angle=True):
    from safetensors.torch import load_file

    model = seaice_train.build_model("resnet18", use_angle)
    model.load_state_dict(load_file(metrics["state_dict"]), strict=True)
    return model.eval()


def test_training_writes_scores_model_card_and_reports(trained):
    root, files, metrics, fractions = trained
    out = root / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "heldout_scores.csv", "heldout_scores.html", "metrics.json", "model.json", "model.onnx",
        "model.safetensors"]
    assert len(metrics["history"]) == 3 and all(np.isfinite(h["loss"]) for h in metrics["history"])
    held = metrics["heldout"]
    assert set(held) == {"SIC_R2", "SOD_F1", "FLOE_F1", "COMBINED"}
    assert held["COMBINED"] == pytest.approx(
        (2 * held["SIC_R2"] + 2 * held["SOD_F1"] + held["FLOE_F1"]) / 5)
    assert metrics["scenes"] == {"train": ["scene_0.nc", "scene_1.nc", "scene_2.nc"],
                                 "heldout": ["scene_3.nc"]}
    assert fractions[-1] == 1.0 and fractions == sorted(fractions)
    assert json.loads((out / "metrics.json").read_text())["heldout"] == held


def test_heldout_scores_are_the_scikit_learn_scores_of_the_predicted_maps(trained):
    import h5netcdf

    root, files, metrics, _ = trained
    model = load_trained(metrics)
    scene = seaice_train.open_scene(files[3])
    predicted = seaice_train.predict_scene(model, scene, tile=64)
    with h5netcdf.File(files[3], "r") as nc:
        charts = {n: np.asarray(nc.variables[n][:]) for n in ("SIC", "SOD", "FLOE")}
    for name, metric in (("SIC", r2_score), ("SOD", f1_score), ("FLOE", f1_score)):
        keep = (charts[name] != 255) & (predicted[name] != 255)
        kwargs = {} if name == "SIC" else {"average": "weighted"}
        expected = 100 * metric(charts[name][keep], predicted[name][keep], **kwargs)
        key = f"{name}_{'R2' if name == 'SIC' else 'F1'}"
        assert metrics["heldout"][key] == pytest.approx(expected, abs=1e-9)
    # no prediction where the SAR has no value
    assert (predicted["SOD"][:, :3] == 255).all() and (predicted["SOD"][:, 3:] != 255).all()


def test_onnx_equals_torch_with_three_named_outputs(trained):
    import onnxruntime as ort

    root, _, metrics, _ = trained
    model = load_trained(metrics)
    session = ort.InferenceSession(metrics["onnx"], providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["sar", "angle"]
    assert [o.name for o in session.get_outputs()] == ["SIC", "SOD", "FLOE"]
    rng = np.random.default_rng(0)
    for shape in ((1, 64, 64), (2, 96, 128)):
        sar = rng.normal(size=(shape[0], 2, *shape[1:])).astype(np.float32)
        angle = rng.normal(size=(shape[0], 1, *shape[1:])).astype(np.float32)
        with torch.inference_mode():
            expected = [t.numpy() for t in model(torch.from_numpy(sar), torch.from_numpy(angle))]
        got = session.run(None, {"sar": sar, "angle": angle})
        for e, g, k in zip(expected, got, (11, 6, 7)):
            assert g.shape == (shape[0], k, *shape[1:])
            # float32 kernels sum in another order: equal to 1e-5 of the scores' scale
            assert np.abs(g - e).max() <= 1e-5 * np.abs(e).max()
            assert np.mean(g.argmax(1) == e.argmax(1)) > 0.999


def test_card_describes_inputs_outputs_and_scores(trained):
    import onnx

    from rsai_toolbox.models.hub import sha256_file

    root, _, metrics, _ = trained
    card = json.loads(Path(metrics["card"]).read_text())
    assert card["format"] == "onnx" and card["head"] == {"type": "dense"}
    sar, angle = card["inputs"]
    assert sar["name"] == "sar" and sar["bands"] == ["HH", "HV"] and sar["transform"] == "db"
    assert sar["mean"] == [-14.508, -24.701] and sar["std"] == [5.660, 4.747]
    assert angle["bands"] == ["incidence_angle"] and angle["mean"] == [33.998]
    outputs = card["outputs"]
    assert [o["name"] for o in outputs] == ["SOD", "SIC", "FLOE"]  # SOD: the primary map
    assert [len(o["classes"]) for o in outputs] == [6, 11, 7]
    assert outputs[0]["classes"][5]["name"] == "old ice"
    assert card["method"]["heldout_scores"] == metrics["heldout"]
    assert card["method"]["files"]["sha256"] == sha256_file(Path(metrics["onnx"]))
    # the card validates as a v2 card and runs beside its ONNX as a user card
    loaded = load_card(metrics["card"])
    assert [o.name for o in loaded.outputs] == ["SOD", "SIC", "FLOE"]
    assert loaded.local_weights == Path(metrics["onnx"])
    embedded = {p.key: p.value for p in onnx.load(metrics["onnx"]).metadata_props}
    assert json.loads(embedded["rsai_card"])["inputs"] == card["inputs"]


def _resnet18_s1_state(in_channels=2, prefix="backbone."):
    """A torchvision/timm-layout ResNet-18 state dict with a 2-channel (VV/VH) first conv."""
    import torchvision

    torch.manual_seed(1)
    state = torchvision.models.resnet18(weights=None).state_dict()
    state["conv1.weight"] = torch.randn(64, in_channels, 7, 7)
    return {prefix + k: v for k, v in state.items()}


def test_encoder_weights_from_a_local_file_and_through_the_store(tmp_path):
    from safetensors.torch import save_file

    state = _resnet18_s1_state()
    path = tmp_path / "resnet18_s1.safetensors"
    save_file(state, str(path))
    model = seaice_train.build_model("resnet18", use_angle=True)
    loaded = seaice_train.load_encoder_weights(model, path)
    encoder = model.unet.encoder.state_dict()
    assert loaded == len(encoder)
    conv = encoder["conv1.weight"]
    assert torch.equal(conv[:, :2], state["backbone.conv1.weight"])
    assert torch.allclose(conv[:, 2:], state["backbone.conv1.weight"].mean(1, keepdim=True))
    assert torch.equal(encoder["layer4.1.bn2.running_var"], state["backbone.layer4.1.bn2.running_var"])

    with HubServer(tmp_path / "srv") as server:
        server.add_file("torchgeo/ssl4eo-s1", REV, "resnet18_s1.safetensors", path.read_bytes())
        store = WeightsStore(tmp_path / "cache", endpoint=server.endpoint)
        other = seaice_train.build_model("resnet18", use_angle=False)
        n = seaice_train.load_encoder_weights(
            other, f"torchgeo/ssl4eo-s1@{REV}:resnet18_s1.safetensors", store)
        assert n == loaded
        assert torch.equal(other.unet.encoder.state_dict()["conv1.weight"],
                           state["backbone.conv1.weight"])

    torch.save({"state_dict": _resnet18_s1_state(prefix="model.")}, tmp_path / "ckpt.pth")
    assert seaice_train.load_encoder_weights(model, tmp_path / "ckpt.pth") == loaded
    with pytest.raises(UserError, match="fits only"):
        seaice_train.load_encoder_weights(seaice_train.build_model("resnet34"), path)
    with pytest.raises(UserError, match="does not exist"):
        seaice_train.load_encoder_weights(model, tmp_path / "absent.pth")


def test_training_without_angle_and_with_encoder_weights(tmp_path):
    from safetensors.torch import save_file
    import onnxruntime as ort

    files = [write_ai4arctic_scene(tmp_path / f"s{i}.nc", rows=40, cols=40, seed=10 + i,
                                   angle=False) for i in range(2)]
    save_file(_resnet18_s1_state(), str(tmp_path / "enc.safetensors"))
    metrics = seaice_train.train(files[:1], files[1:], tmp_path / "out", steps=1, batch_size=2,
                                 patch=32, eval_tile=32, use_angle=False,
                                 encoder_weights=str(tmp_path / "enc.safetensors"))
    assert metrics["encoder_tensors_loaded"] > 100
    session = ort.InferenceSession(metrics["onnx"], providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["sar"]
    assert len(json.loads(Path(metrics["card"]).read_text())["inputs"]) == 1


def test_bad_layouts_are_user_errors(tmp_path):
    good = write_ai4arctic_scene(tmp_path / "good.nc")
    no_angle = write_ai4arctic_scene(tmp_path / "no_angle.nc", angle=False)
    with pytest.raises(UserError, match="sar_incidenceangle.*--no-angle"):
        seaice_train.open_scene(no_angle)
    no_floe = write_ai4arctic_scene(tmp_path / "no_floe.nc", drop=("FLOE",))
    with pytest.raises(UserError, match="FLOE"):
        seaice_train.open_scene(no_floe)
    with pytest.raises(UserError, match="also in the training set"):
        seaice_train.train([good], [good], tmp_path / "out", steps=1)
    with pytest.raises(UserError, match="multiples of 32"):
        seaice_train.train([good], [no_angle], tmp_path / "out", patch=48)
    with pytest.raises(UserError, match="larger patch or batch"):
        seaice_train.train([good], [no_angle], tmp_path / "out", patch=32, batch_size=1)
    (tmp_path / "broken.nc").write_text("not netcdf")
    with pytest.raises(UserError, match="not a readable netCDF"):
        seaice_train.open_scene(tmp_path / "broken.nc")
    with pytest.raises(UserError, match="no .nc scenes"):
        seaice_train.find_scenes(tmp_path / "out_empty")
    assert not (tmp_path / "out").exists()


def test_cli_help(tmp_path):
    plugins_dir = Path(__file__).resolve().parents[2] / "build" / "plugins"
    result = subprocess.run([sys.executable, "-m", "rsai_toolbox.models.seaice.train", "--help"],
                            capture_output=True, text=True, cwd=plugins_dir, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "--encoder-weights" in result.stdout and "nersc_sar_primary" in result.stdout
