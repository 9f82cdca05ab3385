"""Model cards and models given badly: every problem named with its file and key, before any
output is started (no leftover, no silent garbage)."""

import json

import pytest

from badinput_data import CLASSES, card, model, raster


def run(work, model_path, **changes):
    return {"INPUT": str(raster(work / "input.tif")), "MODEL": str(model_path), "DEVICE": 1,
            "OUTPUT": str(work / "classes.tif"), **changes}


def card_file(work, data) -> str:
    """A card .json beside a valid ONNX model of the same name."""
    model(work / "custom.onnx")
    path = work / "custom.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


BAD_CARDS = {
    "a-json-list": ([card()], "custom.json", "object|dict|mapping"),
    "not-json": ("{'id': 1", "custom.json", "not valid JSON"),
    "tile-size-text": (card(inputs={"bands": ["r", "g", "b"], "tile_size": "x"}),
                       "tile_size", "int|number|whole"),
    "tile-size-negative": (card(inputs={"bands": ["r", "g", "b"], "tile_size": -32}),
                           "tile_size", "1 or more|positive|at least"),
    "colour-red": (card(outputs={"classes": [dict(CLASSES[0], color="red")] + CLASSES[1:]}),
                   "colou?r", "#rrggbb"),
    "std-zero": (card(inputs={"bands": ["r", "g", "b"], "mean": [0, 0, 0], "std": [0, 1, 1]}),
                 "std", "positive|> ?0|not zero"),
    "class-300": (card(outputs={"classes": CLASSES + [{"value": 300, "name": "x",
                                                       "color": "#ffffff"}]}),
                  "300", "0.{0,5}254|0 to 254|0-254"),
    "class-negative": (card(outputs={"classes": [dict(CLASSES[0], value=-1)] + CLASSES[1:]}),
                       "-1", "0.{0,5}254"),
    "class-duplicate": (card(outputs={"classes": [CLASSES[0], dict(CLASSES[1], value=0),
                                                  CLASSES[2]]}), "value", "unique|twice|duplicate"),
    "no-bands": (card(inputs={"bands": []}), "bands", "at least one"),
    "unknown-task": (card(task="telepathy"), "task", "one of"),
    "id-empty": (card(id=" "), "id", "empty"),
}


@pytest.mark.parametrize("name", sorted(BAD_CARDS))
def test_a_bad_card_is_refused_with_file_and_key(refused, work, name):
    data, key, fix = BAD_CARDS[name]
    message = refused("run_model", run(work, card_file(work, data)), key, fix)
    assert "custom.json" in message


@pytest.mark.parametrize("metadata, problem", [
    ("not json at all", "rsai_card"),
    ("[1, 2, 3]", "metadata.*JSON object"),
    (json.dumps(card(outputs={"classes": [dict(CLASSES[0], color="red")]})), "#rrggbb"),
])
def test_bad_card_metadata_inside_an_onnx_model(refused, work, metadata, problem):
    path = model(work / "meta.onnx", metadata)
    refused("run_model", run(work, path), problem, "fix|give|must|write|card")


def test_a_model_whose_band_count_does_not_match_the_card(refused, work):
    path = model(work / "five.onnx", card(), bands=5)
    refused("run_model", run(work, path), "5|band", "card|bands")


def test_an_input_with_too_few_bands(refused, work):
    path = model(work / "m.onnx")
    refused("run_model", {**run(work, path), "INPUT": str(raster(work / "two.tif", bands=2))},
            "2 band|band", "BANDS|bands|choose|give")


def test_a_missing_model_file(refused, work):
    refused("run_model", run(work, work / "nothing.onnx"), "does not exist", "onnx|path|file")


def test_an_unknown_card_id(refused, work):
    refused("run_model", run(work, "no-such-card-id"), "no model card", "MODEL also takes")


def test_a_file_that_is_not_onnx(refused, work):
    fake = work / "fake.onnx"
    fake.write_bytes(b"PK\x03\x04 definitely not a model")
    refused("run_model", run(work, fake), "not a readable ONNX model", "ONNX|model")


def test_one_broken_user_card_does_not_hide_the_others(tmp_path, recwarn):
    from rsai_toolbox.models import registry
    folder = tmp_path / "cards"
    folder.mkdir()
    (folder / "broken.json").write_text("[1, 2]")
    (folder / "mine.json").write_text(json.dumps(card(id="mine")))
    cards = registry.list_cards([folder])
    assert "mine" in cards and len(cards) > 1  # the built-ins too
    assert any("broken.json" in str(w.message) for w in recwarn)
    with pytest.raises(Exception, match="could not be read.*broken.json"):
        registry.find_card("broken", [folder])


def test_a_fixed_size_onnx_model_and_another_tile_size(refused, work):
    from helpers import onnx_model
    from onnx import helper
    import numpy as np
    weight = np.ones((3, 3, 1, 1), np.float32)
    path = onnx_model(work / "fixed.onnx", [helper.make_node("Conv", ["input", "W"], ["output"])],
                      {"input": [1, 3, 32, 32]}, {"output": [1, 3, 32, 32]}, {"W": weight})
    (work / "fixed.json").write_text(json.dumps(card()))
    refused("run_model", run(work, path, TILE_SIZE=48), "32", "TILE_SIZE")


def test_a_tile_size_larger_than_the_raster_is_clamped(succeeds, work):
    path = model(work / "m.onnx")
    results = succeeds("run_model", run(work, path, TILE_SIZE=100000), [path])
    from osgeo import gdal
    assert gdal.Open(results["OUTPUT"]).RasterXSize == 48
