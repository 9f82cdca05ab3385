"""WeightsStore against a local Hub-compatible server: real huggingface_hub, real requests."""
import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rsai_toolbox.models.errors import Cancelled, UserError
from rsai_toolbox.models.hub import WeightsSource, WeightsStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hub_server import HubServer  # noqa: E402

REV = "0123456789abcdef0123456789abcdef01234567"
REPO = "owner/repo"
DATA = bytes(range(256)) * 400  # 100 KiB, not all one byte
TOKEN = "hf_MARKERtoken0000000000000000000000"


@pytest.fixture
def server(tmp_path):
    with HubServer(tmp_path / "srv") as s:
        yield s


@pytest.fixture
def logs():
    return []


@pytest.fixture
def make_store(tmp_path, server, logs):
    def make(offline=False, endpoint="server"):
        return WeightsStore(tmp_path / "cache", offline=offline, log=logs.append,
                            endpoint=server.endpoint if endpoint == "server" else endpoint)
    return make


def hub_source(server, sha256=None, data=DATA, path="dir/model.onnx"):
    digest = server.add_file(REPO, REV, path, data)
    return WeightsSource(repo_id=REPO, revision=REV, filename=path,
                         sha256=digest if sha256 == "right" else sha256)


# -- Hub sources ---------------------------------------------------------------------------------
def test_hub_fetch_then_offline_from_cache_without_requests(server, make_store, logs):
    src = hub_source(server, sha256="right")
    fractions = []
    path = make_store().fetch(src, progress=fractions.append)
    assert path.read_bytes() == DATA
    assert fractions[-1] == 1.0 and fractions == sorted(fractions)
    assert any("downloading" in m for m in logs) and any("downloaded" in m and "KB" in m for m in logs)
    n = server.count()
    assert n >= 1

    again = make_store(offline=True).fetch(src)
    assert again == path and again.read_bytes() == DATA
    online_again = make_store().fetch(src)  # present and verified => never re-downloaded
    assert online_again == path
    assert server.count() == n


def test_a_shared_digest_memo_hashes_a_cached_file_once_until_it_changes(server, tmp_path,
                                                                         monkeypatch):
    """The model manager opens a new store each time; the plugin hands them one memo, so a
    cached file is hashed once per session, and again only when it changes on disk."""
    from rsai_toolbox.models import hub
    hashed = []
    real = hub.sha256_file
    monkeypatch.setattr(hub, "sha256_file", lambda path: hashed.append(path) or real(path))
    src = hub_source(server, sha256="right")
    memo = {}
    path = WeightsStore(tmp_path / "cache", endpoint=server.endpoint, digests=memo).fetch(src)
    first = len(hashed)
    for _ in range(3):  # three openings of the manager
        assert WeightsStore(tmp_path / "cache", offline=True, digests=memo).cached_path(src) == path
    assert len(hashed) == first
    WeightsStore(tmp_path / "cache", offline=True).cached_path(src)  # no memo: hashed again
    assert len(hashed) == first + 1
    os.utime(path, ns=(0, 0))  # a changed file (its mtime) is hashed again, even with the memo
    WeightsStore(tmp_path / "cache", offline=True, digests=memo).cached_path(src)
    assert len(hashed) == first + 2


def test_offline_env_and_empty_cache_explains_prefetch(server, make_store, monkeypatch, tmp_path):
    src = hub_source(server)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    store = make_store()
    assert store.offline
    with pytest.raises(UserError) as e:
        store.fetch(src)
    msg = str(e.value)
    assert "not cached" in msg and "rsai:download_model" in msg and str(tmp_path / "cache") in msg
    assert server.count() == 0
    assert store.cached_path(src) is None


def test_offline_url_source_not_cached(server, make_store):
    url = server.add_url_file("w/model.onnx", DATA)
    with pytest.raises(UserError, match="download_model"):
        make_store(offline=True).fetch(WeightsSource(url=url))
    assert server.count() == 0


def test_tampered_cache_is_detected_deleted_and_redownloaded(server, make_store):
    src = hub_source(server, sha256="right")
    store = make_store()
    path = store.fetch(src)
    with open(path, "r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01tampered")
    bad = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(UserError) as e:
        make_store(offline=True).fetch(src)
    msg = str(e.value)
    assert "checksum mismatch for model.onnx" in msg and src.sha256 in msg and bad in msg
    assert "corrupt or the source changed" in msg
    assert not path.exists() and not Path(os.path.realpath(path)).exists()
    assert store.cached_path(src) is None
    # Online, the next fetch downloads a good copy again.
    assert store.fetch(src).read_bytes() == DATA


def test_wrong_published_sha256_is_rejected_and_not_kept(server, make_store):
    src = hub_source(server, sha256="ab" * 32)
    store = make_store()
    with pytest.raises(UserError, match="checksum mismatch.*expected abab.*published"):
        store.fetch(src)
    assert store.cached_path(src) is None
    assert store.cache_size_bytes() < len(DATA)


def test_trust_on_first_use_records_then_detects_tampering(server, make_store, logs, tmp_path):
    src = hub_source(server)  # no sha256
    store = make_store()
    path = store.fetch(src)
    digest = hashlib.sha256(DATA).hexdigest()
    assert any("no published checksum: recorded sha256 " + digest in m for m in logs)
    tofu = json.loads((tmp_path / "cache" / "tofu.json").read_text())
    assert tofu == {f"hf:{REPO}@{REV}:dir/model.onnx": digest}

    assert store.fetch(src) == path  # verified against the record
    path.write_bytes(DATA[:-1] + b"!")
    with pytest.raises(UserError, match="checksum mismatch.*recorded on first use"):
        store.fetch(src)
    assert not path.exists()

    store.remove(src)
    assert json.loads((tmp_path / "cache" / "tofu.json").read_text()) == {}


def test_missing_file_in_repo_is_a_user_error(server, make_store):
    hub_source(server)
    src = WeightsSource(repo_id=REPO, revision=REV, filename="nope.onnx")
    with pytest.raises(UserError, match="no file nope.onnx"):
        make_store().fetch(src)


def test_endpoint_that_is_not_a_hub_is_a_user_error(server, make_store):
    # (A refused connection gives the same error after huggingface_hub's retries, ~20 s.)
    src = hub_source(server)
    with pytest.raises(UserError, match="could not download.*HF_ENDPOINT.*rsai:download_model"):
        make_store(endpoint=server.endpoint + "/files").fetch(src)


def test_hub_cancel_leaves_no_partial_file(server, make_store):
    src = hub_source(server, data=os.urandom(3 << 20))
    store = make_store()
    with pytest.raises(Cancelled):
        store.fetch(src, is_cancelled=iter([False, True, True, True]).__next__)
    assert store.cached_path(src) is None
    blobs = [p for p in (store.cache_dir / "hf").rglob("blobs/*")]
    assert blobs == [] and store.cache_size_bytes() < 1000  # only small bookkeeping (CACHEDIR.TAG, refs)


def test_token_is_sent_to_the_hub_but_never_logged(server, make_store, logs, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    src = hub_source(server)
    store = make_store()
    store.fetch(src)
    url_src = WeightsSource(url=server.add_url_file("m.onnx", DATA))
    store.fetch(url_src)
    with pytest.raises(UserError) as e:
        store.fetch(WeightsSource(repo_id="owner/missing", revision=REV, filename="m.onnx"))
    auth = [{k.lower(): v for k, v in h.items()}.get("authorization") for m, p, h in server.requests]
    paths = [p for m, p, h in server.requests]
    assert {a for a, p in zip(auth, paths) if "/resolve/" in p} == {f"Bearer {TOKEN}"}
    assert {a for a, p in zip(auth, paths) if p.startswith("/files/")} == {None}  # not sent elsewhere
    assert logs and not any(TOKEN in m for m in logs)
    assert TOKEN not in str(e.value) and TOKEN not in src.describe() + url_src.describe()


def test_endpoint_from_env_at_construction(server, make_store, monkeypatch):
    src = hub_source(server)
    monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
    store = make_store(endpoint=None)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # later changes do not matter
    assert store.fetch(src).read_bytes() == DATA


@pytest.mark.parametrize("mode", ["env", "explicit-beats-import-time-env"])
def test_endpoint_in_fresh_process(server, tmp_path, mode):
    """huggingface_hub reads HF_ENDPOINT at import; the store must work either way."""
    src = hub_source(server)
    env = dict(os.environ)
    if mode == "env":
        env["HF_ENDPOINT"], endpoint = server.endpoint, None
    else:
        env["HF_ENDPOINT"], endpoint = "http://127.0.0.1:9", server.endpoint
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).resolve().parents[2] / 'build' / 'plugins')!r})
        from rsai_toolbox.models.hub import WeightsSource, WeightsStore
        src = WeightsSource(repo_id={REPO!r}, revision={REV!r}, filename="dir/model.onnx")
        p = WeightsStore({str(tmp_path / 'cache')!r}, endpoint={endpoint!r}).fetch(src)
        print(p)
    """)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert Path(out.stdout.strip()).read_bytes() == DATA


# -- Hub sources with an open revision (pinned at the first download) --------------------------
REV2 = "fedcba9876543210fedcba9876543210fedcba98"


def test_open_revision_pins_current_commit_and_checksum_at_first_download(server, make_store, logs,
                                                                           tmp_path):
    server.add_file(REPO, REV, "w.pt", DATA)
    digest = hashlib.sha256(DATA).hexdigest()
    src = WeightsSource.from_dict({"repo_id": REPO, "revision": None, "filename": "w.pt"})
    assert src.revision_open and "pinned at first download" in src.describe()
    store = make_store()
    path = store.fetch(src)
    assert path.read_bytes() == DATA
    assert any("/api/models/" in p for _, p, _ in server.requests)
    tofu = json.loads((tmp_path / "cache" / "tofu.json").read_text())
    assert tofu == {src.identity(): {"revision": REV, "sha256": digest}}
    assert any(REV in m and digest in m and "pinned" in m for m in logs)
    assert store.pinned(src).revision == REV

    # The repo moves on; the pinned commit and checksum stay, with no request at all.
    server.add_file(REPO, REV2, "w.pt", DATA[::-1])
    n = server.count()
    assert make_store().fetch(src) == path and make_store(offline=True).fetch(src) == path
    assert store.cached_path(src) == path
    assert server.count() == n

    # Tampering is caught against the recorded checksum.
    path.write_bytes(DATA[:-1] + b"!")
    with pytest.raises(UserError, match="checksum mismatch.*recorded on first use"):
        store.fetch(src)
    assert store.fetch(src).read_bytes() == DATA  # re-downloaded at the pinned commit, not REV2

    # Removing the model forgets the pin: the next download pins the repo's new commit.
    store.remove(src)
    assert store.cached_path(src) is None and store.pinned(src) is None
    assert store.fetch(src).read_bytes() == DATA[::-1]
    assert store.pinned(src).revision == REV2


def test_open_revision_offline_fails_at_once_with_prefetch_message(server, make_store):
    server.add_file(REPO, REV, "w.pt", DATA)
    src = WeightsSource(repo_id=REPO, filename="w.pt")
    with pytest.raises(UserError) as e:
        make_store(offline=True).fetch(src)
    assert "not cached" in str(e.value) and "rsai:download_model" in str(e.value)
    assert server.count() == 0


def test_open_revision_still_checks_a_published_sha256(server, make_store, tmp_path):
    server.add_file(REPO, REV, "w.pt", DATA)
    src = WeightsSource(repo_id=REPO, filename="w.pt", sha256="ab" * 32)
    store = make_store()
    with pytest.raises(UserError, match="checksum mismatch.*published"):
        store.fetch(src)
    assert store.pinned(src) is None and store.cache_size_bytes() < len(DATA)
    good = WeightsSource(repo_id=REPO, filename="w.pt", sha256=hashlib.sha256(DATA).hexdigest())
    assert store.fetch(good).read_bytes() == DATA and store.pinned(good).revision == REV


def test_open_revision_of_a_missing_repo_is_a_user_error(server, make_store):
    server.add_file(REPO, REV, "w.pt", DATA)
    with pytest.raises(UserError, match="current commit of owner/missing.*does not exist"):
        make_store().fetch(WeightsSource(repo_id="owner/missing", filename="w.pt"))


# -- URL sources ---------------------------------------------------------------------------------
def test_url_download_progress_and_cache(server, make_store, logs):
    data = os.urandom(3 << 20 | 12345)
    digest = hashlib.sha256(data).hexdigest()
    src = WeightsSource(url=server.add_url_file("releases/v1/model weights.onnx", data), sha256=digest)
    store = make_store()
    fractions = []
    path = store.fetch(src, progress=fractions.append)
    assert path.read_bytes() == data
    assert path == store.cache_dir / "url" / digest / "model_weights.onnx"
    assert len(fractions) >= 3 and fractions == sorted(fractions) and fractions[-1] == 1.0
    assert 0 < fractions[0] < 1
    assert not list(path.parent.glob("*.part"))
    assert any("downloaded" in m and "MB" in m for m in logs)
    n = server.count()
    assert make_store(offline=True).fetch(src) == path and store.fetch(src) == path
    assert server.count() == n
    assert store.cache_size_bytes() >= len(data)
    store.remove(src)
    assert store.cached_path(src) is None and store.cache_size_bytes() == 0


def test_url_tofu_and_tampering(server, make_store, logs):
    src = WeightsSource(url=server.add_url_file("m.onnx", DATA))
    store = make_store()
    path = store.fetch(src)
    assert any("no published checksum: recorded sha256" in m for m in logs)
    path.write_bytes(b"evil")
    with pytest.raises(UserError, match="checksum mismatch for m.onnx"):
        store.fetch(src)
    assert not path.exists()


def test_url_wrong_sha256(server, make_store):
    src = WeightsSource(url=server.add_url_file("m.onnx", DATA), sha256="0" * 64)
    store = make_store()
    with pytest.raises(UserError, match="checksum mismatch"):
        store.fetch(src)
    assert store.cache_size_bytes() == 0


def test_url_cancel_after_first_chunk_leaves_nothing(server, make_store):
    src = WeightsSource(url=server.add_url_file("big.onnx", os.urandom(4 << 20)))
    store = make_store()
    calls = []

    def is_cancelled():
        calls.append(1)
        return len(calls) > 2  # before the download, after chunk 1, then cancel

    with pytest.raises(Cancelled):
        store.fetch(src, is_cancelled=is_cancelled)
    assert store.cache_size_bytes() == 0
    assert [p for p in store.cache_dir.rglob("*") if p.is_file()] == []


def test_url_http_error_is_a_user_error(server, make_store):
    with pytest.raises(UserError, match="HTTP 404"):
        make_store().fetch(WeightsSource(url=server.endpoint + "/files/absent.onnx"))


# -- WeightsSource -------------------------------------------------------------------------------
def test_parse_hub_reference():
    src = WeightsSource.parse_hub_reference(f"owner/repo@{REV}:dir/model.onnx")
    assert (src.repo_id, src.revision, src.filename, src.url, src.sha256) == (
        "owner/repo", REV, "dir/model.onnx", None, None)
    assert src.describe().startswith(f"owner/repo@{REV}:dir/model.onnx")


@pytest.mark.parametrize("ref", [
    "owner/repo",
    f"owner/repo@{REV}",
    f"owner/repo@{REV}:",
    "owner/repo@main:model.onnx",
    f"owner/repo@{REV[:12]}:model.onnx",
    f"repo@{REV}:model.onnx",
    f"a/b/c@{REV}:model.onnx",
    f"owner/repo@{REV}:../etc/passwd",
    f"owner/repo@{REV}:/abs.onnx",
    "",
])
def test_malformed_hub_references(ref):
    with pytest.raises(UserError) as e:
        WeightsSource.parse_hub_reference(ref)
    assert "owner/repo@<40-hex commit>:path/in/repo" in str(e.value) and "e.g." in str(e.value)


def test_source_validation_and_from_dict():
    src = WeightsSource.from_dict({"repo_id": REPO, "revision": REV.upper(), "filename": "m.onnx",
                                   "sha256": "AB" * 32})
    assert src.revision == REV and src.sha256 == "ab" * 32
    for bad in (
        {"repo_id": REPO, "filename": "m.onnx"},  # revision required (null to leave it open)
        {"repo_id": REPO, "revision": "main", "filename": "m.onnx"},
        {"repo_id": REPO, "revision": REV},
        {"url": "http://example.com/m.onnx"},  # plain http only to localhost
        {"url": "ftp://example.com/m.onnx"},
        {"url": "https://example.com/m.onnx", "repo_id": REPO, "revision": REV, "filename": "m"},
        {"url": "https://example.com/m.onnx", "sha256": "xyz"},
        {"url": "https://example.com/m.onnx", "sha265": "0" * 64},  # typo
        {},
    ):
        with pytest.raises(UserError):
            WeightsSource.from_dict(bad)
    assert WeightsSource(url="http://127.0.0.1:8/m.onnx").url
    assert WeightsSource.from_dict({"repo_id": REPO, "revision": None, "filename": "m"}).revision_open


def test_describe_never_shows_url_credentials():
    src = WeightsSource(url="https://user:secret@example.com/w/m.onnx?token=SECRET#x")
    assert "secret" not in src.describe().lower() and "example.com/w/m.onnx" in src.describe()


# -- no network: fail at once (issue 17: offline fails in under 2 s with the prefetch message) ----
@pytest.mark.parametrize("endpoint", [
    "https://10.255.255.1",  # a non-routed address: connections hang (a firewall, no route)
    "https://rsai-no-such-host.invalid",  # a name that never resolves (no DNS, no network)
])
def test_unreachable_hub_fails_at_once_with_the_prefetch_message(tmp_path, endpoint, monkeypatch):
    import time

    from rsai_toolbox.models.hub import WeightsUnavailable

    for proxy in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.delenv(proxy, raising=False)
    store = WeightsStore(tmp_path / "cache", endpoint=endpoint)
    source = WeightsSource(repo_id=REPO, revision=REV, filename="dir/model.onnx")
    start = time.monotonic()
    with pytest.raises(WeightsUnavailable) as error:
        store.fetch(source)
    elapsed = time.monotonic() - start
    assert elapsed < 2.0, f"took {elapsed:.1f} s"
    message = str(error.value)
    assert "cannot be reached" in message and "rsai:download_model" in message
    assert "Errno" not in message.split("(", 1)[0]  # the plain sentence comes first
    assert store.remote_size(source) is None


def test_size_from_the_card_or_the_servers_metadata(server, make_store):
    store = make_store()
    stated = WeightsSource(repo_id=REPO, revision=REV, filename="dir/model.onnx", size=12345)
    assert store.remote_size(stated) == 12345  # from the card, no request
    assert server.count() == 0
    assert store.remote_size(hub_source(server)) == len(DATA)  # the Hub's file metadata
    url = server.add_url_file("w/model.onnx", DATA[:1000])
    assert store.remote_size(WeightsSource(url=url)) == 1000  # the server's Content-Length
    assert make_store(offline=True).remote_size(hub_source(server)) is None
    with pytest.raises(UserError, match="whole number of bytes"):
        WeightsSource(url=url, size=-1)
    assert WeightsSource.from_dict({"url": url, "size": 7}).size == 7
