"""The bad-input barrage: every tool given what a careless or hostile user would give it.

Each case runs the tool in-process through QGIS's Processing framework (``processing.run``, as
the Toolbox dialog runs it) in a folder of its own, and asserts what the guide promises:
the run fails with a message naming the problem and the fix, nothing new is left in the folder
(no output, no partial file), and every file that was there is byte-identical afterwards.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from helpers import snapshot


@pytest.fixture
def provider(qgis_processing, tmp_path, monkeypatch):
    from rsai_toolbox import classFactory
    monkeypatch.setenv("RSAI_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    plugin = classFactory(None)
    plugin.initProcessing()
    yield plugin.provider
    plugin.unload()


@pytest.fixture
def work(tmp_path) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


@pytest.fixture
def refused(provider, work):
    """``refused(tool, parameters, problem, fix)``: the run must fail with a message matching
    both regular expressions, and leave ``work`` exactly as it was."""
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingException, QgsProcessingFeedback

    def check(tool: str, parameters: dict, problem: str, fix: str) -> str:
        before = snapshot(work)
        with pytest.raises(QgsProcessingException) as raised:
            processing.run(f"rsai:{tool}", parameters, context=QgsProcessingContext(),
                           feedback=QgsProcessingFeedback())
        message = str(raised.value)
        assert re.search(problem, message, re.IGNORECASE | re.DOTALL), message
        assert re.search(fix, message, re.IGNORECASE | re.DOTALL), message
        assert snapshot(work) == before, "the folder changed: an input was touched or a file left"
        return message

    return check


@pytest.fixture
def succeeds(provider, work):
    """``succeeds(tool, parameters, inputs)``: the run works and leaves ``inputs`` untouched."""
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback

    def check(tool: str, parameters: dict, inputs) -> dict:
        before = {str(p): hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in inputs}
        results = processing.run(f"rsai:{tool}", parameters, context=QgsProcessingContext(),
                                 feedback=QgsProcessingFeedback())
        after = {str(p): hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in inputs}
        assert after == before
        assert not [p for p in work.rglob("*") if "partial" in p.name]
        return results

    return check
