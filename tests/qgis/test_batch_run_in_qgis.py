"""rsai:batch_run inside QGIS's Processing framework: progress through the feedback, cancel
from the dialog stops the batch (finished scenes stay recorded), and the same run again
completes the rest. Workers are processes of a LocalCluster without QGIS."""

import json

import numpy as np
import pytest
from qgis.core import QgsProcessingContext, QgsProcessingException, QgsProcessingFeedback

from helpers import conv_onnx, write_geotiff

pytest.importorskip("distributed")


class CancelAfterFirstScene(QgsProcessingFeedback):
    def __init__(self):
        super().__init__()
        self.seen = []

    def setProgress(self, progress):
        super().setProgress(progress)
        self.seen.append(progress)
        if progress > 5:  # 0-5 %: preparing; each finished scene adds to the rest
            self.cancel()


def test_cancel_stops_the_batch_and_the_same_run_finishes_it(provider, tmp_path):
    import processing

    conv_onnx(tmp_path / "m.onnx", 3, 2)
    (tmp_path / "tiles").mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        write_geotiff(tmp_path / "tiles" / f"t{i}.tif", rng.random((3, 300, 300)).astype(np.float32))
    parameters = {"TOOL": "rsai:run_model",
                  "PARAMETERS": json.dumps({"MODEL": str(tmp_path / "m.onnx"), "DEVICE": 1,
                                            "TILE_SIZE": 64, "OVERLAP": 8}),
                  "SCENES": str(tmp_path / "tiles" / "*.tif"),
                  "OUTPUT_FOLDER": str(tmp_path / "out"), "WORKERS": 1}
    feedback = CancelAfterFirstScene()
    with pytest.raises(QgsProcessingException, match="Cancelled: the batch was cancelled"):
        processing.run("rsai:batch_run", parameters, context=QgsProcessingContext(),
                       feedback=feedback)
    lines = [json.loads(line) for line in
             (tmp_path / "out" / "rsai_batch_manifest.jsonl").read_text().splitlines()]
    finished = [r["scene"] for r in lines if r["record"] == "scene" and r["status"] == "done"]
    assert 1 <= len(finished) < 8

    results = processing.run("rsai:batch_run", parameters, context=QgsProcessingContext(),
                             feedback=QgsProcessingFeedback())
    assert (results["DONE"], results["SKIPPED"], results["FAILED"]) == \
        (8 - len(finished), len(finished), 0)
    assert results["OUTPUT_MANIFEST"] == str(tmp_path / "out" / "rsai_batch_manifest.jsonl")
    assert len(list((tmp_path / "out").glob("t*_OUTPUT.tif"))) == 8
    assert not list((tmp_path / "out").glob("*partial*"))  # a cancelled write's leftovers too
