"""Shared by the desktop tests: the plugin with a desktop (fixture ``desktop``, imported by the
tests that use it), screenshots, a tiny wheel built by hand, Qt waiting."""

from __future__ import annotations

import base64
import hashlib
import time
import zipfile
from pathlib import Path

import pytest
from qgis.PyQt.QtCore import QCoreApplication

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "build" / "screenshots"
SCREEN = (1280, 800)


def screenshot(widget, name: str) -> Path:
    """Grab ``widget`` (kept within 1280 x 800) into build/screenshots/<name>.png."""
    widget.resize(min(widget.width(), SCREEN[0]), min(widget.height(), SCREEN[1]))
    widget.show()
    for _ in range(5):
        QCoreApplication.processEvents()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    assert widget.grab().save(str(path)), f"could not write {path}"
    return path


def wait_until(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s")
        QCoreApplication.processEvents()
        time.sleep(0.02)


def make_wheel(folder: Path, name: str, version: str, source: str,
               requires: tuple[str, ...] = ()) -> Path:
    """A pure-Python wheel with one module ``name`` whose code is ``source``, depending on
    ``requires`` (requirement strings)."""
    folder.mkdir(parents=True, exist_ok=True)
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": source.encode(),
        f"{dist}/METADATA": (f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\n"
                             f"Version: {version}\n"
                             + "".join(f"Requires-Dist: {r}\n" for r in requires)).encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: rsai-tests\nRoot-Is-Purelib: true\n"
                         b"Tag: py3-none-any\n",
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist}/RECORD,,")
    files[f"{dist}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel


@pytest.fixture
def desktop(qgis_iface, qgis_processing, monkeypatch):
    """The plugin loaded with a desktop (pytest-qgis's stub iface, offscreen): menus, toolbar,
    providers; unloaded afterwards."""
    from qgis.gui import QgsBrowserGuiModel

    from rsai_toolbox import classFactory

    browser = QgsBrowserGuiModel()  # the stub iface has none; the parameter panel asks for one
    monkeypatch.setattr(qgis_iface, "browserModel", lambda: browser, raising=False)
    plugin = classFactory(qgis_iface)
    plugin.initGui()
    yield plugin
    plugin.unload()
