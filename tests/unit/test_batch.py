"""The batch runner (models/batch) on a real LocalCluster of 2 worker processes: six small
rasters through rsai:run_model (a real ONNX model) and rsai:farmland_segmentation (an FTW U-Net
with seeded weights), compared with the same core entries run one by one; a worker killed by
PID mid-write; a killed client, then the same command again; a tampered output; STAC; bad input;
and two or three small scenes through each other tool with a core entry, against the same loop.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal

from rsai_toolbox.models.batch import BatchSpec, run_batch
from rsai_toolbox.models.batch.manifest import MANIFEST_NAME
from rsai_toolbox.models.errors import UserError
from rsai_toolbox.models.hub import WeightsStore, sha256_file
from rsai_toolbox.models.tools import (FARMLAND_SEGMENTATION, RUN_MODEL, ToolEnvironment,
                                       find_tool)

from helpers import REPO, conv_onnx, write_geotiff

distributed = pytest.importorskip("distributed")
pytestmark = pytest.mark.slow  # a few cluster starts: ~1 min on 2 cores; part of `make test`

SCENES = 6


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("batch")
    conv_onnx(root / "model.onnx", 3, 4, seed=3)
    rng = np.random.default_rng(0)
    tiles = root / "tiles"
    tiles.mkdir()
    for i in range(SCENES):
        write_geotiff(tiles / f"scene{i}.tif", rng.random((3, 48, 56)).astype(np.float32))
    return root


def scene_records(folder: Path) -> list[dict]:
    lines = (folder / MANIFEST_NAME).read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["record"] == "scene"]


def read(path) -> np.ndarray:
    return gdal.Open(str(path)).ReadAsArray()


def sequential(tool, parameters: dict, scenes: list[Path], folder: Path, outputs=("OUTPUT",),
               scene_parameter: str = "INPUT") -> dict:
    """The plain loop a batch replaces: the same core entry, one scene after the other."""
    environment = ToolEnvironment(WeightsStore(folder / "cache"))
    expected = {}
    for scene in scenes:
        paths = {name: str(folder / f"{scene.stem}_{name}.tif") for name in outputs}
        tool.run({**parameters, scene_parameter: str(scene), **paths}, environment)
        expected[scene.stem] = {name: read(path) for name, path in paths.items()}
    return expected


def spec(data: Path, out: Path, **kwargs) -> BatchSpec:
    values = dict(tool="rsai:run_model", parameters={"MODEL": str(data / "model.onnx"),
                                                     "DEVICE": "cpu"},
                  scenes=str(data / "tiles" / "*.tif"), output_folder=str(out),
                  cache_dir=str(data / "cache"), workers=2)
    values.update(kwargs)
    return BatchSpec(**values)


def assert_equal_outputs(out: Path, expected: dict, outputs=("OUTPUT",)) -> None:
    for scene, arrays in expected.items():
        for name in outputs:
            got = read(out / f"{scene}_{name}.tif")
            if got.dtype.kind == "f":
                np.testing.assert_allclose(got, arrays[name], atol=1e-5)
            else:
                np.testing.assert_array_equal(got, arrays[name])
    assert not list(out.glob("*partial*")), "a temporary file was left"


@pytest.fixture(scope="module")
def expected_run_model(data):
    scenes = sorted((data / "tiles").glob("*.tif"))
    return sequential(RUN_MODEL, {"MODEL": str(data / "model.onnx"), "DEVICE": 1}, scenes,
                      data / "sequential", ("OUTPUT", "OUTPUT_PROBABILITIES"))


def test_six_scenes_through_run_model_equal_the_sequential_loop(client, data, expected_run_model,
                                                                tmp_path):
    out = tmp_path / "out"
    summary = run_batch(spec(data, out, parameters={"MODEL": str(data / "model.onnx"),
                                                    "DEVICE": "cpu",
                                                    "OUTPUT_PROBABILITIES": True}), client=client)
    assert (summary.done, summary.skipped, summary.failed) == (SCENES, 0, 0)
    assert_equal_outputs(out, expected_run_model, ("OUTPUT", "OUTPUT_PROBABILITIES"))
    records = scene_records(out)
    assert sorted(r["scene"] for r in records) == [f"scene{i}" for i in range(SCENES)]
    for record in records:
        assert record["status"] == "done" and record["tool"] == "rsai:run_model"
        assert record["weights_sha256"] == sha256_file(data / "model.onnx")
        assert record["card"] == "model" and record["parameters"]["DEVICE"] == "cpu"
        assert set(record["versions"]) == {"plugin", "onnxruntime", "torch", "gdal"}
        assert record["versions"]["plugin"] == "0.1.0" and record["versions"]["gdal"]
        assert record["worker"].startswith("tcp://") and record["end"] >= record["start"]
        assert record["qgis_in_worker"] is False
        for name, output in record["outputs"].items():
            assert output["path"] == f"{record['scene']}_{name}.tif"
            assert output["sha256"] == sha256_file(out / output["path"])
    assert len({r["worker"] for r in records}) == 2  # both workers took scenes


def test_six_scenes_through_farmland_segmentation_equal_the_sequential_loop(client, tmp_path):
    torch = pytest.importorskip("torch")
    from helpers_farmland import ftw_model

    weights = tmp_path / "ftw.pth"
    torch.save(ftw_model(3, seed=1).state_dict(), weights)
    rng = np.random.default_rng(1)
    tiles = tmp_path / "stacks"
    tiles.mkdir()
    for i in range(SCENES):
        write_geotiff(tiles / f"field{i}.tif", rng.integers(0, 3000, (8, 64, 64), dtype=np.uint16))
    parameters = {"MODEL": "ftw-3class", "WEIGHTS": str(weights), "DEVICE": "cpu",
                  "TILE_SIZE": 64, "OVERLAP": 0}
    expected = sequential(FARMLAND_SEGMENTATION, parameters, sorted(tiles.glob("*.tif")),
                          tmp_path / "sequential", ("OUTPUT", "OUTPUT_PROBABILITIES"))
    out = tmp_path / "out"
    summary = run_batch(BatchSpec("rsai:farmland_segmentation",
                                  {**parameters, "OUTPUT_PROBABILITIES": True},
                                  str(tiles / "*.tif"), str(out), str(tmp_path / "cache")),
                        client=client)
    assert (summary.done, summary.failed) == (SCENES, 0)
    assert_equal_outputs(out, expected, ("OUTPUT", "OUTPUT_PROBABILITIES"))
    records = scene_records(out)
    assert len(records) == SCENES
    assert {r["card"] for r in records} == {"ftw-3class"}
    assert {r["weights_sha256"] for r in records} == {sha256_file(weights)}


def test_a_worker_killed_mid_write_is_retried_and_leaves_nothing_partial(client, data,
                                                                         tmp_path):
    big = tmp_path / "big"
    big.mkdir()
    rng = np.random.default_rng(5)
    for i in range(4):
        write_geotiff(big / f"big{i}.tif", rng.random((3, 700, 700)).astype(np.float32))
    expected = sequential(RUN_MODEL, {"MODEL": str(data / "model.onnx"), "DEVICE": "cpu",
                                      "TILE_SIZE": 64, "OVERLAP": 8},
                          sorted(big.glob("*.tif")), tmp_path / "sequential")
    out = tmp_path / "out"
    pids = client.run(os.getpid)
    outcome = {}
    batch = threading.Thread(target=lambda: outcome.update(summary=run_batch(
        spec(data, out, scenes=str(big / "*.tif"),
             parameters={"MODEL": str(data / "model.onnx"), "DEVICE": "cpu", "TILE_SIZE": 64,
                         "OVERLAP": 8}), client=client)))
    batch.start()
    killed = None
    deadline = time.time() + 60
    while killed is None and time.time() < deadline:
        partial = list(out.glob("*.partial.tif")) if out.is_dir() else []
        if partial:  # a scene is being written: kill the worker writing it
            scene = partial[0].name.split("_OUTPUT")[0]
            for address, keys in client.processing().items():
                if any(f"-{scene}-" in str(key) for key in keys) and address in pids:
                    os.kill(pids[address], signal.SIGKILL)
                    killed = (scene, address)
                    break
        time.sleep(0.005)
    batch.join(120)
    assert killed is not None, "no scene was caught mid-write"
    summary = outcome["summary"]
    assert (summary.done, summary.failed) == (4, 0)
    assert_equal_outputs(out, expected)
    record = [r for r in scene_records(out) if r["scene"] == killed[0]][-1]
    assert record["status"] == "done" and record["worker"] != killed[1]  # retried elsewhere
    client.wait_for_workers(2, timeout=60)  # the nanny restarts the killed worker


def cli(*arguments: str, **popen) -> subprocess.Popen:
    return subprocess.Popen([str(REPO / "scripts" / "rsai-batch"), *arguments, "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def test_a_killed_client_then_the_same_command_skips_finished_scenes(data, tmp_path):
    slow = tmp_path / "slow"
    slow.mkdir()
    rng = np.random.default_rng(7)
    for i in range(SCENES):
        write_geotiff(slow / f"slow{i}.tif", rng.random((3, 600, 600)).astype(np.float32))
    out = tmp_path / "out"
    command = ("--tool", "rsai:run_model", "--parameters",
               json.dumps({"MODEL": str(data / "model.onnx"), "DEVICE": "cpu", "TILE_SIZE": 64,
                           "OVERLAP": 8}),
               "--scenes", str(slow / "*.tif"), "--output-folder", str(out), "--workers", "1",
               "--cache-dir", str(tmp_path / "cache"))
    first = cli(*command, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        done = [r for r in scene_records(out) if r["status"] == "done"] \
            if (out / MANIFEST_NAME).is_file() else []
        if len(done) >= 2 or first.poll() is not None:
            break
        time.sleep(0.02)
    os.killpg(first.pid, signal.SIGKILL)  # the client and its local workers
    first.wait(30)
    finished = {r["scene"]: (out / r["outputs"]["OUTPUT"]["path"]).stat().st_mtime_ns
                for r in scene_records(out) if r["status"] == "done"}
    assert 2 <= len(finished) < SCENES, "the first run was not interrupted mid-way"

    second = cli(*command)
    stdout, stderr = second.communicate(timeout=180)
    assert second.returncode == 0, stderr
    counts = json.loads(stdout.strip().splitlines()[-1])
    assert counts["SKIPPED"] == len(finished) and counts["DONE"] == SCENES - len(finished)
    records = scene_records(out)
    for scene, mtime in finished.items():  # no second model call for a finished scene
        assert [r["status"] for r in records if r["scene"] == scene] == ["done"]
        assert (out / f"{scene}_OUTPUT.tif").stat().st_mtime_ns == mtime
    assert {r["scene"] for r in records if r["status"] == "done"} == \
        {f"slow{i}" for i in range(SCENES)}
    assert not list(out.glob("*partial*"))
    assert "Dask dashboard: http" in stderr


def test_a_tampered_output_is_detected_and_recomputed(client, data, expected_run_model,
                                                      tmp_path):
    out = tmp_path / "out"
    run_batch(spec(data, out), client=client)
    target = out / "scene2_OUTPUT.tif"
    ds = gdal.Open(str(target), gdal.GA_Update)
    ds.GetRasterBand(1).WriteArray(np.zeros((48, 56), np.uint8))
    ds = None
    summary = run_batch(spec(data, out), client=client)
    assert (summary.done, summary.skipped, summary.failed) == (1, SCENES - 1, 0)
    assert_equal_outputs(out, {k: {"OUTPUT": v["OUTPUT"]} for k, v in expected_run_model.items()})
    assert [r["scene"] for r in scene_records(out)][SCENES:] == ["scene2"]


def test_stac_item_collection_with_local_hrefs_and_one_unreachable(client, data, tmp_path,
                                                                  expected_run_model):
    items = [{"type": "Feature", "id": f"item{i}",
              "assets": {"image": {"href": f"tiles/scene{i}.tif"},
                         "thumbnail": {"href": "thumb.png"}}} for i in range(3)]
    items.append({"type": "Feature", "id": "far",
                  "assets": {"image": {"href": "http://127.0.0.1:9/missing.tif"}}})
    stac = data / "items.json"
    stac.write_text(json.dumps({"type": "FeatureCollection", "features": items}))
    out = tmp_path / "out"
    summary = run_batch(spec(data, out, scenes=str(stac), asset="image"), client=client)
    assert (summary.done, summary.failed) == (3, 1)
    assert "far" in summary.errors and "/vsicurl/http://127.0.0.1:9/missing.tif" in \
        summary.errors["far"] and "cannot open" in summary.errors["far"]
    for i in range(3):
        np.testing.assert_array_equal(read(out / f"item{i}_OUTPUT.tif"),
                                      read(data / "sequential" / f"scene{i}_OUTPUT.tif"))
    with pytest.raises(UserError, match="set ASSET"):
        run_batch(spec(data, tmp_path / "other", scenes=str(stac)), client=client)


def test_a_scene_that_is_not_a_raster_fails_alone(client, data, tmp_path):
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for i in range(2):
        (mixed / f"scene{i}.tif").write_bytes((data / "tiles" / f"scene{i}.tif").read_bytes())
    (mixed / "notes.tif").write_text("not a raster")
    out = tmp_path / "out"
    summary = run_batch(spec(data, out, scenes=str(mixed / "*.tif")), client=client)
    assert (summary.done, summary.failed) == (2, 1)
    assert "notes" in summary.errors["notes"] and "cannot open" in summary.errors["notes"]
    failed = [r for r in scene_records(out) if r["scene"] == "notes"]
    assert len(failed) == 1 and failed[0]["status"] == "failed"  # clear errors are not retried
    assert not (out / "notes_OUTPUT.tif").exists()


@pytest.mark.parametrize("change, message", [
    ({"tool": "rsai:no_such_tool"}, "unknown tool 'rsai:no_such_tool'"),
    ({"parameters": {"MODEL": "m.onnx", "DEVCE": 1}}, "has no parameter DEVCE"),
    ({"parameters": {"MODEL": "m.onnx", "DEVICE": 7}}, "DEVICE is 7"),
    ({"scenes": "/nonexistent/folder/*.tif"}, "matches no file"),
    ({"scene_parameter": "MODEL"}, "SCENE_PARAMETER 'MODEL' is not a raster parameter"),
])
def test_bad_input_is_refused_before_anything_runs(data, tmp_path, change, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(")):
        run_batch(spec(data, tmp_path / "out", **change))
    assert not (tmp_path / "out" / MANIFEST_NAME).exists()


def test_another_runs_manifest_is_refused_unless_accepted(client, data, tmp_path):
    out = tmp_path / "out"
    run_batch(spec(data, out), client=client)
    other = {"MODEL": str(data / "model.onnx"), "DEVICE": "cpu", "TILE_SIZE": 32}
    with pytest.raises(UserError, match="manifest of another run"):
        run_batch(spec(data, out, parameters=other), client=client)
    summary = run_batch(spec(data, out, parameters=other, accept_other_parameters=True),
                        client=client)
    assert summary.done + summary.skipped == SCENES


def test_a_scheduler_that_does_not_answer_fails_within_the_timeout(data, tmp_path):
    started = time.time()
    with pytest.raises(UserError, match="no Dask scheduler answered at tcp://127.0.0.1:9"):
        run_batch(spec(data, tmp_path / "out", scheduler="tcp://127.0.0.1:9",
                       scheduler_timeout_s=2))
    print(f"refused after {time.time() - started:.1f} s")


def test_core_tools_take_enum_indices_or_names_and_check_names():
    tool = find_tool("run_model")
    assert tool.values({"INPUT": "a.tif", "MODEL": "m", "DEVICE": 1, "OUTPUT": "o.tif"})[
        "DEVICE"] == "cpu"
    assert tool.values({"INPUT": "a.tif", "MODEL": "m", "DEVICE": "CUDA", "OUTPUT": "o.tif",
                        "BANDS": "3,2,1"})["BANDS"] == [3, 2, 1]
    with pytest.raises(UserError, match="needs MODEL"):
        tool.values({"INPUT": "a.tif", "OUTPUT": "o.tif"})


def test_python_dash_m_runs_the_same_cli(data, tmp_path):
    result = subprocess.run([sys.executable, "-m", "models.batch", "--help"], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "--scene-parameter" in result.stdout


def test_a_running_scheduler_given_by_address(client, data, tmp_path):
    """SCHEDULER = the address of a running scheduler (here the test cluster's): the batch
    connects as a client of it instead of starting a LocalCluster."""
    summary = run_batch(spec(data, tmp_path / "out", scheduler=client.scheduler.address))
    assert (summary.done, summary.failed) == (SCENES, 0)
    workers = {r["worker"] for r in scene_records(tmp_path / "out")}
    assert workers <= set(client.scheduler_info()["workers"])


def test_one_large_raster_in_row_bands_equals_one_run(client, data, tmp_path):
    """Row bands on several workers, each reading the halo (the tile overlap) past its rows,
    joined as a VRT and a merged GeoTIFF: equal to one run of the whole raster."""
    write_geotiff(tmp_path / "large.tif",
                  np.random.default_rng(9).random((3, 500, 300)).astype(np.float32))
    parameters = {"MODEL": str(data / "model.onnx"), "DEVICE": "cpu", "TILE_SIZE": 64,
                  "OVERLAP": 8}
    whole = sequential(RUN_MODEL, parameters, [tmp_path / "large.tif"], tmp_path / "whole",
                       ("OUTPUT", "OUTPUT_PROBABILITIES"))["large"]
    out = tmp_path / "out"
    banded = spec(data, out, scenes=str(tmp_path / "large.tif"), band_rows=120,
                  merge_bands=True, parameters={**parameters, "OUTPUT_PROBABILITIES": True})
    summary = run_batch(banded, client=client)
    assert (summary.done, summary.failed) == (1, 0)
    records = scene_records(out)
    assert sorted(r["scene"] for r in records[:-1]) == [f"large.band{i:03d}" for i in range(5)]
    assert records[-1]["scene"] == "large" and records[-1]["bands"] == 5
    assert len({r["worker"] for r in records[:-1]}) == 2  # the bands ran on both workers
    geotransform = gdal.Open(str(tmp_path / "large.tif")).GetGeoTransform()
    for suffix in (".vrt", ".tif"):
        joined = gdal.Open(str(out / f"large_OUTPUT{suffix}"))
        classes, joined_geotransform = joined.ReadAsArray(), joined.GetGeoTransform()
        joined = None
        np.testing.assert_array_equal(classes, whole["OUTPUT"])
        assert joined_geotransform == geotransform
        np.testing.assert_allclose(read(out / f"large_OUTPUT_PROBABILITIES{suffix}"),
                                   whole["OUTPUT_PROBABILITIES"], atol=1e-6)
    joined = records[-1]
    assert joined["outputs"]["OUTPUT_MERGED"]["sha256"] == sha256_file(out / "large_OUTPUT.tif")
    again = run_batch(banded, client=client)
    assert (again.done, again.skipped) == (0, 1)


# More tools through their core entries (models/tools.py): a few small scenes each, equal to
# the same entry called one scene after the other.
def test_pansharpen_scenes_as_pan_with_one_ms_equal_the_sequential_loop(client, tmp_path):
    from helpers_pansharpening import geotransform

    rng = np.random.default_rng(11)
    ms = write_geotiff(tmp_path / "ms.tif", rng.integers(100, 1500, (4, 16, 16), np.uint16),
                       geotransform(2.0))
    pans = tmp_path / "pans"
    pans.mkdir()
    for i in range(3):
        write_geotiff(pans / f"pan{i}.tif", rng.integers(100, 2000, (64, 64), np.uint16),
                      geotransform(0.5))
    parameters = {"MS": str(ms), "METHOD": "gsa", "SENSOR": 4}  # by name and by index
    expected = sequential(find_tool("pansharpen"), parameters, sorted(pans.glob("*.tif")),
                          tmp_path / "sequential", scene_parameter="PAN")
    out = tmp_path / "out"
    summary = run_batch(BatchSpec("rsai:pansharpen", {**parameters, "METHOD": 1},
                                  str(pans / "*.tif"), str(out), str(tmp_path / "cache"),
                                  scene_parameter="PAN"), client=client)
    assert (summary.done, summary.failed) == (3, 0), summary.errors
    assert_equal_outputs(out, expected)
    assert read(out / "pan0_OUTPUT.tif").shape == (4, 64, 64)
    assert {r["card"] if "card" in r else None for r in scene_records(out)} == {None}


def test_fusion_landcover_aerial_scenes_with_one_satellite_equal_the_sequential_loop(client,
                                                                                      tmp_path):
    from helpers import two_input_onnx
    from helpers_pansharpening import geotransform

    two_input_onnx(tmp_path / "fusion.onnx", 3, 4, 4, 5, seed=4)
    card = {"id": "fusion-batch", "title": "Fusion test model", "task": "segmentation",
            "format": "onnx", "local_weights": "fusion.onnx", "licence": "CC0-1.0",
            "citation": "none",
            "inputs": [{"name": "aerial", "bands": ["R", "G", "B"], "scale": 255,
                        "resolution_m": 0.5},
                       {"name": "satellite", "bands": ["B02", "B03", "B04", "B08"], "ratio": 4,
                        "scale": 0.1, "pad": "edge"}],
            "tiling": {"tile_size": 32, "overlap": 8},
            "outputs": {"classes": [{"value": v, "name": f"class {v}"} for v in range(5)]}}
    (tmp_path / "fusion.json").write_text(json.dumps(card))
    rng = np.random.default_rng(12)
    satellite = write_geotiff(tmp_path / "s2.tif", rng.random((4, 16, 16)).astype(np.float32),
                              geotransform(2.0))
    aerials = tmp_path / "aerial"
    aerials.mkdir()
    for i in range(3):
        write_geotiff(aerials / f"sheet{i}.tif", rng.integers(0, 255, (3, 64, 64), np.uint8),
                      geotransform(0.5))
    parameters = {"MODEL": str(tmp_path / "fusion.json"), "SATELLITE": str(satellite),
                  "DEVICE": "cpu"}
    expected = sequential(find_tool("fusion_landcover"), parameters,
                          sorted(aerials.glob("*.tif")), tmp_path / "sequential",
                          ("OUTPUT", "OUTPUT_PROBABILITIES"), scene_parameter="AERIAL")
    out = tmp_path / "out"
    summary = run_batch(BatchSpec("rsai:fusion_landcover",
                                  {**parameters, "OUTPUT_PROBABILITIES": True},
                                  str(aerials / "*.tif"), str(out), str(tmp_path / "cache"),
                                  scene_parameter="AERIAL"), client=client)
    assert (summary.done, summary.failed) == (3, 0), summary.errors
    assert_equal_outputs(out, expected, ("OUTPUT", "OUTPUT_PROBABILITIES"))
    assert {r["card"] for r in scene_records(out)} == {"fusion-batch"}


def test_sea_ice_types_scenes_equal_the_sequential_loop(client, shared_data, tmp_path):
    pytest.importorskip("torch")
    from osgeo import ogr
    from helpers_seaice import NERSC_WEIGHTS, sar_scene, scaled_nersc_card, write_sar_geotiff

    card = scaled_nersc_card(tmp_path / "card.json", shared_data / NERSC_WEIGHTS)
    passes = tmp_path / "s1"
    passes.mkdir()
    for i in range(3):
        write_sar_geotiff(passes / f"pass{i}.tif", sar_scene(100, 120, seed=i))
    parameters = {"MODEL": str(card), "DEVICE": "cpu", "STRIDE": 25, "UNITS": "linear"}
    expected = sequential(find_tool("sea_ice_types"), parameters, sorted(passes.glob("*.tif")),
                          tmp_path / "sequential", ("OUTPUT", "OUTPUT_PROBABILITIES"))
    out = tmp_path / "out"
    summary = run_batch(BatchSpec("rsai:sea_ice_types",
                                  {**parameters, "UNITS": 1, "OUTPUT_PROBABILITIES": True,
                                   "OUTPUT_POLYGONS": True},
                                  str(passes / "*.tif"), str(out), str(tmp_path / "cache")),
                        client=client)
    assert (summary.done, summary.failed) == (3, 0), summary.errors
    assert_equal_outputs(out, expected, ("OUTPUT", "OUTPUT_PROBABILITIES"))
    for i in range(3):
        polygons = ogr.Open(str(out / f"pass{i}_OUTPUT_POLYGONS.gpkg"))
        assert polygons.GetLayer(0).GetFeatureCount() > 0
    assert {r["card"] for r in scene_records(out)} == {"nersc-scaled-test"}


def test_soil_predict_maps_of_several_images_equal_the_sequential_loop(client, tmp_path):
    from osgeo import ogr, osr
    from rsai_toolbox.models.soil.regressors import LearnerOptions
    from rsai_toolbox.models.soil.train import CrossValidation
    from rsai_toolbox.models.soil.train_files import train_from_files

    names = ("B02", "B03", "B04", "B08")
    geotransform = (500000.0, 10.0, 0.0, 5800000.0, 0.0, -10.0)
    rng = np.random.default_rng(13)
    images = tmp_path / "s2"
    images.mkdir()
    for i in range(3):
        write_geotiff(images / f"field{i}.tif", rng.integers(500, 4000, (4, 40, 50), np.uint16),
                      geotransform, 32633, nodata=0, descriptions=names)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    points = ogr.GetDriverByName("GPKG").CreateDataSource(str(tmp_path / "samples.gpkg"))
    layer = points.CreateLayer("samples", srs=srs, geom_type=ogr.wkbPoint)
    layer.CreateField(ogr.FieldDefn("pH", ogr.OFTReal))
    for cell in rng.choice(40 * 50, 60, replace=False):
        row, col = divmod(int(cell), 50)
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetGeometry(ogr.CreateGeometryFromWkt(
            f"POINT ({500000 + (col + 0.5) * 10} {5800000 - (row + 0.5) * 10})"))
        feature.SetField("pH", float(rng.normal(6, 0.5)))
        layer.CreateFeature(feature)
    layer = points = None
    model = train_from_files(tmp_path / "samples.gpkg", ["pH"], images / "field0.tif",
                             tmp_path / "soil.onnx", units=["pH"],
                             cv=CrossValidation("random", folds=2),
                             options=LearnerOptions(trees=10)).model
    parameters = {"MODEL": str(model), "DEVICE": "cpu", "TILE_SIZE": 32}
    expected = sequential(find_tool("soil_predict"), parameters, sorted(images.glob("*.tif")),
                          tmp_path / "sequential", ("OUTPUT", "OUTPUT_EXTRAPOLATION"))
    out = tmp_path / "out"
    summary = run_batch(BatchSpec("rsai:soil_predict",
                                  {**parameters, "OUTPUT": True, "OUTPUT_EXTRAPOLATION": True},
                                  str(images / "*.tif"), str(out), str(tmp_path / "cache")),
                        client=client)
    assert (summary.done, summary.failed) == (3, 0), summary.errors
    assert_equal_outputs(out, expected, ("OUTPUT", "OUTPUT_EXTRAPOLATION"))
    assert {r["weights_sha256"] for r in scene_records(out)} == {sha256_file(model)}


def test_bayes_landcover_classify_scenes_equal_the_sequential_loop(client, tmp_path):
    from rsai_toolbox.models.landcover_bayes import fit

    rng = np.random.default_rng(14)
    centres = np.array([[0.1, 0.2, 0.3], [0.5, 0.4, 0.2], [0.3, 0.6, 0.7]])
    labels = np.repeat([1, 2, 3], 40)
    values = centres[labels - 1] + rng.normal(0, 0.05, (len(labels), 3))
    model = fit(values, labels, class_names=["water", "crop", "forest"]).save(
        tmp_path / "bayes.json")
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    for i in range(3):
        write_geotiff(scenes / f"plot{i}.tif", rng.random((3, 30, 40)).astype(np.float32))
    parameters = {"MODEL": str(model), "UNCERTAINTY_SIGMA": "5%"}
    outputs = ("OUTPUT", "OUTPUT_PROBABILITIES", "OUTPUT_UNCERTAINTY")
    expected = sequential(find_tool("bayes_landcover_classify"), parameters,
                          sorted(scenes.glob("*.tif")), tmp_path / "sequential", outputs)
    out = tmp_path / "out"
    summary = run_batch(BatchSpec("rsai:bayes_landcover_classify",
                                  {**parameters, "OUTPUT_PROBABILITIES": True,
                                   "OUTPUT_UNCERTAINTY": True},
                                  str(scenes / "*.tif"), str(out), str(tmp_path / "cache")),
                        client=client)
    assert (summary.done, summary.failed) == (3, 0), summary.errors
    assert_equal_outputs(out, expected, outputs)
    assert len(np.unique(read(out / "plot0_OUTPUT.tif"))) > 1


def test_farmland_prompt_mask_scenes_equal_the_sequential_loop(client, tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("tokenizers")
    from helpers_farmland import clipseg_assets

    _, tokenizer, onnx = clipseg_assets(tmp_path / "clipseg")
    rng = np.random.default_rng(15)
    scenes = tmp_path / "rgb"
    scenes.mkdir()
    for i in range(2):
        write_geotiff(scenes / f"ortho{i}.tif", rng.integers(0, 255, (3, 60, 70), np.uint8))
    parameters = {"MODEL": str(onnx), "TOKENIZER": str(tokenizer), "PROMPT": "farmland",
                  "THRESHOLD": "0.5"}
    expected = sequential(find_tool("farmland_prompt_mask"), parameters,
                          sorted(scenes.glob("*.tif")), tmp_path / "sequential",
                          ("OUTPUT", "OUTPUT_PROBABILITIES"))
    out = tmp_path / "out"
    summary = run_batch(BatchSpec("rsai:farmland_prompt_mask",
                                  {**parameters, "OUTPUT_PROBABILITIES": True},
                                  str(scenes / "*.tif"), str(out), str(tmp_path / "cache")),
                        client=client)
    assert (summary.done, summary.failed) == (2, 0), summary.errors
    assert_equal_outputs(out, expected, ("OUTPUT", "OUTPUT_PROBABILITIES"))
    with pytest.raises(UserError, match="THRESHOLD must be a number"):
        find_tool("farmland_prompt_mask").values({**parameters, "THRESHOLD": "half",
                                                  "INPUT": "a.tif", "OUTPUT": "o.tif"})


def test_the_added_core_tools_take_option_names_or_indices_and_name_bad_parameters():
    from rsai_toolbox.models.tools import layer_source, split_layer

    pansharpen = find_tool("rsai:pansharpen")
    given = {"PAN": "p.tif", "MS": "m.tif", "OUTPUT": "o.tif"}
    assert pansharpen.values({**given, "METHOD": 5})["METHOD"] == "adwm-fusionnet"
    assert pansharpen.values({**given, "SENSOR": "wv2", "OUTPUT_TYPE": 1})["SENSOR"] == "WV2"
    assert pansharpen.values(given)["METHOD"] == "gsa"  # the dialog's default
    with pytest.raises(UserError, match="needs MS"):
        pansharpen.values({"PAN": "p.tif", "OUTPUT": "o.tif"})
    with pytest.raises(UserError, match="METHOD is 'sharp'.*0 \\(brovey\\)"):
        pansharpen.values({**given, "METHOD": "sharp"})
    ice = find_tool("sea_ice_types")
    assert ice.values({"INPUT": "s1.tif", "OUTPUT": "o.tif", "UNITS": "DB"})["UNITS"] == "db"
    assert ice.values({"INPUT": "s1.tif", "OUTPUT": "o.tif"})["MODEL"] == "nersc-s1-icetype"
    with pytest.raises(UserError, match="has no parameter LANDMASK"):
        ice.values({"INPUT": "s1.tif", "OUTPUT": "o.tif", "LANDMASK": "coast.gpkg"})
    with pytest.raises(UserError, match="needs MODEL"):
        find_tool("soil_predict").values({"INPUT": "s2.tif"})
    for path, layer in (("coast.gpkg", "land"), ("coast.shp", None), ("a.gpkg", 2)):
        assert split_layer(layer_source(path, layer)) == (path, layer)
    with pytest.raises(UserError, match="layername=NAME"):
        split_layer("coast.gpkg|subset=x")
