"""Checked downloads for full mode: progress bar, sha256, atomic extraction, clear errors.

A file is streamed to ``<cache>/downloads/<filename>.part`` while its sha256 is computed; only
a complete download with the expected checksum is renamed to its final name. Archives are
extracted into a temporary sibling folder and renamed into place in one step, with a marker
file written last, so an interrupted run never leaves a half cache that a later run trusts.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from seqlab.paths import DATA_DIR, cache_dir

_CHUNK = 1 << 20
_COMPLETE_MARKER = ".seqlab-complete"


class DownloadError(RuntimeError):
    """A download could not be completed; the message says what to do."""


class ChecksumError(DownloadError):
    """The downloaded bytes do not match the manifest's sha256."""


@dataclass(frozen=True)
class Source:
    """One downloadable file, as listed in ``data/sources.json``."""

    name: str
    url: str
    filename: str
    sha256: str
    size: int | None = None
    license: str = ""
    citation: str = ""
    description: str = ""


def load_manifest(path: Path | None = None) -> dict[str, Source]:
    """Read the source manifest (``data/sources.json``) into ``{name: Source}``."""
    path = path or DATA_DIR / "sources.json"
    raw = json.loads(Path(path).read_text())
    return {name: Source(name=name, **fields) for name, fields in raw.items()}


def source(name: str) -> Source:
    """The manifest entry called ``name``; a clear error lists the known names."""
    manifest = load_manifest()
    if name not in manifest:
        raise KeyError(f"no source called {name!r} in data/sources.json; known: {sorted(manifest)}")
    return manifest[name]


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(src: Source, *, cache: Path | None = None, progress: bool = True,
          timeout: float = 60.0) -> Path:
    """Download ``src`` into ``<cache>/downloads/`` (once) and return the verified file.

    A file already there is re-hashed and reused only if its sha256 matches. Raises
    :class:`DownloadError` (offline, HTTP error, interrupted transfer) or
    :class:`ChecksumError`; neither leaves a file at the final path.
    """
    folder = (cache or cache_dir()) / "downloads"
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / src.filename
    if final.exists():
        if sha256_of(final) == src.sha256:
            return final
        final.unlink()  # a stale or tampered copy is never trusted
    partial = folder / (src.filename + ".part")
    try:
        digest, received, expected = _stream(src, partial, progress=progress, timeout=timeout)
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as err:
        partial.unlink(missing_ok=True)
        reason = getattr(err, "reason", None) or err
        raise DownloadError(
            f"Could not download {src.name} from {src.url} ({reason}): this needs internet "
            f"access, so run it in Colab or on a connected machine, or copy {src.filename} "
            f"(sha256 {src.sha256}) into {folder} by hand and run again."
        ) from None
    if expected is not None and received != expected:
        partial.unlink(missing_ok=True)
        raise DownloadError(
            f"The download of {src.name} was interrupted: got {received:,} of {expected:,} bytes "
            f"from {src.url}. Nothing was cached; run again to retry."
        )
    if digest != src.sha256:
        partial.unlink(missing_ok=True)
        raise ChecksumError(
            f"The download of {src.name} is corrupted: expected sha256 {src.sha256}, got {digest} "
            f"({received:,} bytes from {src.url}). Nothing was cached; run again, and if it "
            f"persists the file on the server has changed: report it."
        )
    os.replace(partial, final)
    return final


def _stream(src: Source, partial: Path, *, progress: bool, timeout: float):
    """Copy the URL's body into ``partial``; return (sha256, bytes received, bytes announced)."""
    digest = hashlib.sha256()
    received = 0
    request = urllib.request.Request(src.url, headers={"User-Agent": "seqlab"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        expected = int(length) if length is not None else src.size
        with open(partial, "wb") as out, tqdm(
            total=expected, unit="B", unit_scale=True, unit_divisor=1024,
            desc=src.filename, disable=not progress,
        ) as bar:
            while True:
                try:
                    chunk = response.read(_CHUNK)
                except Exception as err:  # http.client.IncompleteRead and friends
                    raise ConnectionError(f"transfer broke off after {received:,} bytes: {err}") \
                        from None
                if not chunk:
                    break
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    return digest.hexdigest(), received, expected


def extract(archive: Path, target: Path, *, members: list[str] | None = None) -> Path:
    """Extract ``archive`` (.tar.gz or .zip) to ``target`` atomically and return ``target``.

    ``target`` counts as done only when its completion marker exists; a folder without one
    (left by a crash) is removed and extracted again. Only ``members`` are extracted when given.
    Paths that would escape ``target`` are refused.
    """
    if (target / _COMPLETE_MARKER).exists():
        return target
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent))
    try:
        if archive.name.endswith((".tar.gz", ".tgz", ".tar")):
            with tarfile.open(archive) as tar:
                chosen = [tar.getmember(m) for m in members] if members else None
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(staging, members=chosen, filter="data")
                else:  # Python < 3.10.12 / 3.11.4: check paths by hand
                    for member in chosen or tar.getmembers():
                        _check_inside(staging, member.name)
                    tar.extractall(staging, members=chosen)
        elif archive.name.endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                for name in members or zf.namelist():
                    _check_inside(staging, name)
                zf.extractall(staging, members=members)
        else:
            raise ValueError(f"cannot extract {archive.name}: expected .tar.gz or .zip")
        (staging / _COMPLETE_MARKER).write_text(sha256_of(archive) if archive.exists() else "")
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _check_inside(root: Path, name: str) -> None:
    resolved = (root / name).resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise DownloadError(f"archive member {name!r} would be written outside {root}; refused")


def fetch_and_extract(name: str, *, members: list[str] | None = None,
                      progress: bool = True) -> Path:
    """Download the manifest source ``name`` (checked) and extract it into the cache.

    Returns the extracted folder ``<cache>/<name>``.
    """
    src = source(name)
    target = cache_dir() / name
    if (target / _COMPLETE_MARKER).exists():
        return target
    archive = fetch(src, progress=progress)
    return extract(archive, target, members=members)
