"""Checked downloads against a local HTTP server on 127.0.0.1: good, corrupted, interrupted."""

import hashlib
import io
import socket
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from seqlab.download import (
    ChecksumError,
    DownloadError,
    Source,
    extract,
    fetch,
    load_manifest,
    sha256_of,
)


def _tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


ARCHIVE = _tarball({"corpus/train/a.txt": b"a good film", "corpus/test/b.txt": b"a bad film"})
SHA = hashlib.sha256(ARCHIVE).hexdigest()


class _Handler(BaseHTTPRequestHandler):
    hits: ClassVar[dict[str, int]] = {}

    def do_GET(self):
        _Handler.hits[self.path] = _Handler.hits.get(self.path, 0) + 1
        if self.path == "/missing.tar.gz":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(ARCHIVE)))
        self.end_headers()
        if self.path == "/interrupted.tar.gz":
            self.wfile.write(ARCHIVE[: len(ARCHIVE) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(ARCHIVE)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _source(url, sha=SHA, name="corpus"):
    return Source(name=name, url=url, filename=url.rsplit("/", 1)[1], sha256=sha)


def _leftovers(folder):
    return sorted(p.name for p in folder.rglob("*"))


def test_good_download_is_verified_cached_and_extracted(server, tmp_path):
    src = _source(f"{server}/good.tar.gz")
    path = fetch(src, cache=tmp_path, progress=False)
    assert path == tmp_path / "downloads" / "good.tar.gz" and sha256_of(path) == SHA
    assert fetch(src, cache=tmp_path, progress=False) == path
    assert _Handler.hits["/good.tar.gz"] == 1, "a verified file must not be downloaded again"
    target = extract(path, tmp_path / "corpus")
    assert (target / "corpus" / "train" / "a.txt").read_bytes() == b"a good film"
    assert not list(tmp_path.glob("*.tmp")), "no staging folder may be left behind"


def test_bad_checksum_is_a_clear_error_and_caches_nothing(server, tmp_path):
    src = _source(f"{server}/good.tar.gz", sha="0" * 64)
    with pytest.raises(ChecksumError, match=r"corrupted: expected sha256 0{64}, got " + SHA):
        fetch(src, cache=tmp_path, progress=False)
    assert _leftovers(tmp_path) == ["downloads"]


def test_interrupted_transfer_is_a_clear_error_and_caches_nothing(server, tmp_path):
    src = _source(f"{server}/interrupted.tar.gz")
    with pytest.raises(DownloadError, match=r"interrupted|broke off|Could not download"):
        fetch(src, cache=tmp_path, progress=False)
    assert _leftovers(tmp_path) == ["downloads"]


def test_http_error_and_offline_say_what_to_do(server, tmp_path):
    with pytest.raises(DownloadError, match=r"needs internet access.*copy missing\.tar\.gz"):
        fetch(_source(f"{server}/missing.tar.gz"), cache=tmp_path, progress=False)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DownloadError, match="run it in Colab or on a connected machine"):
        fetch(_source(f"http://127.0.0.1:{port}/x.tar.gz"), cache=tmp_path, progress=False)
    assert _leftovers(tmp_path) == ["downloads"]


def test_a_tampered_cached_file_is_replaced(server, tmp_path):
    src = _source(f"{server}/tampered.tar.gz")
    (tmp_path / "downloads").mkdir()
    (tmp_path / "downloads" / "tampered.tar.gz").write_bytes(b"not the archive")
    path = fetch(src, cache=tmp_path, progress=False)
    assert sha256_of(path) == SHA


def test_failed_extraction_leaves_no_half_cache(tmp_path):
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(ARCHIVE[: len(ARCHIVE) // 2])
    with pytest.raises(Exception):  # noqa: B017 - any tarfile error; what matters is the cache
        extract(broken, tmp_path / "out")
    assert _leftovers(tmp_path) == ["broken.tar.gz"]


def test_a_crashed_extraction_is_redone(tmp_path):
    archive = tmp_path / "good.tar.gz"
    archive.write_bytes(ARCHIVE)
    half = tmp_path / "out"
    (half / "corpus").mkdir(parents=True)  # left by a crash: no completion marker
    target = extract(archive, half)
    assert (target / "corpus" / "test" / "b.txt").exists()


def test_members_escaping_the_target_are_refused(tmp_path):
    archive = tmp_path / "evil.tar.gz"
    archive.write_bytes(_tarball({"../escaped.txt": b"x"}))
    with pytest.raises(Exception, match=r"outside|path"):
        extract(archive, tmp_path / "out")
    assert not (tmp_path / "escaped.txt").exists()


def test_manifest_lists_checksummed_sources():
    manifest = load_manifest()
    assert {"aclImdb", "glove.6B"} <= set(manifest)
    for src in manifest.values():
        assert src.url.startswith("https://") and len(src.sha256) == 64
        assert src.license and src.citation
