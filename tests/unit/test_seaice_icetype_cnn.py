"""NERSC s1_icetype_cnn: the released Keras file read as data, rebuilt in torch, checked against
NumPy and ONNX, loaded through a card and the weights store."""
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from rsai_toolbox.models.cards import card_from_dict, load_card
from rsai_toolbox.models.errors import UserError
from rsai_toolbox.models.hub import WeightsSource, WeightsStore
from rsai_toolbox.models.registry import BUILTIN_CARDS, weights_path
from rsai_toolbox.models.runtime.backends import load_predictor
from rsai_toolbox.models.seaice import icetype_cnn
from rsai_toolbox.models.seaice.keras_hdf5 import read_keras_hdf5
from rsai_toolbox.models.seaice.sequential import build_torch, numpy_forward, torch_state_dict

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers_seaice import NERSC_WEIGHTS, keras_layer, random_cnn, write_keras_hdf5  # noqa: E402
from hub_server import HubServer  # noqa: E402

SHA256 = "f9b18b7005d42f9405bda1da53662b7175c5bc39f051d5b49b79be17cd8889e9"


@pytest.fixture(scope="module")
def weights(shared_data):
    return shared_data / NERSC_WEIGHTS


@pytest.fixture(scope="module")
def network(weights):
    return icetype_cnn.load_nersc_network(weights)


def varied_windows(n=48, seed=0):
    """Windows whose level and texture span the training scale, so every class can come out."""
    rng = np.random.default_rng(seed)
    level = rng.uniform([0, 0], [255, 255], (n, 2))[:, :, None, None]
    texture = rng.uniform(0, 40, (n, 1, 1, 1)) * rng.normal(0, 1, (n, 2, 50, 50))
    return (level + texture).astype(np.float32)


def torch_run(network, x):
    with torch.inference_mode():
        return network(torch.from_numpy(x)).numpy()


def test_released_file_is_the_published_architecture(weights):
    model = icetype_cnn.read_nersc_model(weights)
    assert model.input_shape == (50, 50, 2) and model.output_size == 4
    assert model.keras_version == "2.2.4"
    assert [layer.kind for layer in model.layers] == [
        "batchnorm", "conv", "maxpool", "conv", "conv", "maxpool", "batchnorm", "flatten",
        "dropout", "dense", "dropout", "dense", "dropout", "dense", "dropout", "dense"]
    assert model.layers[9].weights["kernel"].shape == (3200, 16)  # 10 x 10 x 32 after pooling
    stats = icetype_cnn.training_input_statistics(model)
    assert stats["HH"][0] == pytest.approx(138.304, abs=1e-3)
    assert stats["HV"][1] == pytest.approx(25.844, abs=1e-3)


def test_torch_equals_numpy_forward_of_the_released_weights(weights, network):
    model = icetype_cnn.read_nersc_model(weights)
    for x in (varied_windows(), np.random.default_rng(1).normal(-20, 4, (16, 2, 50, 50))
              .astype(np.float32)):
        expected = numpy_forward(model.layers, x)
        found = torch_run(network, x)
        assert found.shape == (len(x), 4)
        assert np.abs(found - expected).max() < 1e-5
        assert np.allclose(found.sum(axis=1), 1.0, atol=1e-5)
    # the check is not vacuous: the varied windows reach several classes
    assert len(set(torch_run(network, varied_windows()).argmax(axis=1))) >= 3


def test_any_keras_sequential_is_rebuilt_from_its_own_configuration(tmp_path):
    # a different small network with a 1-D BatchNormalization without beta and a tanh layer
    path = random_cnn(tmp_path / "small.hdf5", np.random.default_rng(3))
    model = read_keras_hdf5(path)
    net = build_torch(model.layers, model.input_shape)
    net.load_state_dict(torch_state_dict(model.layers), strict=True)
    x = np.random.default_rng(4).normal(0, 2, (10, 2, 12, 12)).astype(np.float32)
    assert np.abs(torch_run(net, x) - numpy_forward(model.layers, x)).max() < 1e-5
    with pytest.raises(UserError, match="not the NERSC"):
        icetype_cnn.read_nersc_model(path)


def test_onnx_export_equals_torch(tmp_path, network):
    import onnxruntime as ort

    path = icetype_cnn.export_onnx(network, tmp_path / "nersc.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["sar"]
    assert [o.name for o in session.get_outputs()] == ["probabilities"]
    for n in (1, 37):  # dynamic batch
        x = varied_windows(n, seed=n)
        onnx_out = session.run(None, {"sar": x})[0]
        assert np.abs(onnx_out - torch_run(network, x)).max() < 1e-5


def test_card_loads_through_the_runtime_registry(weights, network):
    card = load_card(BUILTIN_CARDS / "nersc-s1-icetype.json")
    assert (card.format, card.architecture, card.licence) == ("keras_hdf5", "nersc_icetype_cnn",
                                                              "GPL-3.0")
    assert (card.head.type, card.head.window, card.head.stride) == ("patch", 50, 50)
    assert card.primary.bands == ("HH", "HV") and card.primary.transform == "db"
    assert card.primary.resolution_m == 40 and "NERSC" in card.method["preprocessing"]
    assert card.weights.sha256 == SHA256
    assert card.weights.url == ("https://raw.githubusercontent.com/nansencenter/s1_icetype_cnn/"
                                "e60d40ed4213345f3b033712c9fe278012166f61/weights.hdf5")
    assert [(c.name, c.color) for c in card.classes] == [
        ("ice free", "#0064FF"), ("young ice", "#AA28F0"), ("first-year ice", "#9BD200"),
        ("old ice", "#B46432")]
    predictor = load_predictor(card, weights, device="cpu")
    x = varied_windows(8)
    result = predictor({"sar": x})
    assert list(result) == ["ice_type"]
    assert np.abs(result["ice_type"] - torch_run(network, x)).max() == 0.0


def test_card_weights_come_through_the_store_verified_by_sha256(tmp_path, weights):
    data = weights.read_bytes()
    assert len(data) == 937056
    card_json = json.loads((BUILTIN_CARDS / "nersc-s1-icetype.json").read_text())
    with HubServer(tmp_path / "srv") as server:
        card_json["weights"]["url"] = server.add_url_file("s1_icetype_cnn/weights.hdf5", data)
        card = card_from_dict(card_json)
        store = WeightsStore(tmp_path / "cache", endpoint=server.endpoint)
        path = weights_path(card, store)
        assert path.read_bytes() == data
        # a tampered copy on the server is refused (fresh cache: nothing to reuse)
        tampered = bytearray(data)
        tampered[len(data) // 2] ^= 0xFF
        bad = WeightsSource(url=server.add_url_file("bad/weights.hdf5", bytes(tampered)),
                            sha256=SHA256)
        with pytest.raises(UserError, match="sha256"):
            WeightsStore(tmp_path / "cache2", endpoint=server.endpoint).fetch(bad)
        assert not list((tmp_path / "cache2").rglob("weights.hdf5"))


def test_bad_files_are_user_errors(tmp_path, weights):
    with pytest.raises(UserError, match="does not exist"):
        icetype_cnn.read_nersc_model(tmp_path / "absent.hdf5")
    (tmp_path / "text.hdf5").write_text("not hdf5")
    with pytest.raises(UserError, match="not an HDF5 file"):
        icetype_cnn.read_nersc_model(tmp_path / "text.hdf5")
    layers = [keras_layer("Dense", "d", units=2)]
    write_keras_hdf5(tmp_path / "no_config.hdf5", layers, {}, model_config=False)
    with pytest.raises(UserError, match="weights only"):
        icetype_cnn.read_nersc_model(tmp_path / "no_config.hdf5")
    lam = [keras_layer("Lambda", "code", function="4wEAAAAAAAAA")]
    write_keras_hdf5(tmp_path / "lambda.hdf5", lam, {})
    with pytest.raises(UserError, match="Lambda"):
        icetype_cnn.read_nersc_model(tmp_path / "lambda.hdf5")
    # right architecture, a truncated kernel
    copy = shutil.copy(weights, tmp_path / "damaged.hdf5")
    import h5py
    with h5py.File(copy, "r+") as f:
        group = f["model_weights/dense_4"]
        del group["dense_4/kernel:0"]
        group.create_dataset("dense_4/kernel:0", data=np.zeros((64, 3), np.float32))
    with pytest.raises(UserError, match="dense_4"):
        icetype_cnn.read_nersc_model(copy)
