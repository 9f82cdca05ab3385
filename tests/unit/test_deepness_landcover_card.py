"""The Deepness LandCover.ai card: where its file is, its licences, and that it runs a model of
the published file's signature (RGB / 255 in, 5 class scores out, 512 px tiles)."""
import dataclasses
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers import apply_pointwise, conv_onnx, write_geotiff  # noqa: E402
from hub_server import HubServer  # noqa: E402

from rsai_toolbox.models.hub import WeightsSource, WeightsStore  # noqa: E402
from rsai_toolbox.models.registry import find_card, weights_path  # noqa: E402
from rsai_toolbox.models.runtime.backends import onnx_predictor  # noqa: E402
from rsai_toolbox.models.runtime.engine import Destination, run  # noqa: E402

URL = re.compile(r"^https://raw\.githubusercontent\.com/PUTvision/qgis-plugin-deepness/"
                 r"[0-9a-f]{40}/examples/deeplabv3_segmentation_landcover/[\w.]+\.onnx$")


def test_card_pins_the_file_and_states_both_licences():
    card = find_card("deepness-landcover")
    assert URL.match(card.weights.url) and card.weights.sha256 is None  # trust on first use
    assert "Apache-2.0" in card.licence and "CC-BY-NC-SA-4.0" in card.licence
    assert "Apache License 2.0" in card.description and "CC BY-NC-SA 4.0" in card.description
    assert "10.1016/j.softx.2023.101495" in card.citation and "LandCover.ai" in card.citation
    assert [c.name for c in card.classes] == ["background", "building", "woodland", "water",
                                              "road"]
    assert [c.value for c in card.classes] == [0, 1, 2, 3, 4]
    assert card.primary.bands == ("R", "G", "B") and card.primary.scale == 255
    assert card.tiling.tile_size == 512 and card.primary.resolution_m == 0.4
    assert card.output.activation == "none"  # Deepness segmentors output probabilities


def test_card_runs_a_model_of_the_published_signature(tmp_path):
    """A stand-in with the file's signature, served at a URL: downloaded through the store
    (hash recorded on first use), then run by the engine with this card's settings."""
    weight, bias = conv_onnx(tmp_path / "standin.onnx", 3, 5, seed=3)
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (3, 520, 600)).astype(np.uint8)
    image = write_geotiff(tmp_path / "ortho.tif", rgb, (500000, 0.4, 0, 300000, 0, -0.4),
                          epsg=2180)
    with HubServer(tmp_path / "hub") as server:
        url = server.add_url_file("deeplabv3_landcover_4c_batched.onnx",
                                  (tmp_path / "standin.onnx").read_bytes())
        card = dataclasses.replace(find_card("deepness-landcover"),
                                   weights=WeightsSource(url=url))
        logs = []
        store = WeightsStore(tmp_path / "cache", log=logs.append)
        path = weights_path(card, store)
    assert any("recorded sha256" in m for m in logs)
    run(card, onnx_predictor(path, "cpu"), {card.primary.name: str(image)},
        [Destination(str(tmp_path / "classes.tif"))])
    from osgeo import gdal
    classes = gdal.Open(str(tmp_path / "classes.tif")).ReadAsArray()
    expected = apply_pointwise(weight, bias, rgb.astype(np.float64) / 255).argmax(0)
    assert np.mean(classes == expected) > 0.999
