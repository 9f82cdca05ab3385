"""Fetching model weights: download once, verify by sha256 on every use, then work offline.

Weights come either from a Hugging Face repo pinned to a commit (downloaded with
``huggingface_hub``) or from the authors' own https hosting (downloaded with ``requests``).
Everything lives under one cache folder owned by a ``WeightsStore`` instance; nothing here reads
or writes global state after construction, so a store can be rebuilt on any worker.

Weights without a published checksum are trusted on first use: the sha256 of the first download
is recorded in ``<cache>/tofu.json`` and every later use is checked against it. Only a file this
store has just downloaded is recorded (a cached file without a record, e.g. a cache copied
without its tofu.json, is refused), an unreadable record fails closed, the record is updated
under a file lock, and a file name carrying the leading hex digits of its sha256 (TorchGeo's
``-5d591cbb.pth``) is checked against them at the first download. A Hub source may
also leave its revision open (``"revision": null`` in a card, for repos whose commit was not known
when the card was written): the first download resolves the repo's current commit, records it
with the file's sha256 in the same record, and both are pinned from then on.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import threading
import urllib.parse
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Callable

from .callbacks import never_cancelled, no_progress
from .errors import Cancelled, UserError

DEFAULT_ENDPOINT = "https://huggingface.co"
_HEX40 = re.compile(r"^[0-9a-fA-F]{40}$")
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
# Hub repo ids: "owner/name", letters, digits, "-", "_", "." (no "--" or ".." runs).
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")
_HUB_REF_EXAMPLE = "torchgeo/ftw@0123456789abcdef0123456789abcdef01234567:models/ftw.onnx"
_HUB_REF_FORM = f"owner/repo@<40-hex commit>:path/in/repo, e.g. {_HUB_REF_EXAMPLE}"
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
_CHUNK = 1 << 20
_TOFU_FILE = "tofu.json"
# TorchGeo / torch.hub names: "<name>-<first hex digits of the sha256>.<ext>"
_HASH_PREFIX = re.compile(r"-([0-9a-f]{8,64})\.[A-Za-z0-9]+$")
_OPEN_REVISION = "pinned-at-first-download"
REACH_TIMEOUT_S = 1.5  # how long a download waits to learn that the server cannot be reached


class WeightsUnavailable(UserError):
    """The weights are not cached and cannot be downloaded now (offline, no network, the server
    refused). The message says how to prefetch them; a tool adds how it takes a local file."""


def _is_offline_env() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def unreachable_reason(url: str, timeout: float = REACH_TIMEOUT_S) -> str | None:
    """Why the server of ``url`` cannot be reached, or None when it answers an https request
    (any HTTP status) within ``timeout`` seconds. Asked before a download, so that a machine
    without a network learns it at once instead of after the HTTP client's retries. Proxies
    set in the environment are used, as for the download itself."""
    import requests

    parts = urllib.parse.urlsplit(url)
    root = f"{parts.scheme}://{parts.netloc}/"
    outcome: dict[str, str] = {}

    def ask() -> None:
        try:
            requests.head(root, timeout=timeout, allow_redirects=False).close()
            outcome["answer"] = ""
        except requests.exceptions.SSLError:
            outcome["error"] = "the secure connection failed (a proxy or firewall in between?)"
        except requests.exceptions.Timeout:
            outcome["error"] = f"no answer within {timeout:g} s"
        except requests.exceptions.ConnectionError:
            outcome["error"] = "no connection (no network, or the name does not resolve)"
        except Exception as e:  # anything else the http stack raises: not reachable either
            outcome["error"] = type(e).__name__

    worker = threading.Thread(target=ask, daemon=True)  # bounds name resolution too
    worker.start()
    worker.join(timeout)
    if "answer" in outcome:
        return None
    return f"{parts.hostname}: " + outcome.get("error", f"no answer within {timeout:g} s")


INSTALL_HINT = ("Install it from the menu Plugins > Remote Sensing AI Toolbox > Install "
                "dependencies… (headless: the tool rsai:install_dependencies).")


def _huggingface_hub():
    """The huggingface_hub module, or a UserError that says how to install it."""
    try:
        import huggingface_hub
    except ImportError:
        raise UserError("huggingface_hub is needed for models on the Hugging Face Hub but is not "
                        f"installed in QGIS's Python. {INSTALL_HINT}") from None
    return huggingface_hub


def format_size(n: float) -> str:
    if n < 1024:
        return f"{n:.0f} B"
    for unit in ("KB", "MB", "GB"):
        n /= 1024
        if n < 1024 or unit == "GB":
            break
    return f"{n:.1f} {unit}"


def _redact_url(url: str) -> str:
    """URL without user info, query or fragment: those may carry signed tokens."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def _check_url(url: str, what: str = "weights url") -> None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname in _LOCAL_HOSTS:
        return  # local test servers only
    raise UserError(
        f"{what} {_redact_url(url)!r} is not allowed: weights are downloaded over https only "
        "(plain http is accepted for 127.0.0.1/localhost test servers)."
    )


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _check_repo_path(filename: str, context: str) -> None:
    parts = filename.split("/")
    if (
        not filename
        or filename.startswith("/")
        or "\\" in filename
        or any(p in ("", ".", "..") for p in parts)
        or any(c.isspace() for c in filename)
    ):
        raise UserError(f"{context}: {filename!r} is not a valid path inside a repository "
                        "(use a relative path like 'dir/model.onnx').")


@dataclass(frozen=True)
class WeightsSource:
    """Where a model's weights come from."""

    repo_id: str | None = None  # Hugging Face repo, e.g. "torchgeo/ftw"
    revision: str | None = None  # pinned commit (40 hex); None: pinned at the first download
    filename: str | None = None  # path inside the repo
    url: str | None = None  # authors' own hosting (https), alternative to repo_id
    sha256: str | None = None  # None => trust on first use (recorded at first download)
    size: int | None = None  # bytes, when the card states it (shown before downloading)

    def __post_init__(self) -> None:
        if self.sha256 is not None:
            sha = self.sha256.strip().lower().removeprefix("sha256:")
            if not _HEX64.match(sha):
                raise UserError(f"weights sha256 {self.sha256!r} is not 64 hexadecimal digits.")
            object.__setattr__(self, "sha256", sha)
        if self.size is not None and (isinstance(self.size, bool) or not isinstance(self.size, int)
                                      or self.size < 0):
            raise UserError(f"weights size {self.size!r} must be a whole number of bytes.")
        if self.repo_id is not None:
            if self.url is not None:
                raise UserError("a weights source has either repo_id (Hugging Face) or url, not both.")
            if not _REPO_ID.match(self.repo_id) or "--" in self.repo_id or ".." in self.repo_id:
                raise UserError(f"{self.repo_id!r} is not a Hugging Face repo id; expected 'owner/name', "
                                "e.g. 'torchgeo/ftw'.")
            if self.revision is not None:
                if not _HEX40.match(self.revision):
                    raise UserError(
                        f"weights from {self.repo_id} need a pinned revision: the full 40-hex commit id "
                        f"(got {self.revision!r}); branch names like 'main' move and are not accepted. "
                        "Copy the commit id from the repo's 'Files and versions' history, or write "
                        "null to pin the repo's current commit at the first download."
                    )
                object.__setattr__(self, "revision", self.revision.lower())
            if self.filename is None:
                raise UserError(f"weights from {self.repo_id} need a filename inside the repo.")
            _check_repo_path(self.filename, f"weights from {self.repo_id}")
        elif self.url is not None:
            _check_url(self.url)
            if self.revision is not None or self.filename is not None:
                raise UserError("revision and filename belong to Hugging Face sources (repo_id), not to url sources.")
        else:
            raise UserError("a weights source needs either repo_id + revision + filename (Hugging Face) or url.")

    @classmethod
    def from_dict(cls, d: dict) -> "WeightsSource":
        """From a model card's ``weights`` mapping; unknown keys are rejected (typos in sha256...)."""
        if not isinstance(d, dict):
            raise UserError(f"weights source must be a mapping, got {type(d).__name__}.")
        allowed = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - allowed)
        if unknown:
            raise UserError(f"unknown weights source key(s) {', '.join(unknown)}; "
                            f"allowed: {', '.join(sorted(allowed))}.")
        if "repo_id" in d and "revision" not in d:  # an open revision is written out, never implied
            raise UserError(f"weights from {d['repo_id']} need a revision: the full 40-hex commit id, "
                            "or null to pin the repo's current commit at the first download.")
        values = {}
        for k, v in d.items():
            if v is not None and not isinstance(v, str) and k != "size":
                raise UserError(f"weights source key {k!r} must be a string, got {type(v).__name__}.")
            values[k] = v
        return cls(**values)

    @classmethod
    def parse_hub_reference(cls, ref: str) -> "WeightsSource":
        """``"owner/repo@<40-hex revision>:path/in/repo.onnx"`` -> a Hub source (no checksum)."""
        if not isinstance(ref, str):
            raise UserError(f"a Hub reference must be text of the form {_HUB_REF_FORM}.")
        text = ref.strip()
        repo, at, rest = text.partition("@")
        revision, colon, filename = rest.partition(":")
        problem = None
        if not at:
            problem = "missing '@<commit>'"
        elif not colon or not filename:
            problem = "missing ':path/in/repo'"
        elif not _REPO_ID.match(repo) or "--" in repo or ".." in repo:
            problem = f"{repo!r} is not an 'owner/repo' id"
        elif not _HEX40.match(revision):
            problem = f"revision {revision!r} is not a full 40-hex commit id (branches move; pin a commit)"
        if problem:
            raise UserError(f"malformed Hub reference {ref!r}: {problem}. Expected {_HUB_REF_FORM}.")
        try:
            return cls(repo_id=repo, revision=revision, filename=filename)
        except UserError as e:
            raise UserError(f"malformed Hub reference {ref!r}: {e} Expected {_HUB_REF_FORM}.") from None

    @property
    def is_hub(self) -> bool:
        return self.repo_id is not None

    @property
    def revision_open(self) -> bool:
        """A Hub source whose commit is pinned at its first download, not in the card."""
        return self.is_hub and self.revision is None

    def identity(self) -> str:
        """Stable key of what is fetched (not of its checksum): used for the trust-on-first-use record."""
        if self.revision_open:
            return f"hf:{self.repo_id}@{_OPEN_REVISION}:{self.filename}"
        if self.is_hub:
            return f"hf:{self.repo_id}@{self.revision}:{self.filename}"
        return f"url:{self.url}"

    def describe(self) -> str:
        """Human text for logs, never containing tokens."""
        if self.revision_open:
            text = f"{self.repo_id}:{self.filename} (Hugging Face Hub, commit pinned at first download)"
        elif self.is_hub:
            text = f"{self.repo_id}@{self.revision}:{self.filename} (Hugging Face Hub)"
        else:
            text = _redact_url(self.url)
        return text + (f" sha256 {self.sha256[:12]}…" if self.sha256 else " (no published checksum)")


class WeightsStore:
    """The local weights cache: fetch once, verify by sha256 every time, work offline.

    Layout: ``hf/`` (huggingface_hub cache), ``url/<sha256 or url hash>/<basename>``, ``tofu.json``.
    """

    def __init__(
        self,
        cache_dir: str | os.PathLike,
        offline: bool = False,
        log: Callable[[str], None] = lambda m: None,
        endpoint: str | None = None,
        digests: dict[tuple, str] | None = None,
    ):
        self.cache_dir = Path(cache_dir)
        self.offline = bool(offline) or _is_offline_env()
        self.log = log
        self.endpoint = (endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
        _check_url(self.endpoint, "Hugging Face endpoint")
        # sha256 by (path, size, mtime, ctime, inode): a file is hashed once, not at every
        # refresh; a changed file is hashed again. ``digests`` lets a caller keep that memo
        # beyond one store (the plugin keeps one for every opening of the model manager).
        self._digests: dict[tuple, str] = {} if digests is None else digests

    # -- public API ---------------------------------------------------------------------------
    def fetch(
        self,
        source: WeightsSource,
        progress: Callable[[float], None] | None = None,
        is_cancelled: Callable[[], bool] | None = None,
    ) -> Path:
        """The verified local file for ``source``, downloading it only when it is not cached."""
        progress = progress or no_progress
        is_cancelled = is_cancelled or never_cancelled
        if is_cancelled():
            raise Cancelled()
        if source.revision_open:
            return self._fetch_open_revision(source, progress, is_cancelled)
        path = self._cached_unverified(source)
        if path is not None:
            self._verify(source, path)
            progress(1.0)
            return path
        if self.offline:
            raise WeightsUnavailable(self._not_cached_message(source))
        self._check_reachable(source)
        if source.is_hub:
            path = self._download_hub(source, progress, is_cancelled)
        else:
            path = self._download_url(source, progress, is_cancelled)
        self._verify(source, path, downloaded=True)
        progress(1.0)
        return path

    def _check_reachable(self, source: WeightsSource) -> None:
        reason = unreachable_reason(self.endpoint if source.is_hub else source.url)
        if reason is not None:
            raise WeightsUnavailable(self._not_cached_message(source, f"cannot be reached ({reason})"))

    def remote_size(self, source: WeightsSource) -> int | None:
        """The file's size in bytes before downloading it: the card's ``size``, else what the
        server states (Hub file metadata, an https HEAD); None when offline, not stated, or the
        Hub source's commit is still open."""
        if source.size is not None:
            return source.size
        if (self.offline or source.revision_open
                or unreachable_reason(self.endpoint if source.is_hub else source.url)):
            return None
        try:
            if source.is_hub:
                hub = _huggingface_hub()
                url = hub.hf_hub_url(source.repo_id, source.filename, revision=source.revision,
                                     endpoint=self.endpoint)
                return hub.get_hf_file_metadata(url, timeout=5).size
            import requests

            with requests.head(source.url, allow_redirects=True, timeout=5) as r:
                length = r.headers.get("Content-Length")
                return int(length) if r.status_code == 200 and length else None
        except Exception:  # no answer or no size: the size is simply not known
            return None

    def pinned(self, source: WeightsSource) -> WeightsSource | None:
        """``source`` with the commit recorded at its first download (None before it); sources
        with a revision come back unchanged."""
        if not source.revision_open:
            return source
        record = self._read_tofu().get(source.identity())
        if not isinstance(record, dict) or not _HEX40.match(str(record.get("revision"))):
            return None
        return replace(source, revision=record["revision"])

    def cached_path(self, source: WeightsSource) -> Path | None:
        """The verified cached file, or None (a file that fails verification is deleted); never downloads."""
        source = self.pinned(source)
        if source is None:
            return None
        path = self._cached_unverified(source)
        if path is None:
            return None
        try:
            self._verify(source, path)
        except UserError as e:
            self.log(str(e))
            return None
        return path

    def remove(self, source: WeightsSource) -> None:
        """Delete the cached file and its trust-on-first-use record (for an open revision, the
        pinned commit too: the next download pins the repo's commit of that day)."""
        pinned = self.pinned(source)
        path = self._cached_unverified(pinned) if pinned is not None else None
        if path is not None:
            self._delete(pinned, path)
        with self._tofu_lock():
            tofu = self._read_tofu()
            removed = [tofu.pop(s.identity(), None) for s in {source, pinned} if s is not None]
            if any(r is not None for r in removed):
                self._write_tofu(tofu)

    def cache_size_bytes(self) -> int:
        """Bytes used by the cached weights (symlinks into the hf blob store are not counted
        twice; the first-use record and its lock are not weights)."""
        total = 0
        if not self.cache_dir.is_dir():
            return 0
        for root, _dirs, files in os.walk(self.cache_dir):
            for name in files:
                p = os.path.join(root, name)
                if not os.path.islink(p) and name not in (_TOFU_FILE, _TOFU_FILE + ".lock"):
                    total += os.path.getsize(p)
        return total

    # -- cache lookup -------------------------------------------------------------------------
    @property
    def _hf_cache(self) -> Path:
        return self.cache_dir / "hf"

    def _url_path(self, source: WeightsSource) -> Path:
        key = source.sha256 or hashlib.sha256(source.url.encode("utf-8")).hexdigest()
        base = urllib.parse.unquote(urllib.parse.urlsplit(source.url).path.rsplit("/", 1)[-1])
        base = re.sub(r"[^A-Za-z0-9._-]", "_", base).lstrip(".") or "weights"
        return self.cache_dir / "url" / key / base

    def _cached_unverified(self, source: WeightsSource) -> Path | None:
        if source.is_hub:
            hf_hub_download = _huggingface_hub().hf_hub_download
            try:
                p = hf_hub_download(
                    source.repo_id, source.filename, revision=source.revision,
                    cache_dir=str(self._hf_cache), endpoint=self.endpoint, local_files_only=True,
                )
            except Exception:  # LocalEntryNotFoundError and friends: simply not cached
                return None
            p = Path(p)
            return p if p.is_file() else None
        p = self._url_path(source)
        return p if p.is_file() else None

    def _not_cached_message(self, source: WeightsSource, why: str = "") -> str:
        where = "the Hub" if source.is_hub else "the weights server"
        state = f"{where} {why}" if why else "this machine is offline (offline setting or HF_HUB_OFFLINE)"
        return (
            f"the weights {source.describe()} are not cached and {state}. Prefetch them: run the "
            "tool rsai:download_model with this model on a connected machine, then copy its cache "
            f"folder here ({self.cache_dir}; the cache folder is a setting of the provider)."
        )

    # -- verification -------------------------------------------------------------------------
    def _verify(self, source: WeightsSource, path: Path, downloaded: bool = False) -> None:
        """Check ``path`` against the published sha256, else the first-use record. A file just
        ``downloaded`` (its name's hex prefix, if any, checked) is recorded when it has no
        record yet and matches what is published, so the same file fetched later without a
        published checksum (a Hub reference) is known; a cached file with neither a published
        checksum nor a record is refused."""
        actual = self._sha256(path)
        if downloaded:
            self._check_name_prefix(source, path, actual)
        expected = source.sha256
        recorded = None
        if expected is None or downloaded:
            with self._tofu_lock():
                tofu = self._read_tofu()
                recorded = _recorded_sha256(tofu, source)
                if recorded is None and downloaded and expected in (None, actual):
                    tofu[source.identity()] = actual
                    self._write_tofu(tofu)
        if expected is None:
            if recorded is None and not downloaded:
                raise UserError(
                    f"the cached file {path} ({source.describe()}) has no published checksum and "
                    f"no record of its first download in {self.cache_dir / _TOFU_FILE}, so it "
                    "cannot be trusted (a cache copied without its tofu.json, or a file put there "
                    "by hand). Remove this model from the cache (model manager, or delete the "
                    "file) and download it again, or copy the whole cache folder with its "
                    "tofu.json.")
            if recorded is None:
                self.log(
                    f"no published checksum: recorded sha256 {actual} on first use for "
                    f"{source.describe()}; later uses are verified against it ({self.cache_dir / _TOFU_FILE})."
                )
                return
            expected = recorded
        recorded = expected != source.sha256
        if actual == expected:
            return
        self._delete(source, path)
        origin = f"recorded on first use in {self.cache_dir / _TOFU_FILE}" if recorded else "published"
        fix = (
            "Run again to re-download it; if the source changed on purpose, remove this model from the "
            "cache (its first-use record goes with it) and download again."
            if recorded
            else "Run again to re-download it; if the source changed, the model card's sha256 must be updated."
        )
        raise UserError(
            f"checksum mismatch for {path.name} ({source.describe()}): expected {expected} ({origin}), "
            f"got {actual}; the download is corrupt or the source changed. The bad file was deleted. {fix}"
        )

    def _delete(self, source: WeightsSource, path: Path) -> None:
        targets = [path]
        if source.is_hub and path.is_symlink():
            targets.append(Path(os.path.realpath(path)))  # the blob the snapshot points to
        for p in targets:
            try:
                p.unlink()
            except FileNotFoundError:
                pass
        if not source.is_hub:
            try:
                path.parent.rmdir()
            except OSError:
                pass

    def _sha256(self, path: Path) -> str:
        stat = Path(path).stat()
        key = (str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns,
               stat.st_ino)
        if key not in self._digests:
            self._digests[key] = sha256_file(path)
        return self._digests[key]

    def _check_name_prefix(self, source: WeightsSource, path: Path, actual: str) -> None:
        """A name like ``unet-5d591cbb.pth`` promises a sha256 starting 5d591cbb: hold it to it."""
        match = _HASH_PREFIX.search(source.filename or Path(path).name)
        if match and not actual.startswith(match.group(1)):
            self._delete(source, path)
            raise UserError(
                f"the download {source.describe()} has sha256 {actual}, but its file name says "
                f"it starts with {match.group(1)}: the file is corrupt or was swapped. The bad "
                "file was deleted; run again to re-download it, and if it fails again report it "
                "to the model's publisher.")

    @contextlib.contextmanager
    def _tofu_lock(self):
        """An exclusive lock on ``tofu.json.lock`` around a read-modify-write of the record, so
        two runs (threads or processes) never lose each other's records."""
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        with open(self.cache_dir / (_TOFU_FILE + ".lock"), "a+b") as handle:
            try:
                import fcntl
            except ImportError:  # Windows
                import msvcrt
                handle.seek(0)
                msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)
                try:
                    yield
                finally:
                    handle.seek(0)
                    msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
                return
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _read_tofu(self) -> dict[str, str | dict]:
        """The first-use records; anything but a readable JSON object fails closed."""
        record = self.cache_dir / _TOFU_FILE
        try:
            data = json.loads(record.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            data, problem = None, f"unreadable ({e})"
        else:
            problem = f"not a JSON object but {type(data).__name__}"
        if not isinstance(data, dict):
            raise UserError(f"the checksum record {record} is {problem}, so no cached weights "
                            "without a published checksum can be trusted. Delete it and the "
                            "cached weights it covered (the cache folder), then download them "
                            "again.") from None
        return data

    def _write_tofu(self, data: dict[str, str | dict]) -> None:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tofu.", suffix=".tmp", dir=self.cache_dir)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
        os.replace(tmp, self.cache_dir / _TOFU_FILE)

    # -- open revisions -----------------------------------------------------------------------
    def _fetch_open_revision(self, source: WeightsSource, progress, is_cancelled) -> Path:
        """Pinned by an earlier download: fetch that commit. Else resolve the repo's current
        commit, download the file there and record commit + sha256 (trust on first use)."""
        pinned = self.pinned(source)
        if pinned is not None:
            return self.fetch(pinned, progress, is_cancelled)
        if self.offline:
            raise WeightsUnavailable(self._not_cached_message(source))
        self._check_reachable(source)
        commit = self._current_commit(source)
        pinned = replace(source, revision=commit)
        if self._cached_unverified(pinned) is not None and source.sha256 is None:
            raise UserError(
                f"{source.describe()} is cached at commit {commit} but was not downloaded by this "
                f"store (no record in {self.cache_dir / _TOFU_FILE}), so it cannot be trusted. "
                "Remove this model from the cache and download it again.")
        path = self._cached_unverified(pinned) or self._download_hub(pinned, progress, is_cancelled)
        actual = sha256_file(path)
        self._check_name_prefix(pinned, path, actual)
        if source.sha256 is not None:
            self._verify(pinned, path)  # a published checksum still rules
        with self._tofu_lock():
            tofu = self._read_tofu()
            tofu[source.identity()] = {"revision": commit, "sha256": actual}
            self._write_tofu(tofu)
        self.log(f"{source.repo_id} had no pinned commit: pinned its current commit {commit} with "
                 f"{source.filename} sha256 {actual} ({self.cache_dir / _TOFU_FILE}); later uses "
                 "fetch that commit and verify that checksum.")
        progress(1.0)
        return path

    def _current_commit(self, source: WeightsSource) -> str:
        HfApi = _huggingface_hub().HfApi

        try:
            commit = HfApi(endpoint=self.endpoint).model_info(source.repo_id).sha
        except Exception as e:  # huggingface_hub and http client errors, explained below
            raise UserError(f"could not resolve the current commit of {source.repo_id} at "
                            f"{self.endpoint}: {_hub_failure(e, source)}. {_OFFLINE_HINT}") from None
        if not isinstance(commit, str) or not _HEX40.match(commit):
            raise UserError(f"the Hub at {self.endpoint} gave no commit id for {source.repo_id} "
                            f"(got {commit!r}); write the commit into the model card's revision.")
        return commit.lower()

    # -- downloads ----------------------------------------------------------------------------
    def _download_hub(self, source: WeightsSource, progress, is_cancelled) -> Path:
        hf_hub_download = _huggingface_hub().hf_hub_download

        self.log(f"downloading {source.describe()} from {self.endpoint} into {self._hf_cache}")
        bar = _progress_bar_class(progress, is_cancelled)
        try:
            p = hf_hub_download(
                source.repo_id, source.filename, revision=source.revision,
                cache_dir=str(self._hf_cache), endpoint=self.endpoint, tqdm_class=bar,
            )
        except Cancelled:
            self._remove_incomplete(source)
            raise
        except Exception as e:  # huggingface_hub and http client errors, explained below
            raise WeightsUnavailable(f"could not download {source.describe()} from {self.endpoint}: "
                                     f"{_hub_failure(e, source)}. {_OFFLINE_HINT}") from None
        path = Path(p)
        self.log(f"downloaded {source.describe()} ({format_size(path.stat().st_size)})")
        return path

    def _remove_incomplete(self, source: WeightsSource) -> None:
        blobs = self._hf_cache / f"models--{source.repo_id.replace('/', '--')}" / "blobs"
        for p in blobs.glob("*.incomplete"):
            try:
                p.unlink()
            except OSError:
                pass

    def _download_url(self, source: WeightsSource, progress, is_cancelled) -> Path:
        import requests

        target = self._url_path(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        self.log(f"downloading {source.describe()} into {target.parent}")
        fd, part_name = tempfile.mkstemp(prefix=target.name + ".", suffix=".part", dir=target.parent)
        part = Path(part_name)
        done = 0
        try:
            with os.fdopen(fd, "wb") as out:
                try:
                    with requests.get(source.url, stream=True, timeout=(15, 120)) as r:
                        _check_url(r.url, "weights download was redirected to")
                        if r.status_code != 200:
                            raise UserError(f"could not download {source.describe()}: the server answered "
                                            f"HTTP {r.status_code}. Check the url in the model card.")
                        total = int(r.headers.get("Content-Length") or 0)
                        if total:
                            self.log(f"size {format_size(total)}")
                        for chunk in r.iter_content(chunk_size=_CHUNK):
                            if is_cancelled():
                                raise Cancelled()
                            out.write(chunk)
                            done += len(chunk)
                            if total:
                                progress(min(done / total, 1.0))
                except requests.RequestException as e:
                    raise WeightsUnavailable(
                        f"could not download {source.describe()}: {type(e).__name__}. Check the network "
                        "connection, or prefetch with rsai:download_model on a connected machine."
                    ) from None
            if total and done != total:
                raise UserError(f"download of {source.describe()} is incomplete ({done} of {total} bytes); "
                                "run again.")
            os.replace(part, target)
        except BaseException:
            part.unlink(missing_ok=True)
            try:
                target.parent.rmdir()  # only if nothing else is there
            except OSError:
                pass
            raise
        self.log(f"downloaded {source.describe()} ({format_size(done)})")
        return target


_OFFLINE_HINT = ("If this machine has no internet access, prefetch the weights with "
                 "rsai:download_model on a connected machine and copy its cache folder here.")


def _hub_failure(error: Exception, source: WeightsSource) -> str:
    """Why a Hub request failed, in words (never the token)."""
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if isinstance(error, GatedRepoError):
        return ("the repo is gated: accept its terms on the model page with your account, then set "
                "HF_TOKEN to an access token of that account")
    if isinstance(error, RepositoryNotFoundError):
        return "the repo does not exist or is private (a private repo needs HF_TOKEN)"
    if isinstance(error, RevisionNotFoundError):
        return f"the repo has no commit {source.revision}"
    if isinstance(error, RemoteEntryNotFoundError):
        return f"the repo has no file {source.filename} at that commit"
    if isinstance(error, LocalEntryNotFoundError):
        return ("the Hub could not be reached or did not answer like a Hub "
                "(check the network connection, proxy or HF_ENDPOINT)")
    if isinstance(error, HfHubHTTPError):
        status = getattr(getattr(error, "response", None), "status_code", "?")
        return f"the Hub answered HTTP {status}"
    if isinstance(error, OSError):
        return f"{type(error).__name__}: {error.strerror or error}"
    return type(error).__name__  # network errors from the http client (connect, timeout, proxy)


def _recorded_sha256(tofu: dict, source: WeightsSource) -> str | None:
    """The sha256 recorded on first use: under the source itself, or, for a commit pinned at
    the first download of an open-revision source, in that source's record."""
    recorded = tofu.get(source.identity())
    if recorded is None and source.is_hub:
        record = tofu.get(replace(source, revision=None).identity())
        if isinstance(record, dict) and record.get("revision") == source.revision:
            recorded = record.get("sha256")
    return recorded if isinstance(recorded, str) else None


def _progress_bar_class(progress: Callable[[float], None], is_cancelled: Callable[[], bool]):
    """A tqdm stand-in for ``hf_hub_download(tqdm_class=...)``: forwards progress, honours cancel."""
    from tqdm import tqdm

    class _Bar(tqdm):
        def __init__(self, *args, **kwargs):
            kwargs.pop("name", None)
            kwargs["disable"] = True  # no console bar; keep counting below
            super().__init__(*args, **kwargs)
            self._done = kwargs.get("initial", 0) or 0
            self._total = kwargs.get("total") or 0

        def update(self, n=1):
            if is_cancelled():
                raise Cancelled()
            self._done += n or 0
            if self._total:
                progress(min(self._done / self._total, 1.0))
            return super().update(n)

    return _Bar
