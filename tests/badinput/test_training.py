"""Training tools given training data they cannot learn from, or settings that drop a report."""

from badinput_data import polygons, raster


def train(work, training, **changes):
    return {"INPUT": str(raster(work / "image.tif")), "TRAINING": str(training),
            "CLASS_FIELD": "class", "OUTPUT_MODEL": str(work / "model.json"),
            "OUTPUT_REPORT": str(work / "report.html"), **changes}


def test_a_single_class_is_refused(refused, work):
    training = polygons(work / "one.gpkg", classes=(1,), per_class=6)
    refused("bayes_landcover_train", train(work, training), "only one class|1 class",
            "at least two|2 classes|two classes")


def test_more_than_254_text_classes_fail_at_training(refused, work):
    names = tuple(f"c{i}" for i in range(260))
    training = polygons(work / "many.gpkg", classes=names, per_class=1, columns=17,
                        spacing=25.0, side=20.0)
    refused("bayes_landcover_train", train(work, training), "260 classes",
            "254|merge|fewer")


def test_test_fraction_zero_writes_the_report_without_test_scores(succeeds, work):
    training = polygons(work / "t.gpkg")
    results = succeeds("bayes_landcover_train", train(work, training, TEST_FRACTION=0),
                       [training])
    report = (work / "report.html").read_text()
    assert results["OUTPUT_REPORT"] == str(work / "report.html")
    assert "no test" in report.lower() or "not held out" in report.lower()


def test_a_class_field_that_does_not_exist(refused, work):
    training = polygons(work / "t.gpkg")
    refused("bayes_landcover_train", train(work, training, CLASS_FIELD="nope"),
            "nope", "field|choose")


def test_training_polygons_outside_the_raster(refused, work):
    far = polygons(work / "far.gpkg", shift=100000.0)
    refused("bayes_landcover_train", train(work, far), "no .*feature.*overlaps|outside",
            "raster|extent|polygons")
