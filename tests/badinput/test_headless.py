"""A representative subset of the barrage through real qgis_process (exit status, message,
inputs byte-identical, nothing left), and what a SIGTERM leaves: a visible partial file that the
next run to the same destination removes."""

import os
import signal
import subprocess
import time

import numpy as np
import pytest

from badinput_data import GEOTRANSFORM, model, pan_ms, raster
from helpers import QGIS_PROCESS, qgis_process, snapshot, write_geotiff


@pytest.fixture
def headless(tmp_path):
    """``headless(tool, *KEY=value)`` -> (exit status, output), with an isolated profile."""
    env = {"QGIS_CUSTOM_CONFIG_PATH": str(tmp_path / "profile"),
           "RSAI_CACHE_DIR": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1"}

    def run(tool, *pairs):
        result = qgis_process("run", f"rsai:{tool}", "--", *pairs, env=env, check=False,
                              timeout=300)
        return result.returncode, result.stdout + result.stderr

    return run


def refused_headless(headless, work, tool, pairs, *patterns):
    before = snapshot(work)
    code, output = headless(tool, *pairs)
    assert code != 0, output
    for pattern in patterns:
        assert pattern.lower() in output.lower(), output
    assert "Traceback" not in output, output
    assert snapshot(work) == before


def test_headless_output_is_the_input(headless, work):
    image, onnx = raster(work / "in.tif"), model(work / "m.onnx")
    refused_headless(headless, work, "run_model",
                     [f"INPUT={image}", f"MODEL={onnx}", "DEVICE=1", f"OUTPUT={image}"],
                     "same file as an input, INPUT", "choose another file")


def test_headless_two_outputs_one_file(headless, work):
    image, onnx = raster(work / "in.tif"), model(work / "m.onnx")
    refused_headless(headless, work, "run_model",
                     [f"INPUT={image}", f"MODEL={onnx}", "DEVICE=1",
                      f"OUTPUT={work / 'out.tif'}", f"OUTPUT_PROBABILITIES={work / 'out.tif'}"],
                     "two outputs are the same file", "its own file name")


def test_headless_jpg_output(headless, work):
    image, onnx = raster(work / "in.tif"), model(work / "m.onnx")
    refused_headless(headless, work, "run_model",
                     [f"INPUT={image}", f"MODEL={onnx}", "DEVICE=1",
                      f"OUTPUT={work / 'classes.jpg'}"], "ends in .jpg", "extension to .tif")


def test_headless_pansharpen_over_the_ms(headless, work):
    pan, ms = pan_ms(work)
    refused_headless(headless, work, "pansharpen",
                     [f"PAN={pan}", f"MS={ms}", "METHOD=0", f"OUTPUT={ms}"],
                     "same file as an input, MS")


def test_headless_install_with_a_pip_option(headless, work, tmp_path):
    refused_headless(headless, work, "install_dependencies",
                     ["TARGET=0", f"PACKAGES=--target {tmp_path / 'elsewhere'} numpy",
                      f"FOLDER={work / 'deps'}", "NO_INDEX=true"], "is a pip option")
    assert not (tmp_path / "elsewhere").exists()


def test_sigterm_leaves_a_visible_partial_that_the_next_run_removes(headless, work, tmp_path):
    rng = np.random.default_rng(0)
    image = write_geotiff(work / "big.tif", rng.integers(0, 3000, (3, 1500, 1500)).astype(
        np.uint16), GEOTRANSFORM)
    onnx = model(work / "m.onnx")
    output = work / "classes.tif"
    pairs = [f"INPUT={image}", f"MODEL={onnx}", "DEVICE=1", "TILE_SIZE=32", "OVERLAP=0",
             f"OUTPUT={output}"]
    env = {**os.environ, "QGIS_CUSTOM_CONFIG_PATH": str(tmp_path / "profile"),
           "RSAI_CACHE_DIR": str(tmp_path / "cache")}
    process = subprocess.Popen([str(QGIS_PROCESS), "run", "rsai:run_model", "--", *pairs],
                               env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not list(work.glob("classes.tif.*.partial*")) and time.time() < deadline:
        if process.poll() is not None:
            pytest.skip("the run ended before it could be terminated (machine too fast)")
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=60)
    leftovers = list(work.glob("classes.tif.*.partial*"))
    assert leftovers and not output.exists()
    assert not any(p.name.startswith(".") for p in work.iterdir())  # visible, not hidden
    code, log = headless("run_model", *[p.replace("TILE_SIZE=32", "TILE_SIZE=512")
                                        for p in pairs])
    assert code == 0, log
    assert output.is_file() and not list(work.glob("*partial*"))
