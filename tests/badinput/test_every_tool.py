"""Every tool's destinations given as a careless or hostile user would: over an input, over
another output (or its .qml), into a folder, with a format the tool does not write. The checks
are the shared ones (processing_provider/destinations.py), so each tool is refused before its
model is even looked up; plus each tool's own input checks."""

import pytest

from badinput_data import class_raster, model, pan_ms, polygons, raster

SAME_INPUT = ("same file as an input", "choose another file")
SAME_OUTPUT = ("same file", "its own file name")
FOLDER = ("existing folder", "file name inside")


def image(work, name="image.tif", bands=3):
    return str(raster(work / name, bands=bands))


def _cases():
    """(id, tool, parameters(work) -> dict, problem, fix)."""
    cases = []

    def add(case_id, tool, build, problem, fix):
        cases.append(pytest.param(tool, build, problem, fix, id=case_id))

    # farmland_segmentation
    def farm(work, **extra):
        return {"INPUT_A": image(work, "a.tif", 4), "INPUT_B": image(work, "b.tif", 4),
                "MODEL": "ftw-2class", "DEVICE": 1, "OUTPUT": str(work / "fields.tif"), **extra}
    add("farmland-output-is-window-a", "farmland_segmentation",
        lambda w: farm(w, OUTPUT=str(w / "a.tif")), *SAME_INPUT)
    add("farmland-probabilities-is-window-b", "farmland_segmentation",
        lambda w: farm(w, OUTPUT_PROBABILITIES=str(w / "b.tif")), *SAME_INPUT)
    add("farmland-two-outputs", "farmland_segmentation",
        lambda w: farm(w, OUTPUT_PROBABILITIES=str(w / "fields.tif")), *SAME_OUTPUT)
    add("farmland-output-png", "farmland_segmentation",
        lambda w: farm(w, OUTPUT=str(w / "fields.png")), r"ends in \.png", r"\.tif")
    add("farmland-weights-is-output", "farmland_segmentation",
        lambda w: farm(w, WEIGHTS=image(w, "weights.tif"), OUTPUT=str(w / "weights.tif")),
        *SAME_INPUT)
    add("farmland-a-and-b-the-same-file", "farmland_segmentation",
        lambda w: farm(w, INPUT_B=str(_folder(w / "sub") / ".." / "a.tif")),
        "INPUT_A and INPUT_B are the same", "Give the second date as INPUT_B")

    # farmland_prompt_mask
    def prompt(work, **extra):
        return {"INPUT": image(work), "PROMPT": "fields", "THRESHOLD": 0.5, "MODEL": "clipseg",
                "OUTPUT": str(work / "mask.tif"), **extra}
    add("prompt-mask-over-input", "farmland_prompt_mask",
        lambda w: prompt(w, OUTPUT=str(w / "image.tif")), *SAME_INPUT)
    add("prompt-mask-two-outputs", "farmland_prompt_mask",
        lambda w: prompt(w, OUTPUT_PROBABILITIES=str(w / "mask.tif")), *SAME_OUTPUT)
    add("prompt-mask-folder", "farmland_prompt_mask",
        lambda w: prompt(w, OUTPUT=str(w)), *FOLDER)

    # fusion_landcover
    def fusion(work, **extra):
        return {"AERIAL": image(work, "aerial.tif"), "SATELLITE": image(work, "sat.tif"),
                "MODEL": "x", "DEVICE": 1, "OUTPUT": str(work / "lc.tif"), **extra}
    add("fusion-over-satellite", "fusion_landcover",
        lambda w: fusion(w, OUTPUT=f"file://{w / 'sat.tif'}"), *SAME_INPUT)
    add("fusion-probabilities-over-aerial-relative", "fusion_landcover",
        lambda w: fusion(w, OUTPUT_PROBABILITIES="aerial.tif"), *SAME_INPUT)
    add("fusion-output-vrt", "fusion_landcover",
        lambda w: fusion(w, OUTPUT=str(w / "lc.vrt")), r"ends in \.vrt", r"\.tif")

    # sea_ice_types
    def ice(work, **extra):
        return {"INPUT": image(work, "sar.tif", 2), "MODEL": "x", "DEVICE": 1,
                "OUTPUT": str(work / "ice.tif"), **extra}
    add("sea-ice-over-input", "sea_ice_types", lambda w: ice(w, OUTPUT=str(w / "sar.tif")),
        *SAME_INPUT)
    add("sea-ice-windows-is-sic", "sea_ice_types",
        lambda w: ice(w, OUTPUT_WINDOWS=str(w / "x.tif"), OUTPUT_SIC=str(w / "x.tif")),
        *SAME_OUTPUT)
    add("sea-ice-polygons-over-land-mask", "sea_ice_types",
        lambda w: ice(w, LAND_MASK=str(polygons(w / "land.gpkg")),
                      OUTPUT_POLYGONS=f"ogr:dbname='{w / 'land.gpkg'}' table=\"ice\" (geom)"),
        *SAME_INPUT)
    add("sea-ice-polygons-shapefile", "sea_ice_types",
        lambda w: ice(w, OUTPUT_POLYGONS=str(w / "ice.shp")), r"ends in \.shp", r"\.gpkg")
    add("sea-ice-floe-over-weights", "sea_ice_types",
        lambda w: ice(w, WEIGHTS=image(w, "w.tif"), OUTPUT_FLOE=str(w / "w.tif")),
        *SAME_INPUT)

    # sea_ice_scores
    def scores(work, **extra):
        return {"PREDICTION": str(class_raster(work / "pred.tif")),
                "CHART": str(class_raster(work / "chart.tif")),
                "OUTPUT_TABLE": str(work / "scores.csv"), **extra}
    add("sea-ice-scores-table-wrong-extension", "sea_ice_scores",
        lambda w: scores(w, OUTPUT_TABLE=str(w / "chart.tif")), r"ends in \.tif",
        "change the extension")
    add("sea-ice-scores-table-folder", "sea_ice_scores",
        lambda w: scores(w, OUTPUT_TABLE=str(w)), *FOLDER)

    # soil_train / soil_predict
    def soil_train(work, **extra):
        return {"SAMPLES": str(polygons(work / "samples.gpkg")), "TARGET_FIELDS": ["class"],
                "INPUT": image(work), "FEATURES": [0], "OUTPUT_MODEL": str(work / "soil.onnx"),
                "OUTPUT_REPORT": str(work / "soil.html"), **extra}
    add("soil-train-card-beside-model-over-input", "soil_train",
        lambda w: soil_train(w, OUTPUT_MODEL=str(w / "cov.onnx"),
                             COVARIATES=[str(_json_raster(w / "cov.json"))]), *SAME_INPUT)
    add("soil-train-report-with-the-model-extension", "soil_train",
        lambda w: soil_train(w, OUTPUT_REPORT=str(w / "soil.onnx")), r"ends in \.onnx",
        r"\.html")
    add("soil-train-model-folder", "soil_train",
        lambda w: soil_train(w, OUTPUT_MODEL=str(_folder(w / "m.onnx"))), *FOLDER)

    def soil_predict(work, **extra):
        onnx = model(work / "soil.onnx")
        return {"INPUT": image(work), "MODEL": str(onnx), "DEVICE": 1,
                "OUTPUT": str(work / "ph.tif"), **extra}
    add("soil-predict-over-mask", "soil_predict",
        lambda w: soil_predict(w, MASK=image(w, "mask.tif", 1), OUTPUT=str(w / "mask.tif")),
        *SAME_INPUT)
    add("soil-predict-interval-is-extrapolation", "soil_predict",
        lambda w: soil_predict(w, OUTPUT_INTERVAL=str(w / "i.tif"),
                               OUTPUT_EXTRAPOLATION=str(w / "i.tif")), *SAME_OUTPUT)
    add("soil-predict-points-over-samples", "soil_predict",
        lambda w: soil_predict(w, POINTS=str(polygons(w / "pts.gpkg")),
                               OUTPUT_POINTS=str(w / "pts.gpkg")), *SAME_INPUT)
    add("soil-predict-over-covariate", "soil_predict",
        lambda w: soil_predict(w, COVARIATES=[image(w, "dem.tif", 1)],
                               OUTPUT=str(w / "dem.tif")), *SAME_INPUT)

    # CLIP tools
    def chips(work, **extra):
        return {"INPUT": image(work), "MODEL": "x", "DEVICE": 1,
                "OUTPUT": str(work / "chips.gpkg"), **extra}
    add("embed-over-mask-gpkg", "embed_image_chips",
        lambda w: chips(w, MASK=str(polygons(w / "mask.gpkg")),
                        OUTPUT=f"ogr:dbname='{w / 'mask.gpkg'}' table=\"chips\" (geom)"),
        *SAME_INPUT)
    add("embed-output-csv", "embed_image_chips",
        lambda w: chips(w, OUTPUT=str(w / "chips.csv")), r"ends in \.csv", r"\.gpkg")
    add("embed-output-folder", "embed_image_chips",
        lambda w: chips(w, OUTPUT=str(_folder(w / "chips.gpkg"))), *FOLDER)

    def search(work, **extra):
        return {"INDEX": str(polygons(work / "index.gpkg")), "QUERY": "a harbour",
                "DEVICE": 1, "OUTPUT": str(work / "matches.gpkg"), **extra}
    add("text-search-over-index", "text_search",
        lambda w: search(w, OUTPUT=str(w / "index.gpkg")), *SAME_INPUT)
    add("text-search-heatmap-over-input", "text_search",
        lambda w: search(w, INPUT=image(w), OUTPUT_HEATMAP=str(w / "image.tif")), *SAME_INPUT)
    add("text-search-over-index-layername-spelling", "text_search",
        lambda w: search(w, INDEX=str(polygons(w / "idx.gpkg")) + "|layername=training",
                         OUTPUT=f"ogr:dbname='{w / 'idx.gpkg'}' table=\"matches\" (geom)"),
        *SAME_INPUT)

    def zero_shot(work, **extra):
        return {"INPUT": image(work), "LABELS": "water, forest", "MODEL": "x", "DEVICE": 1,
                "OUTPUT": str(work / "zs.tif"), **extra}
    add("zero-shot-over-input-relative-dots", "zero_shot_classify",
        lambda w: zero_shot(w, OUTPUT=str(w / "." / "image.tif")), *SAME_INPUT)
    add("zero-shot-two-outputs", "zero_shot_classify",
        lambda w: zero_shot(w, OUTPUT_PROBABILITIES=str(w / "zs.tif")), *SAME_OUTPUT)
    add("zero-shot-output-jpeg", "zero_shot_classify",
        lambda w: zero_shot(w, OUTPUT=str(w / "zs.JPEG")), r"ends in \.jpeg", r"\.tif")

    # bayes_landcover_classify
    def classify(work, **extra):
        return {"INPUT": image(work), "MODEL": str(_bayes_model(work)),
                "OUTPUT": str(work / "classes.tif"), **extra}
    add("bayes-classify-over-input", "bayes_landcover_classify",
        lambda w: classify(w, OUTPUT=str(w / "image.tif")), *SAME_INPUT)
    add("bayes-classify-classes-is-probabilities", "bayes_landcover_classify",
        lambda w: classify(w, OUTPUT_PROBABILITIES=str(w / "classes.tif")), *SAME_OUTPUT)
    add("bayes-classify-uncertainty-over-mask", "bayes_landcover_classify",
        lambda w: classify(w, MASK=image(w, "mask.tif", 1),
                           OUTPUT_UNCERTAINTY=str(w / "mask.tif")), *SAME_INPUT)
    add("bayes-classify-uncertainty-over-sigma", "bayes_landcover_classify",
        lambda w: classify(w, UNCERTAINTY=image(w, "sigma.tif"),
                           OUTPUT_UNCERTAINTY=str(w / "sigma.tif")), *SAME_INPUT)

    # pansharpening
    def sharpen(work, **extra):
        pan, ms = pan_ms(work)
        return {"PAN": str(pan), "MS": str(ms), "METHOD": 0, "OUTPUT": str(work / "f.tif"),
                **extra}
    add("pansharpen-over-pan-symlink", "pansharpen",
        lambda w: sharpen(w, OUTPUT=str(_link(w / "pan.tif", w / "p.tif"))), *SAME_INPUT)
    add("pansharpen-output-folder", "pansharpen",
        lambda w: sharpen(w, OUTPUT=str(_folder(w / "out"))), *FOLDER)

    def quality(work, **extra):
        pan, ms = pan_ms(work)
        return {"PAN": str(pan), "MS": str(ms), "MODE": 1, "METHOD": 0,
                "OUTPUT_TABLE": str(work / "q.csv"), **extra}
    add("quality-table-folder", "pansharpening_quality",
        lambda w: quality(w, OUTPUT_TABLE=str(_folder(w / "q.csv"))), *FOLDER)

    # polygonize_fields
    def polygonize(work, **extra):
        return {"INPUT": str(class_raster(work / "classes.tif")),
                "OUTPUT": str(work / "fields.gpkg"), **extra}
    add("polygonize-output-dbname-is-a-folder", "polygonize_fields",
        lambda w: polygonize(w, OUTPUT=f"ogr:dbname='{w}' table=\"fields\" (geom)"), *FOLDER)

    # bayes_landcover_train
    def train(work, **extra):
        return {"INPUT": image(work), "TRAINING": str(polygons(work / "t.gpkg")),
                "CLASS_FIELD": "class", "OUTPUT_MODEL": str(work / "m.json"),
                "OUTPUT_REPORT": str(work / "r.html"), **extra}
    add("bayes-train-model-with-the-report-extension", "bayes_landcover_train",
        lambda w: train(w, OUTPUT_MODEL=str(w / "r.html")), r"ends in \.html", r"\.json")
    add("bayes-train-report-over-model", "bayes_landcover_train",
        lambda w: train(w, OUTPUT_REPORT=str(w / "m.html"), OUTPUT_MODEL=str(w / "m.json"),
                        UNCERTAINTY=_gdal_csv(w / "m.csv")), *SAME_INPUT)
    return cases


def _folder(path):
    path.mkdir()
    return path


def _link(target, link):
    link.symlink_to(target)
    return link


def _json_raster(path):
    """A raster in a file named .json (GDAL reads it by content): a covariate the card beside
    the model (model.json) would overwrite."""
    from osgeo import gdal
    tif = raster(path.with_suffix(".tmp.tif"), bands=1)
    gdal.Translate(str(path.with_name("cov.json")), str(tif), format="GTiff")
    tif.unlink()
    return path.with_name("cov.json")


def _gdal_csv(path):
    """A raster named .csv (GDAL reads it by content): the table beside the report."""
    from osgeo import gdal
    tif = raster(path.with_suffix(".tmp.tif"), bands=3)
    gdal.Translate(str(path), str(tif), format="GTiff")
    tif.unlink()
    return str(path)


def _gpkg_raster(path):
    from osgeo import gdal
    tif = raster(path.with_suffix(".tmp.tif"), bands=2, dtype="float32")
    gdal.Translate(str(path), str(tif), format="GPKG")
    tif.unlink()
    return path


def _bayes_model(work):
    from rsai_toolbox.models.landcover_bayes import train_from_files
    folder = work.parent / "trained"
    folder.mkdir(exist_ok=True)
    path = folder / "model.json"
    if not path.exists():
        train_from_files(str(raster(folder / "image.tif")), str(polygons(folder / "t.gpkg")),
                         "class", path, compare_baselines=False)
    return path


@pytest.mark.parametrize("tool, build, problem, fix", _cases())
def test_every_tool_refuses(refused, work, tool, build, problem, fix, monkeypatch):
    monkeypatch.chdir(work)
    refused(tool, build(work), problem, fix)
