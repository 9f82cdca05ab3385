"""Tool-specific bad inputs: what each tool checks about its inputs before it writes anything."""

import numpy as np

from badinput_data import model, pan_ms, polygons, raster
from helpers import write_geotiff


def test_quality_full_mode_fused_shifted_by_one_pixel(refused, work):
    pan, ms = pan_ms(work)
    shifted = write_geotiff(work / "fused.tif", np.ones((4, 64, 64), np.uint16) * 500,
                            (500001.0, 1.0, 0.0, 5000000.0, 0.0, -1.0))
    refused("pansharpening_quality", {"FUSED": str(shifted), "MS": str(ms), "PAN": str(pan),
                                      "MODE": 0, "OUTPUT_TABLE": str(work / "q.csv")},
            "not on the PAN grid", "resample FUSED onto the PAN grid|output of rsai:pansharpen")


def test_quality_full_mode_without_fused(refused, work):
    pan, ms = pan_ms(work)
    refused("pansharpening_quality", {"MS": str(ms), "PAN": str(pan), "MODE": 0,
                                      "OUTPUT_TABLE": str(work / "q.csv")},
            "needs FUSED", "give it|reduced resolution")


def test_pansharpen_weights_with_a_classical_method(refused, work):
    pan, ms = pan_ms(work)
    weights = work / "w.pth"
    weights.write_bytes(b"not weights")
    refused("pansharpen", {"PAN": str(pan), "MS": str(ms), "METHOD": 0, "WEIGHTS": str(weights),
                           "OUTPUT": str(work / "f.tif")}, "WEIGHTS is for the ADWM",
            "clear it")


def test_download_model_unknown_card(refused, work):
    refused("download_model", {"MODEL": "no-such-model"}, "no model card", "MODEL also takes")


def test_polygonize_field_and_boundary_value_the_same(refused, work):
    from badinput_data import class_raster
    classes = class_raster(work / "classes.tif")
    refused("polygonize_fields", {"INPUT": str(classes), "FIELD_VALUE": 1, "BOUNDARY_VALUE": 1,
                                  "OUTPUT": str(work / "f.gpkg")}, "1", "")


def test_bayes_classify_model_that_is_not_json(refused, work):
    bad = work / "model.json"
    bad.write_text("{ not json")
    refused("bayes_landcover_classify", {"INPUT": str(raster(work / "i.tif")),
                                         "MODEL": str(bad), "OUTPUT": str(work / "c.tif")},
            "not valid JSON", "train tool")


def test_bayes_classify_model_of_another_band_count(refused, work):
    from rsai_toolbox.models.landcover_bayes import train_from_files
    folder = work.parent / "trained"
    folder.mkdir()
    path = folder / "m.json"
    train_from_files(str(raster(folder / "img.tif", bands=3)), str(polygons(folder / "t.gpkg")),
                     "class", path, compare_baselines=False)
    refused("bayes_landcover_classify", {"INPUT": str(raster(work / "five.tif", bands=5)),
                                         "MODEL": str(path), "OUTPUT": str(work / "c.tif")},
            "5|band", "band|raster|train")


def test_run_model_extra_inputs_beyond_the_card(refused, work):
    onnx = model(work / "m.onnx")
    refused("run_model", {"INPUT": str(raster(work / "i.tif")), "MODEL": str(onnx),
                          "EXTRA_INPUTS": [str(raster(work / "x.tif"))], "DEVICE": 1,
                          "OUTPUT": str(work / "c.tif")}, "takes 1 input", "remove the extra")


def test_sea_ice_scores_without_a_chart(refused, work):
    from badinput_data import class_raster
    refused("sea_ice_scores", {"PREDICTION": str(class_raster(work / "p.tif")),
                               "OUTPUT_TABLE": str(work / "s.csv")}, "CHART", "")
