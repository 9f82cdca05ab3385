"""A local stand-in for the Hugging Face Hub and for authors' own file hosting.

Tests point ``WeightsStore(endpoint=server.endpoint)`` (or ``HF_ENDPOINT``) at it, so the real
``huggingface_hub`` client and the real ``requests`` download path run end to end without the
internet. It serves only what ``hf_hub_download`` needs for a pinned revision:

``HEAD|GET /{owner}/{repo}/resolve/{revision}/{path}``
    200 with the bytes, ``ETag: "<sha256>"`` (huggingface_hub names the cached blob after it),
    ``X-Repo-Commit: <revision>`` (required, or the client refuses the endpoint) and
    ``Content-Length``. Unknown repo, revision or file: 404 with the Hub's ``X-Error-Code``.
``GET /api/models/{owner}/{repo}`` (and ``.../revision/{revision}``)
    The repo's info as ``HfApi.model_info`` reads it: ``{"id", "sha", "siblings"}``, ``sha``
    being the repo's current commit (the revision added last, or the one ``set_head`` named).
``HEAD|GET /files/{path}``
    Plain static files for URL sources (no Hub headers).

Everything else is 404. Every request is recorded in ``server.requests`` so tests can assert
that a cached fetch made none.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")
_MODEL_INFO = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+?)(?:/revision/(?P<rev>[^/]+))?/?$")
CHUNK = 64 * 1024


class HubServer:
    """``with HubServer(tmp_path) as server: server.add_file("o/r", rev, "m.onnx", b"...")``.

    Layout under ``root_dir``: ``repos/<owner>/<repo>/<revision>/<path>`` and ``files/<path>``;
    files placed there by hand are served too.
    """

    def __init__(self, root_dir: str | Path):
        self.root = Path(root_dir)
        (self.root / "repos").mkdir(parents=True, exist_ok=True)
        (self.root / "files").mkdir(parents=True, exist_ok=True)
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # (method, path, headers)
        self.heads: dict[str, str] = {}  # repo id -> current commit
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- content ------------------------------------------------------------------------------
    def add_file(self, repo_id: str, revision: str, path: str, data: bytes) -> str:
        """Put ``data`` at ``path`` in ``repo_id`` at ``revision``; returns its sha256."""
        target = self.root / "repos" / repo_id / revision / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        self.heads[repo_id] = revision
        return hashlib.sha256(data).hexdigest()

    def set_head(self, repo_id: str, revision: str) -> None:
        """Make ``revision`` the repo's current commit (what model_info answers)."""
        self.heads[repo_id] = revision

    def add_url_file(self, path: str, data: bytes) -> str:
        """Put ``data`` under ``/files/<path>``; returns its URL."""
        target = self.root / "files" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return f"{self.endpoint}/files/{urllib.parse.quote(path)}"

    # -- life cycle ---------------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        if self._httpd is None:
            raise RuntimeError("HubServer is not started; use it as a context manager")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def count(self, method: str | None = None) -> int:
        with self._lock:
            return sum(1 for m, _, _ in self.requests if method is None or m == method)

    def start(self) -> "HubServer":
        server = self

        class Handler(_Handler):
            hub = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "HubServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    hub: HubServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # keep test output quiet
        pass

    def do_HEAD(self):
        self._serve(body=False)

    def do_GET(self):
        self._serve(body=True)

    def _serve(self, body: bool) -> None:
        with self.hub._lock:
            self.hub.requests.append((self.command, self.path, dict(self.headers.items())))
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        if ".." in path.split("/"):
            return self._not_found()
        m = _MODEL_INFO.match(path)
        if m and self.command == "GET":
            return self._model_info(m["repo"], m["rev"])
        m = _RESOLVE.match(path)
        if m:
            repo_dir = self.hub.root / "repos" / m["repo"]
            if not repo_dir.is_dir():
                return self._not_found("RepoNotFound")
            rev = m["rev"]
            if not (repo_dir / rev).is_dir():
                return self._not_found("RevisionNotFound")
            file = repo_dir / rev / m["path"]
            if not file.is_file():
                return self._not_found("EntryNotFound", {"X-Repo-Commit": rev})
            data = file.read_bytes()
            etag = hashlib.sha256(data).hexdigest()
            return self._send_file(file, body, {"ETag": f'"{etag}"', "X-Repo-Commit": rev})
        if path.startswith("/files/"):
            file = self.hub.root / "files" / path[len("/files/"):]
            if file.is_file():
                return self._send_file(file, body, {})
        return self._not_found()

    def _model_info(self, repo_id: str, revision: str | None) -> None:
        repo_dir = self.hub.root / "repos" / repo_id
        if not repo_dir.is_dir():
            return self._not_found("RepoNotFound")
        commit = self.hub.heads.get(repo_id) if revision in (None, "main") else revision
        if commit is None or not (repo_dir / commit).is_dir():
            return self._not_found("RevisionNotFound")
        files = sorted(p.relative_to(repo_dir / commit).as_posix()
                       for p in (repo_dir / commit).rglob("*") if p.is_file())
        body = json.dumps({"id": repo_id, "sha": commit,
                           "siblings": [{"rfilename": f} for f in files]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_file(self, file: Path, body: bool, headers: dict[str, str]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(file.stat().st_size))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if not body:
            return
        try:
            with open(file, "rb") as f:
                shutil.copyfileobj(f, self.wfile, CHUNK)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client cancelled; nothing to clean up

    def _not_found(self, error_code: str | None = None, extra: dict[str, str] | None = None) -> None:
        msg = b"Not found"
        self.send_response(404)
        if error_code:
            self.send_header("X-Error-Code", error_code)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(msg)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(msg)
