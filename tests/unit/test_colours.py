"""Classes without colours get map colours users recognise, or distinct palette colours."""

from rsai_toolbox.models.cards import card_from_dict
from rsai_toolbox.models.colours import PALETTE, class_colours


def test_land_cover_names_get_their_usual_colours_and_others_the_palette():
    colours = class_colours(["Forest", "open water", "cultivated land", "class 7", "class 8"])
    assert colours[:3] == ("#1b7837", "#1f78b4", "#f2c12e")
    assert colours[3:] == (PALETTE[3], PALETTE[4])


def test_a_card_keeps_its_own_colours_and_fills_missing_ones():
    card = card_from_dict({"id": "c", "task": "segmentation", "format": "onnx",
                           "inputs": {"bands": ["r"]},
                           "outputs": {"classes": [{"value": 0, "name": "forest", "color": "#123456"},
                                                   {"value": 1, "name": "water"}]}})
    assert [c.color for c in card.classes] == ["#123456", "#1f78b4"]
