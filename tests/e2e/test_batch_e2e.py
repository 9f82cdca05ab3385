"""rsai:batch_run through real qgis_process: a LocalCluster started from inside QGIS runs the
core on worker processes without QGIS; outputs equal the core's own run, the counts come back
as numbers, and the same command again skips everything."""

import json
import re

import numpy as np
import pytest
from osgeo import gdal

from rsai_toolbox.models.hub import WeightsStore
from rsai_toolbox.models.tools import RUN_MODEL, ToolEnvironment

from helpers import conv_onnx, qgis_process, write_geotiff

pytest.importorskip("distributed")


def results(output: str) -> dict:
    return dict(re.findall(r"^(DONE|SKIPPED|FAILED|OUTPUT_MANIFEST):\s+(\S+)$", output, re.M))


def test_batch_run_in_qgis_process_then_again(tmp_path):
    conv_onnx(tmp_path / "model.onnx", 3, 4, seed=2)
    rng = np.random.default_rng(3)
    (tmp_path / "tiles").mkdir()
    for i in range(3):
        write_geotiff(tmp_path / "tiles" / f"tile{i}.tif", rng.random((3, 40, 44)).astype(np.float32))
    env = {"QGIS_CUSTOM_CONFIG_PATH": str(tmp_path / "qgis"),
           "RSAI_CACHE_DIR": str(tmp_path / "cache")}
    out = tmp_path / "out"
    arguments = ["run", "rsai:batch_run", "--", "TOOL=rsai:run_model",
                 "PARAMETERS=" + json.dumps({"MODEL": str(tmp_path / "model.onnx"), "DEVICE": 1,
                                             "OUTPUT_PROBABILITIES": True}),
                 f"SCENES={tmp_path / 'tiles' / '*.tif'}", f"OUTPUT_FOLDER={out}", "WORKERS=2"]
    first = qgis_process(*arguments, env=env)
    log = first.stdout + first.stderr
    assert results(first.stdout) == {"DONE": "3", "SKIPPED": "0", "FAILED": "0",
                                     "OUTPUT_MANIFEST": str(out / "rsai_batch_manifest.jsonl")}
    assert "Dask dashboard: http" in log

    environment = ToolEnvironment(WeightsStore(tmp_path / "cache"))
    for i in range(3):
        expected = {"OUTPUT": str(tmp_path / f"e{i}.tif"),
                    "OUTPUT_PROBABILITIES": str(tmp_path / f"e{i}_p.tif")}
        RUN_MODEL.run({"INPUT": str(tmp_path / "tiles" / f"tile{i}.tif"),
                       "MODEL": str(tmp_path / "model.onnx"), "DEVICE": "cpu", **expected},
                      environment)
        for name, path in expected.items():
            got = gdal.Open(str(out / f"tile{i}_{name}.tif"))
            np.testing.assert_allclose(got.ReadAsArray(), gdal.Open(path).ReadAsArray(),
                                       atol=1e-6)
            assert got.GetGeoTransform() == gdal.Open(path).GetGeoTransform()
    records = [json.loads(line) for line in (out / "rsai_batch_manifest.jsonl").read_text()
               .splitlines()]
    scenes = [r for r in records if r["record"] == "scene"]
    assert len(scenes) == 3 and all(r["qgis_in_worker"] is False for r in scenes)

    again = qgis_process(*arguments, env=env)
    assert results(again.stdout)["SKIPPED"] == "3" and results(again.stdout)["DONE"] == "0"

    bad = qgis_process("run", "rsai:batch_run", "--", "TOOL=rsai:run_model",
                       'PARAMETERS={"MODEL": "x.onnx", "BANDZ": 1}',
                       f"SCENES={tmp_path / 'tiles' / '*.tif'}", f"OUTPUT_FOLDER={out}",
                       env=env, check=False)
    assert bad.returncode != 0 and "has no parameter BANDZ" in bad.stdout + bad.stderr
