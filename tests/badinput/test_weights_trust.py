"""Trust on first use held to its word: only a file the store has just downloaded is recorded,
an unreadable record fails closed, the record survives concurrent writers, and a TorchGeo-style
name carrying its sha256 prefix is checked. Real huggingface_hub / requests against the local
Hub-compatible server (tests/hub_server.py)."""

import hashlib
import json
import shutil
import sys
import threading
from pathlib import Path

import pytest

from rsai_toolbox.models.errors import UserError
from rsai_toolbox.models.hub import WeightsSource, WeightsStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hub_server import HubServer  # noqa: E402

REV = "0123456789abcdef0123456789abcdef01234567"
DATA = bytes(range(256)) * 64


@pytest.fixture
def server(tmp_path):
    with HubServer(tmp_path / "srv") as s:
        yield s


def store(tmp_path, server, name="cache", offline=False):
    return WeightsStore(tmp_path / name, offline=offline, endpoint=server.endpoint,
                        log=lambda line: None)


def test_a_cache_copied_without_its_record_is_not_trusted(tmp_path, server):
    server.add_file("o/r", REV, "m.onnx", DATA)
    source = WeightsSource(repo_id="o/r", revision=REV, filename="m.onnx")
    store(tmp_path, server).fetch(source)
    shutil.copytree(tmp_path / "cache" / "hf", tmp_path / "copied" / "hf")  # no tofu.json
    with pytest.raises(UserError, match="no record of its first download.*download it again"):
        store(tmp_path, server, "copied", offline=True).fetch(source)


def test_a_swapped_blob_after_deleting_the_record_is_not_trusted(tmp_path, server):
    url = server.add_url_file("weights.pth", DATA)
    source = WeightsSource(url=url)
    path = store(tmp_path, server).fetch(source)
    (tmp_path / "cache" / "tofu.json").unlink()
    path.write_bytes(b"evil" + DATA)
    with pytest.raises(UserError, match="cannot be trusted"):
        store(tmp_path, server).fetch(source)
    assert path.read_bytes() == b"evil" + DATA  # refused, not silently re-recorded


@pytest.mark.parametrize("content", ["[]", '"text"', "42", "{not json", ""])
def test_a_record_that_is_not_an_object_fails_closed(tmp_path, server, content):
    url = server.add_url_file("w.pth", DATA)
    source = WeightsSource(url=url)
    store(tmp_path, server).fetch(source)
    (tmp_path / "cache" / "tofu.json").write_text(content)
    with pytest.raises(UserError, match="checksum record .*tofu.json is .*Delete it"):
        store(tmp_path, server).fetch(source)


def test_concurrent_first_downloads_keep_every_record(tmp_path, server):
    sources = [WeightsSource(url=server.add_url_file(f"w{i}.pth", DATA + bytes([i])))
               for i in range(8)]
    errors = []

    def fetch(source):
        try:
            store(tmp_path, server).fetch(source)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=fetch, args=(s,)) for s in sources]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    record = json.loads((tmp_path / "cache" / "tofu.json").read_text())
    assert len(record) == len(sources)


def test_a_name_with_a_sha256_prefix_is_checked_at_first_download(tmp_path, server):
    good = hashlib.sha256(DATA).hexdigest()[:8]
    ok = WeightsSource(url=server.add_url_file(f"unet_effb3-{good}.pth", DATA))
    assert store(tmp_path, server).fetch(ok).read_bytes() == DATA
    wrong = WeightsSource(url=server.add_url_file("sentinel2_unet_effb3-5d591cbb.pth", DATA))
    with pytest.raises(UserError, match="file name says it starts with 5d591cbb.*deleted"):
        store(tmp_path, server).fetch(wrong)
    record = json.loads((tmp_path / "cache" / "tofu.json").read_text())
    assert wrong.identity() not in record and ok.identity() in record
    assert not list((tmp_path / "cache" / "url").rglob("*5d591cbb*"))


def test_a_hub_file_with_a_wrong_prefix_is_refused_too(tmp_path, server):
    server.add_file("o/r", REV, "model-deadbeef.pth", DATA)
    source = WeightsSource(repo_id="o/r", revision=REV, filename="model-deadbeef.pth")
    with pytest.raises(UserError, match="starts with deadbeef"):
        store(tmp_path, server).fetch(source)


def test_a_long_lived_store_hashes_a_cached_file_once_until_it_changes(tmp_path, server,
                                                                       monkeypatch):
    """The model manager refreshes often: unchanged files are not hashed again on the GUI
    thread, a changed file is."""
    from rsai_toolbox.models import hub
    source = WeightsSource(url=server.add_url_file("w.pth", DATA))
    weights = store(tmp_path, server)
    path = weights.fetch(source)
    hashed = []
    real = hub.sha256_file
    monkeypatch.setattr(hub, "sha256_file", lambda p: hashed.append(p) or real(p))
    for _ in range(5):
        assert weights.cached_path(source) == path
    assert hashed == []
    path.write_bytes(b"x" + DATA[1:])  # same size, new content
    assert weights.cached_path(source) is None and hashed == [path]
