"""Bounded, link-proof reading of the files an untrusted child leaves for the grader.

The child writes ``.npy``/``.npz`` arrays and ``.keras`` models into folders it can write,
and a student submits a ``model.keras``; the parent (root) and the trusted worker read them.
A 10 KB file can declare a 3 GiB array (``np.load`` then allocates it), an HDF5 dataset can
be a few bytes of "fill value" that reads as gigabytes, a file name can be a symbolic link to
a grader file, a named pipe (``open`` blocks forever) or a hard link to the answer key. This
module refuses all of these *before* anything large is allocated, raising
:class:`UnsafeFile` with one sentence saying what was expected and what was found. It needs
only NumPy, h5py and the standard library (nothing else from the autograder).

Use it in two steps, so that the file that was checked is the file that is loaded:

1. ``copy_child_file(child_out, "case.npz", private / "case.npz", MAX_ARRAY_BYTES)`` (or
   ``open_child_file`` for the bytes): the child's folder is opened without following
   links, the entry must be one regular file with one link and at most ``max_bytes``;
2. ``safe_load_npz(private / "case.npz")``, ``safe_load_npy`` on the grader's private copy,
   which the child cannot change any more.

Every student ``.keras`` (saved by the child, or submitted) reaches the worker through one
gate, :func:`take_keras`: step 1, then :func:`check_keras_archive`, which checks the zip
alone and never opens the HDF5 inside, so that no root process parses a student's HDF5. Its
HDF5 is checked (:func:`check_keras`, from its metadata) only by the sandboxed worker (a
fresh uid in bubblewrap), right before Keras parses it there.

Limits (bytes are *declared* sizes, read from headers before any data is read):

- ``MAX_ARRAY_BYTES`` (64 MiB): one ``.npy`` array, or all arrays of one ``.npz`` together;
- ``MAX_NPZ_MEMBERS`` (256): arrays in one ``.npz``;
- ``MAX_MODEL_BYTES`` (256 MiB): a ``.keras`` archive uncompressed, and all its weights;
- ``MAX_JSON_BYTES`` (4 MiB): ``config.json`` and ``metadata.json`` of a ``.keras``;
- ``MAX_KERAS_MEMBERS`` (1024), ``MAX_H5_OBJECTS`` (100 000), ``MAX_H5_CHUNKS`` (1 000 000).

Not covered: bugs in the HDF5 C library itself (a crafted file could still crash the
process that parses it, which is why only the sandboxed worker runs :func:`check_keras`),
and HDF5 attributes, which are stored in full in the file (so they are bounded by its size).
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import math
import os
import stat
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

MAX_ARRAY_BYTES = 64 * 2**20
MAX_NPZ_MEMBERS = 256
MAX_MODEL_BYTES = 256 * 2**20
MAX_JSON_BYTES = 4 * 2**20
MAX_KERAS_MEMBERS = 1024
MAX_H5_OBJECTS = 100_000
MAX_H5_CHUNKS = 1_000_000

_NPY_HEADER_BYTES = 10_000  # NumPy's own default max_header_size
_ZIP_DIRECTORY_BYTES_PER_MEMBER = 1024  # central directory allowance (name, extras, comment)
_CHUNK = 2**20
_KERAS_FILES = ("config.json", "metadata.json", "model.weights.h5")
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"  # the first 8 bytes of an HDF5 file (no user block)
_HDF5_SUFFIXES = (".h5", ".hdf5", ".he5", ".hdf")
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafeFile(ValueError):
    """A child's file the grader refuses to read: the message is one sentence saying what
    was expected and what was found (shown to the student as is)."""


def _size(n: int) -> str:
    """``n`` bytes for people: 812 bytes, 10 KiB, 64 MiB, 3 GiB, 11.9 GiB."""
    if n < 1024:
        return f"{n} bytes"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        n /= 1024
        if n < 1024 or unit == "TiB":
            return f"{n:.3g} {unit}"
    raise AssertionError("unreachable")


# ---------------------------------------------------------------- files in a child's folder


def _parts(name: str) -> list[str]:
    """The components of a relative name like ``case.npz`` or ``out/case.npz``."""
    parts = name.split("/") if isinstance(name, str) else [""]
    if (not name or name.startswith("/")
            or any(p in ("", ".", "..") or "\0" in p for p in parts)):
        raise UnsafeFile(f"{name!r} is not a plain relative file name (no '..', no '/' first)")
    return parts


def _open_dir(path, dir_fd: int | None, label: str) -> int:
    try:
        return os.open(path, _DIR_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise UnsafeFile(f"{label} is not a plain folder (a symbolic link or a file)") \
                from None
        raise


def _kind(mode: int) -> str:
    kinds = [(stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a directory"),
             (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a device file"), (stat.S_ISBLK, "a device file")]
    return next((text for test, text in kinds if test(mode)), "not a regular file")


def _check_stat(st: os.stat_result, label: str, max_bytes: int) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeFile(f"{label} is {_kind(st.st_mode)}, expected a regular file")
    if st.st_nlink != 1:
        raise UnsafeFile(f"{label} has {st.st_nlink} hard links, expected 1 "
                         "(it may be a link to another file)")
    if st.st_size > max_bytes:
        raise UnsafeFile(f"{label} is {_size(st.st_size)}, more than the "
                         f"{_size(max_bytes)} allowed")


@contextlib.contextmanager
def _child_fd(folder: Path, name: str, max_bytes: int):
    """Yield ``(fd, stat)`` of ``folder/name``, opened without following any link below
    ``folder`` (``folder`` itself included) and checked to be one small regular file."""
    parts = _parts(name)
    fds = [_open_dir(folder, None, str(folder))]
    try:
        for i, part in enumerate(parts[:-1]):
            fds.append(_open_dir(part, fds[-1], "/".join(parts[: i + 1])))
        before = os.stat(parts[-1], dir_fd=fds[-1], follow_symlinks=False)
        _check_stat(before, name, max_bytes)  # a FIFO or a device is never opened
        try:
            fds.append(os.open(parts[-1], _READ_FLAGS, dir_fd=fds[-1]))
        except OSError as exc:  # replaced by a symbolic link since the stat
            if exc.errno == errno.ELOOP:
                raise UnsafeFile(f"{name} is a symbolic link, expected a regular file") \
                    from None
            raise
        after = os.fstat(fds[-1])
        _check_stat(after, name, max_bytes)  # O_NONBLOCK: a FIFO swapped in did not block
        if (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino):
            raise UnsafeFile(f"{name} was replaced by another file while being opened")
        yield fds[-1], after
    finally:
        for fd in reversed(fds):
            os.close(fd)


def open_child_file(folder: Path, name: str, max_bytes: int) -> bytes:
    """The content of ``folder/name`` (``name`` relative, e.g. ``"out/case.npz"``).

    Nothing below ``folder`` (nor ``folder``'s last component) may be a symbolic link;
    the file must be a regular file with one hard link and at most ``max_bytes``. Raises
    :class:`UnsafeFile` otherwise (never blocks on a FIFO), ``FileNotFoundError`` when the
    file or a folder is missing. ``folder``'s parents must not be writable by the child.
    """
    with _child_fd(folder, name, max_bytes) as (fd, st), open(fd, "rb", closefd=False) as f:
        data = f.read(st.st_size + 1)
    if len(data) != st.st_size:
        raise UnsafeFile(f"{name} changed size while being read ({st.st_size} bytes, "
                         f"then {len(data)})")
    return data


def copy_child_file(folder: Path, name: str, dest: Path, max_bytes: int) -> Path:
    """Copy ``folder/name`` (checked as in :func:`open_child_file`) to the grader's own
    ``dest``, created new (``O_EXCL``, mode 0600; ``FileExistsError`` if it exists), and
    return ``dest``. Check and load the copy: the child can no longer change it."""
    with _child_fd(folder, name, max_bytes) as (fd, st):
        out = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                      | os.O_CLOEXEC, 0o600)
        try:
            copied = 0
            while chunk := os.read(fd, min(_CHUNK, st.st_size + 1 - copied)):
                copied += len(chunk)
                if copied > st.st_size:
                    raise UnsafeFile(f"{name} grew while being copied (was "
                                     f"{st.st_size} bytes)")
                while chunk:
                    chunk = chunk[os.write(out, chunk):]
        except BaseException:
            os.close(out)
            os.unlink(dest)
            raise
        os.close(out)
    return Path(dest)


# ---------------------------------------------------------------- .npy and .npz


@contextlib.contextmanager
def _source(source, label: str | None):
    """Yield ``(file, length, label)`` for bytes or a path (opened without following a
    link; a grader's private copy is expected, but a FIFO or device is refused anyway)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        yield io.BytesIO(source), len(source), label or "the data"
        return
    label = label or os.fspath(source)
    try:
        fd = os.open(source, _READ_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeFile(f"{label} is a symbolic link, expected a regular file") from None
        raise
    with open(fd, "rb") as file:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeFile(f"{label} is {_kind(st.st_mode)}, expected a regular file")
        yield file, st.st_size, label


def _read_exact(fp, n: int, label: str, what: str) -> bytes:
    data = fp.read(n)
    if len(data) != n:
        raise UnsafeFile(f"{label} ends inside its {what} ({len(data)} of {n} bytes)")
    return data


def _npy_header(fp, length: int, label: str, max_bytes: int):
    """Parse a .npy header from ``fp`` (at its start; ``length`` bytes in all) and return
    ``(shape, dtype, nbytes)``; only the header is read (at most ~10 KB)."""
    magic = _read_exact(fp, 8, label, ".npy magic")
    if magic[:6] != np.lib.format.MAGIC_PREFIX:
        raise UnsafeFile(f"{label} is not a .npy array (it starts with {magic[:6]!r})")
    version = (magic[6], magic[7])
    if version not in ((1, 0), (2, 0)):
        raise UnsafeFile(f"{label} is .npy format version {version[0]}.{version[1]}, "
                         "expected 1.0 or 2.0")
    size_format = "<H" if version == (1, 0) else "<I"
    raw = _read_exact(fp, struct.calcsize(size_format), label, ".npy header")
    header_len = struct.unpack(size_format, raw)[0]
    if header_len > _NPY_HEADER_BYTES:  # np.load would read it all before checking
        raise UnsafeFile(f"{label} declares a .npy header of {_size(header_len)}, more "
                         f"than the {_size(_NPY_HEADER_BYTES)} allowed")
    raw += _read_exact(fp, header_len, label, ".npy header")
    reader = (np.lib.format.read_array_header_1_0 if version == (1, 0)
              else np.lib.format.read_array_header_2_0)
    try:
        shape, _, dtype = reader(io.BytesIO(raw), max_header_size=_NPY_HEADER_BYTES)
    except (ValueError, SyntaxError, TypeError) as exc:
        raise UnsafeFile(f"{label} has a broken .npy header ({exc})") from None
    data_len = length - 8 - len(raw)
    return shape, dtype, _check_declared(shape, dtype, data_len, label, max_bytes)


def _check_declared(shape, dtype, data_len: int, label: str, max_bytes: int) -> int:
    """The declared array's size in bytes, refused if objects, over ``max_bytes`` or not
    what the file holds."""
    if dtype.hasobject:
        raise UnsafeFile(f"{label} holds Python objects (dtype {dtype}), expected "
                         "numbers or strings")
    count = math.prod(shape)
    nbytes = count * dtype.itemsize
    if nbytes > max_bytes:
        raise UnsafeFile(f"{label} declares a {shape} {dtype} array ({_size(nbytes)}), "
                         f"more than the {_size(max_bytes)} allowed")
    if count > max_bytes:  # zero-sized items: billions of nothings
        raise UnsafeFile(f"{label} declares a {shape} array of {count} elements, more "
                         f"than the {max_bytes} allowed")
    if nbytes != data_len:
        raise UnsafeFile(f"{label} declares a {shape} {dtype} array of {nbytes} bytes "
                         f"but holds {data_len} bytes of data")
    return nbytes


def check_npy(source, max_bytes: int = MAX_ARRAY_BYTES, *, label: str | None = None):
    """Check a .npy (a path or its bytes) from its header alone; return ``(shape, dtype)``.

    Refused (:class:`UnsafeFile`): not .npy 1.0/2.0, a header over 10 KB, object dtypes,
    a declared array over ``max_bytes``, data shorter or longer than declared.
    """
    with _source(source, label) as (fp, length, label):
        shape, dtype, _ = _npy_header(fp, length, label, max_bytes)
    return shape, dtype


def _open_zip(fp, label: str, max_members: int) -> zipfile.ZipFile:
    """A ``ZipFile`` on ``fp`` once its central directory is known to be small (checked
    from the end record before ``zipfile`` parses it); no encryption, stored or deflated
    members only, no duplicate names."""
    end = zipfile._EndRecData(fp)  # private but stable since Python 2.6
    if end is None:
        raise UnsafeFile(f"{label} is not a zip archive")
    entries, directory = end[zipfile._ECD_ENTRIES_TOTAL], end[zipfile._ECD_SIZE]
    if entries > max_members or directory > max_members * _ZIP_DIRECTORY_BYTES_PER_MEMBER:
        raise UnsafeFile(f"{label} declares {entries} members ({_size(directory)} of "
                         f"directory), more than the {max_members} allowed")
    try:
        archive = zipfile.ZipFile(fp)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise UnsafeFile(f"{label} is not a valid zip archive ({exc})") from None
    names = archive.namelist()
    if len(names) > max_members or len(set(names)) != len(names):
        archive.close()
        raise UnsafeFile(f"{label} has {len(names)} members ({len(set(names))} distinct), "
                         f"expected at most {max_members} distinct ones")
    for info in archive.infolist():
        if info.flag_bits & 0x1 or info.compress_type not in (zipfile.ZIP_STORED,
                                                              zipfile.ZIP_DEFLATED):
            archive.close()
            raise UnsafeFile(f"{label} member {info.filename} is encrypted or compressed "
                             f"with method {info.compress_type}, expected stored or deflated")
    return archive


def _drain(stream, left: int, label: str, sink=None) -> None:
    """Read exactly ``left`` more bytes of a zip member in bounded chunks (written to
    ``sink`` if given, else dropped); ``zipfile`` checks the CRC at the end."""
    got = 0
    try:
        while chunk := stream.read(min(_CHUNK, left + 1 - got)):
            got += len(chunk)
            if got > left:
                break
            if sink is not None:
                sink.write(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        raise UnsafeFile(f"{label} is corrupt or not what its zip directory says ({exc})") \
            from None
    if got > left:
        raise UnsafeFile(f"{label} decompresses to more than the {left} bytes declared")
    if got < left:
        raise UnsafeFile(f"{label} decompresses to {got} bytes, not the {left} declared")


def _member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, label: str) -> io.BytesIO:
    """The whole of one (already size-checked) zip member, read with a bounded loop."""
    sink = io.BytesIO()
    with archive.open(info) as stream:
        _drain(stream, info.file_size, label, sink)
    sink.seek(0)
    return sink


_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError)


def _check_npz_file(fp, label: str, max_bytes: int, max_members: int) -> dict:
    found, total = {}, 0
    with _open_zip(fp, label, max_members) as archive:
        for info in archive.infolist():
            key = info.filename.removesuffix(".npy")
            where = f"{label} member {key}"
            if info.is_dir() or not info.filename.endswith(".npy"):
                raise UnsafeFile(f"{label} member {info.filename} is not a .npy array")
            try:
                with archive.open(info) as stream:
                    shape, dtype, nbytes = _npy_header(stream, info.file_size, where,
                                                       max_bytes)
                    total += nbytes
                    if total > max_bytes:
                        raise UnsafeFile(f"{label} declares {_size(total)} of arrays up to "
                                         f"member {key}, more than the {_size(max_bytes)} "
                                         "allowed in all")
                    _drain(stream, nbytes, where)
            except UnsafeFile:
                raise
            except _ZIP_ERRORS as exc:
                raise UnsafeFile(f"{where} is corrupt ({exc})") from None
            found[key] = (shape, dtype)
    return found


def check_npz(source, max_bytes: int = MAX_ARRAY_BYTES, max_members: int = MAX_NPZ_MEMBERS,
              *, label: str | None = None) -> dict:
    """Check a .npz (a path or its bytes); return ``{key: (shape, dtype)}``, keys as
    ``np.load`` names them.

    Refused (:class:`UnsafeFile`): more than ``max_members`` members (checked from the zip
    end record, before the directory is parsed), duplicate names, encryption, methods other
    than stored/deflated, members not ending in ``.npy``, any member failing
    :func:`check_npy`, arrays over ``max_bytes`` *in total* (the message names the member
    that crosses the line), and a member whose stream does not decompress to exactly its
    declared size with the right CRC (each member is decompressed once, in bounded chunks
    that are dropped).
    """
    with _source(source, label) as (fp, _, label):
        return _check_npz_file(fp, label, max_bytes, max_members)


def safe_load_npy(source, max_bytes: int = MAX_ARRAY_BYTES, *,
                  label: str | None = None) -> np.ndarray:
    """:func:`check_npy`, then ``np.load(allow_pickle=False)`` of the same open file."""
    with _source(source, label) as (fp, length, label):
        _npy_header(fp, length, label, max_bytes)
        fp.seek(0)
        return np.load(fp, allow_pickle=False)


def safe_load_npz(source, max_bytes: int = MAX_ARRAY_BYTES,
                  max_members: int = MAX_NPZ_MEMBERS, *, label: str | None = None) -> dict:
    """:func:`check_npz`, then every array of the same open file: ``{key: ndarray}``."""
    with _source(source, label) as (fp, _, label):
        _check_npz_file(fp, label, max_bytes, max_members)
        fp.seek(0)
        with np.load(fp, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}


# ---------------------------------------------------------------- .keras models


def _keras_name(name: str) -> bool:
    """Members a Keras 3 ``model.save("x.keras")`` writes: the three files and assets/."""
    if name in _KERAS_FILES or name == "assets/":
        return True
    rest = name.removeprefix("assets/").rstrip("/")
    return (name.startswith("assets/") and "\\" not in name
            and all(part not in ("", ".", "..") for part in rest.split("/")))


def check_keras_archive(source, max_bytes: int = MAX_MODEL_BYTES, *,
                        label: str | None = None) -> int:
    """Check a ``.keras`` archive (a path or its bytes) at the zip level alone, never opening
    the HDF5 inside (what the parent may do); return ``model.weights.h5``'s size.

    Refused (:class:`UnsafeFile`): more than ``MAX_KERAS_MEMBERS`` members, members other
    than ``config.json``, ``metadata.json``, ``model.weights.h5`` and ``assets/...``, no
    config or weights, more than ``max_bytes`` uncompressed in all, JSON files over
    ``MAX_JSON_BYTES`` or not a JSON object, a member not decompressing to its declared
    size, weights without the HDF5 signature, and HDF5 data in any other member.
    """
    with _source(source, label) as (fp, _, label), \
            _open_zip(fp, label, MAX_KERAS_MEMBERS) as archive:
        _check_keras_members(archive, label, max_bytes)
        return archive.getinfo("model.weights.h5").file_size


def check_keras(source, max_bytes: int = MAX_MODEL_BYTES, *,
                label: str | None = None) -> dict:
    """:func:`check_keras_archive`, then the weights' HDF5 from its metadata
    (:func:`_check_weights`: declared dataset sizes over ``max_bytes`` in all, links,
    external or virtual storage, non-numeric data); return ``{weights dataset path: (shape,
    dtype)}``. It parses the student's HDF5: for the sandboxed worker only, never root."""
    with _source(source, label) as (fp, _, label), \
            _open_zip(fp, label, MAX_KERAS_MEMBERS) as archive:
        weights = _check_keras_members(archive, label, max_bytes, keep_weights=True)
    return _check_weights(weights, f"{label} model.weights.h5", max_bytes)


def take_keras(folder: Path, name: str, dest: Path, max_bytes: int = MAX_MODEL_BYTES) -> Path:
    """The one gate every student ``.keras`` passes before the worker: ``folder/name``
    copied as :func:`copy_child_file` does to the grader's new ``dest`` and checked there by
    :func:`check_keras_archive` (messages name ``name``), then readable by the worker's uid.
    Returns ``dest``; on :class:`UnsafeFile` no copy is left."""
    dest = copy_child_file(folder, name, dest, max_bytes)
    try:
        check_keras_archive(dest, max_bytes, label=name)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    dest.chmod(0o644)  # for the worker's uid; its folder admits only that uid
    return dest


class _Sink:
    """Where a member is drained: its first bytes kept, the rest kept only if ``keep``."""

    def __init__(self, keep: bool = False):
        self.head, self.data = b"", io.BytesIO() if keep else None

    def write(self, chunk: bytes) -> None:
        if len(self.head) < len(HDF5_SIGNATURE):
            self.head += chunk[: len(HDF5_SIGNATURE) - len(self.head)]
        if self.data is not None:
            self.data.write(chunk)


def _check_keras_members(archive: zipfile.ZipFile, label: str, max_bytes: int,
                         keep_weights: bool = False) -> io.BytesIO | None:
    """The zip-level checks of :func:`check_keras_archive`: every member decompressed once,
    in bounded chunks; returns the weights' bytes when ``keep_weights``."""
    infos = {info.filename: info for info in archive.infolist()}
    odd = sorted(name for name in infos if not _keras_name(name))
    if odd:
        raise UnsafeFile(f"{label} holds {odd[0]!r}, expected only "
                         f"{', '.join(_KERAS_FILES)} and assets/")
    missing = [name for name in ("config.json", "model.weights.h5") if name not in infos]
    if missing:
        raise UnsafeFile(f"{label} has no {missing[0]}, expected a Keras 3 model archive")
    total = sum(info.file_size for info in infos.values())
    if total > max_bytes:
        raise UnsafeFile(f"{label} declares {_size(total)} uncompressed, more than the "
                         f"{_size(max_bytes)} allowed")
    weights = None
    for name, info in sorted(infos.items()):
        where = f"{label} {name}"
        try:
            if name.endswith(".json"):
                _check_json(info, where, archive)
                continue
            sink = _Sink(keep=keep_weights and name == "model.weights.h5")
            with archive.open(info) as stream:
                _drain(stream, info.file_size, where, sink)
        except UnsafeFile:
            raise
        except _ZIP_ERRORS as exc:  # e.g. a local header that differs from the directory
            raise UnsafeFile(f"{where} is corrupt ({exc})") from None
        _check_hdf5_place(name, sink.head, label)
        if sink.data is not None:
            sink.data.seek(0)
            weights = sink.data
    return weights


def _check_hdf5_place(name: str, head: bytes, label: str) -> None:
    """HDF5 in ``model.weights.h5`` only, and there for sure (from the first bytes alone)."""
    if name == "model.weights.h5":
        if head != HDF5_SIGNATURE:
            raise UnsafeFile(f"{label} model.weights.h5 is not an HDF5 file (it starts with "
                             f"{head!r}, expected {HDF5_SIGNATURE!r})")
    elif head == HDF5_SIGNATURE or name.lower().endswith(_HDF5_SUFFIXES):
        raise UnsafeFile(f"{label} holds HDF5 data in {name}, expected it only in "
                         "model.weights.h5")


def _check_json(info: zipfile.ZipInfo, label: str, archive: zipfile.ZipFile) -> None:
    if info.file_size > MAX_JSON_BYTES:
        raise UnsafeFile(f"{label} is {_size(info.file_size)}, more than the "
                         f"{_size(MAX_JSON_BYTES)} allowed")
    text = _member(archive, info, label).getvalue()
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise UnsafeFile(f"{label} is not valid JSON ({str(exc)[:80]})") from None
    if not isinstance(value, dict):
        raise UnsafeFile(f"{label} holds a JSON {type(value).__name__}, expected an object")


def _check_weights(data: io.BytesIO, label: str, max_bytes: int) -> dict:
    """Check a Keras weights HDF5 file from its metadata alone (no dataset is read): every
    link a hard link, at most ``MAX_H5_OBJECTS``, every dataset as in :func:`_check_dataset`,
    declared dataset sizes at most ``max_bytes`` in all. Returns ``{path: (shape, dtype)}``."""
    import h5py

    try:
        weights = h5py.File(data, "r")
    except OSError as exc:
        raise UnsafeFile(f"{label} is not an HDF5 file ({exc})") from None
    with weights:
        links = []

        def visit(name, link):  # a value other than None stops the visit
            links.append((name, link))
            return True if len(links) > MAX_H5_OBJECTS else None

        weights.visititems_links(visit)
        if len(links) > MAX_H5_OBJECTS:
            raise UnsafeFile(f"{label} holds more than {MAX_H5_OBJECTS} objects")
        found, total = {}, 0
        for name, link in links:
            if not isinstance(link, h5py.HardLink):
                raise UnsafeFile(f"{label} has a link of type {type(link).__name__} at "
                                 f"{name}, expected only groups and datasets")
            item = weights[name]
            if isinstance(item, h5py.Dataset):
                shape, dtype, nbytes = _check_dataset(item, f"{label} dataset {name}",
                                                      max_bytes - total)
                total += nbytes
                found[name] = (shape, dtype)
    return found


def _check_dataset(dataset, label: str, max_bytes: int):
    """``(shape, dtype, nbytes)`` of an HDF5 dataset from its metadata, refused if virtual,
    stored in external files, not numbers, declaring more than ``max_bytes`` (whatever the
    compression or fill value: that is what reading it allocates), or in too many chunks."""
    if dataset.is_virtual:
        raise UnsafeFile(f"{label} is a virtual dataset (it reads other files)")
    if dataset.external:
        raise UnsafeFile(f"{label} keeps its data in an external file "
                         f"{os.fsdecode(dataset.external[0][0])!r}")
    dtype = dataset.dtype
    if dtype.kind not in "biufc":
        raise UnsafeFile(f"{label} has dtype {dtype}, expected numbers")
    shape = dataset.shape or ()  # None: an empty dataspace
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > max_bytes:
        raise UnsafeFile(f"{label} declares a {shape} {dtype} array ({_size(nbytes)}), "
                         f"more than the {_size(max_bytes)} allowed")
    if dataset.chunks:
        pairs = zip(shape, dataset.chunks, strict=True)
        chunks = math.prod(-(-size // chunk) for size, chunk in pairs)
        if chunks > MAX_H5_CHUNKS:
            raise UnsafeFile(f"{label} is split into {chunks} chunks, more than the "
                             f"{MAX_H5_CHUNKS} allowed")
    return shape, dtype, nbytes
