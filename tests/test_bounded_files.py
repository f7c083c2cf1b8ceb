"""Attacks through the files an untrusted child leaves for the grader (issue 13, outcome 6).

The child writes ``.npy``/``.npz``/``.keras`` files that the parent (root) and the trusted
worker then read. Each attack is first shown to work on the plain loaders (``np.load``,
``h5py``: what the grader did), then refused by ``autograder.safeload``.

Memory attacks run in a fresh Python (NumPy and h5py only) whose address space is capped
at 1 GiB over its baseline (RLIMIT_AS): a plain loader that asks for 3 GiB dies with
MemoryError, while the safe one raises UnsafeFile and its resident memory peak (VmHWM,
reset just before) stays within 16 MiB of its baseline. The other attacks (links, pipes,
odd archive members, HDF5 external storage) run in-process on files under ``tmp_path``.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import stat
import struct
import subprocess
import sys
import time
import tracemalloc
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from autograder import safeload
from autograder.safeload import (
    MAX_ARRAY_BYTES,
    UnsafeFile,
    check_keras,
    check_npy,
    check_npz,
    copy_child_file,
    open_child_file,
    safe_load_npy,
    safe_load_npz,
)

REPO = Path(__file__).resolve().parent.parent
GIB = 2**30


# ---------------------------------------------------------------- crafting files


def npy(shape, dtype="<f8", data: bytes = b"\0" * 10_000, version=(1, 0)) -> bytes:
    """A .npy whose header says ``shape``/``dtype`` and whose data is ``data`` (a lie)."""
    header = {"descr": dtype, "fortran_order": False, "shape": shape}
    out = io.BytesIO()
    writer = (np.lib.format.write_array_header_1_0 if version == (1, 0)
              else np.lib.format.write_array_header_2_0)
    writer(out, header)
    return out.getvalue() + data


def npy_of(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, array, allow_pickle=True)
    return out.getvalue()


def write_zip(path: Path, members: dict, compression=zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def patch_directory_size(path: Path, name: str, file_size: int) -> None:
    """Make the zip directory declare ``file_size`` uncompressed bytes for ``name``."""
    data = bytearray(path.read_bytes())
    entry = data.index(b"PK\x01\x02")
    while data[entry + 46: entry + 46 + len(name)] != name.encode():
        entry = data.index(b"PK\x01\x02", entry + 4)
    struct.pack_into("<I", data, entry + 24, file_size)
    path.write_bytes(bytes(data))


def edit_keras(src: Path, dest: Path, edit=None, extra: dict | None = None) -> Path:
    """A copy of the real archive ``src`` with its weights edited by ``edit(h5py.File)``
    and ``extra`` members added (a value None removes that member)."""
    with zipfile.ZipFile(src) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    if edit is not None:
        weights = dest.with_suffix(".h5")
        weights.write_bytes(members["model.weights.h5"])
        with h5py.File(weights, "a") as file:
            edit(file)
        members["model.weights.h5"] = weights.read_bytes()
    for name, data in (extra or {}).items():
        if data is None:
            del members[name]
        else:
            members[name] = data
    return write_zip(dest, members)


def bomb_weights(file: h5py.File) -> None:
    """The Dense kernel becomes a 3 GiB chunked, gzip-compressed dataset that was never
    written: a few KB on disk, reading it allocates (and fills) 3 GiB."""
    del file["layers/dense/vars/0"]
    file.create_dataset("layers/dense/vars/0", shape=(3, 2**28), dtype="<f4",
                        chunks=(1, 2**20), compression="gzip", fillvalue=0)


# ---------------------------------------------------------------- memory attacks

PRELUDE = """
import io, json, resource, sys, zipfile
import h5py, numpy as np
from autograder import safeload
path = sys.argv[1]
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
resource.setrlimit(resource.RLIMIT_AS, (status("VmSize") + 2**30, resource.RLIM_INFINITY))
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # VmHWM := VmRSS
baseline = status("VmRSS")
try:
    exec(sys.argv[2])
    result = {"outcome": "loaded"}
except BaseException as exc:
    result = {"outcome": type(exc).__name__, "message": str(exc)}
result["rss_growth"] = status("VmHWM") - baseline
print(json.dumps(result))
"""


def in_capped_python(path: Path, code: str) -> dict:
    """Run ``code`` (with ``path`` bound) in a fresh Python capped at 1 GiB more address
    space; its outcome (``loaded`` or the exception's type), message and RSS growth."""
    done = subprocess.run([sys.executable, "-c", PRELUDE, str(path), code], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def write_npy_3gib(path: Path, model: Path) -> None:
    path.write_bytes(npy((3 * 2**27,)))


def write_npy_4gib_header(path: Path, model: Path) -> None:
    path.write_bytes(b"\x93NUMPY\x02\x00" + struct.pack("<I", 2**32 - 1) + b" " * 10_000)


def write_npz_12gb(path: Path, model: Path) -> None:
    write_zip(path, {"r.0.npy": npy((40000, 40000))})


def write_keras_bomb(path: Path, model: Path) -> None:
    edit_keras(model, path, bomb_weights)


MEMORY_ATTACKS = {
    # name: (file name, write(path, real_model), plain loader, safe loader, its message)
    "npy declares 3 GiB": (
        "case.npy", write_npy_3gib,
        "np.load(path, allow_pickle=False)",
        "safeload.safe_load_npy(path, label='out/case.npy')",
        "out/case.npy declares a (402653184,) float64 array (3 GiB), more than the 64 MiB "
        "allowed"),
    "npy header length 4 GiB": (
        "case.npy", write_npy_4gib_header,
        "np.load(path, allow_pickle=False)",
        "safeload.safe_load_npy(path, label='out/case.npy')",
        "out/case.npy declares a .npy header of 4 GiB, more than the 9.77 KiB allowed"),
    "npz member declares 11.9 GiB": (
        "case.npz", write_npz_12gb,
        "np.load(path, allow_pickle=False)['r.0']",
        "safeload.safe_load_npz(path, label='out/case.npz')",
        "out/case.npz member r.0 declares a (40000, 40000) float64 array (11.9 GiB), more "
        "than the 64 MiB allowed"),
    "keras weights: 3 GiB of HDF5 fill value": (  # what the worker's full check refuses
        "model.keras", write_keras_bomb,
        "w = zipfile.ZipFile(path).read('model.weights.h5')\n"
        "np.asarray(h5py.File(io.BytesIO(w), 'r')['layers/dense/vars/0'])",
        "safeload.check_keras(path, label='model.keras')",
        "model.keras model.weights.h5 dataset layers/dense/vars/0 declares a (3, 268435456) "
        "float32 array (3 GiB), more than the 256 MiB allowed"),
}


def make_memory_attack(name: str, tmp_path: Path, model: Path) -> Path:
    file_name, write, *_ = MEMORY_ATTACKS[name]
    path = tmp_path / file_name
    write(path, model)
    assert path.stat().st_size < 20_000  # "a 10 KB file that declares a 3 GiB array"
    return path


@pytest.mark.parametrize("attack", list(MEMORY_ATTACKS))
def test_plain_loader_asks_for_gigabytes(attack, tmp_path, model_keras):
    path = make_memory_attack(attack, tmp_path, model_keras)
    result = in_capped_python(path, MEMORY_ATTACKS[attack][2])
    assert result["outcome"] == "MemoryError", result


@pytest.mark.parametrize("attack", list(MEMORY_ATTACKS))
def test_safe_loader_refuses_near_baseline(attack, tmp_path, model_keras):
    path = make_memory_attack(attack, tmp_path, model_keras)
    result = in_capped_python(path, MEMORY_ATTACKS[attack][3])
    assert (result["outcome"], result["message"]) == ("UnsafeFile", MEMORY_ATTACKS[attack][4])
    assert result["rss_growth"] < 16 * 2**20, result


def test_plain_h5_read_fills_resident_memory(tmp_path, model_keras):
    """Uncapped by the 1 GiB, a 300 MiB fill-value kernel (just over MAX_MODEL_BYTES) is
    really resident after a plain read; the safe check stays at the baseline."""
    def kernel(file):
        del file["layers/dense/vars/0"]
        file.create_dataset("layers/dense/vars/0", shape=(300, 2**18), dtype="<f4",
                            chunks=(1, 2**18), compression="gzip", fillvalue=1.0)

    path = edit_keras(model_keras, tmp_path / "model.keras", kernel)
    plain = in_capped_python(path, MEMORY_ATTACKS["keras weights: 3 GiB of HDF5 fill value"][2])
    assert plain["outcome"] == "loaded" and plain["rss_growth"] > 290 * 2**20, plain
    safe = in_capped_python(path, "safeload.check_keras(path)")
    assert safe["outcome"] == "UnsafeFile" and safe["rss_growth"] < 16 * 2**20, safe


def test_compressed_member_over_the_limit_is_refused_before_decompressing(tmp_path):
    path = tmp_path / "case.npz"
    np.savez_compressed(path, r=np.zeros(MAX_ARRAY_BYTES // 8 + 1))  # 64 MiB + 8 on 65 KB
    assert path.stat().st_size < 200_000
    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(UnsafeFile, match=r"member r declares a \(8388609,\) float64 array"):
        check_npz(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 2**20 and time.perf_counter() - start < 2  # 64 MiB not inflated


# ---------------------------------------------------------------- the child's folder


@pytest.fixture
def grader_secret(tmp_path) -> Path:
    """A grader-only array (e.g. the reference answers), outside the child's folder."""
    (tmp_path / "grader").mkdir()
    path = tmp_path / "grader" / "answers.npy"
    np.save(path, np.arange(5.0))
    return path


@pytest.fixture
def out(tmp_path) -> Path:
    (tmp_path / "child" / "out").mkdir(parents=True)
    return tmp_path / "child" / "out"


def test_honest_file_is_read_and_copied(out, tmp_path):
    np.save(out / "case.npy", np.eye(3))
    data = open_child_file(out.parent, "out/case.npy", 1000)
    assert np.array_equal(safe_load_npy(data), np.eye(3))
    copy = copy_child_file(out, "case.npy", tmp_path / "copy.npy", 1000)
    assert copy.read_bytes() == data and stat.S_IMODE(copy.stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):
        copy_child_file(out, "case.npy", copy, 1000)
    with pytest.raises(FileNotFoundError):
        open_child_file(out, "missing.npy", 1000)


def test_symlink_to_a_grader_file(out, grader_secret):
    (out / "case.npy").symlink_to(grader_secret)
    assert np.array_equal(np.load(out / "case.npy"), np.arange(5.0))  # plain: leaked
    with pytest.raises(UnsafeFile, match=r"^case.npy is a symbolic link, expected a regular"):
        open_child_file(out, "case.npy", 1000)


def test_symlinked_folder(out, grader_secret):
    os.rmdir(out)
    out.symlink_to(grader_secret.parent)
    assert np.array_equal(np.load(out / "answers.npy"), np.arange(5.0))  # plain: leaked
    with pytest.raises(UnsafeFile, match=r"out is not a plain folder"):
        open_child_file(out, "answers.npy", 1000)
    with pytest.raises(UnsafeFile, match=r"^out is not a plain folder"):
        open_child_file(out.parent, "out/answers.npy", 1000)


def test_hard_link_to_a_grader_file(out, grader_secret):
    os.link(grader_secret, out / "case.npy")
    assert np.array_equal(np.load(out / "case.npy"), np.arange(5.0))  # plain: leaked
    with pytest.raises(UnsafeFile, match=r"^case.npy has 2 hard links, expected 1"):
        open_child_file(out, "case.npy", 1000)


def test_fifo_blocks_plain_open_but_not_the_safe_one(out, tmp_path):
    os.mkfifo(out / "case.npy")
    with pytest.raises(subprocess.TimeoutExpired):  # plain: np.load waits for a writer
        subprocess.run([sys.executable, "-c", "import numpy, sys; numpy.load(sys.argv[1])",
                        str(out / "case.npy")], timeout=1.5)
    def hung(signum, frame):
        raise AssertionError("blocked on the FIFO")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(5)
    try:
        for call in (lambda: open_child_file(out, "case.npy", 1000),
                     lambda: copy_child_file(out, "case.npy", tmp_path / "c.npy", 1000),
                     lambda: safe_load_npy(out / "case.npy")):
            with pytest.raises(UnsafeFile, match=r"is a named pipe \(FIFO\), expected a reg"):
                call()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert not (tmp_path / "c.npy").exists()


def test_other_non_regular_files(out):
    (out / "folder").mkdir()
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(out / "sock"))
    try:
        with pytest.raises(UnsafeFile, match=r"^folder is a directory, expected a regular"):
            open_child_file(out, "folder", 1000)
        with pytest.raises(UnsafeFile, match=r"^sock is a socket, expected a regular file"):
            open_child_file(out, "sock", 1000)
    finally:
        server.close()
    if os.geteuid() == 0:  # root (the grader's parent) can meet a device node
        os.mknod(out / "zero", stat.S_IFCHR | 0o600, os.makedev(1, 5))
        with pytest.raises(UnsafeFile, match=r"^zero is a device file"):
            open_child_file(out, "zero", 1000)


def test_oversized_file_and_bad_names(out, tmp_path):
    (out / "big.npy").write_bytes(b"x" * 2000)
    with pytest.raises(UnsafeFile, match=r"^big.npy is 1.95 KiB, more than the 1000 bytes"):
        open_child_file(out, "big.npy", 1000)
    with pytest.raises(UnsafeFile, match=r"^big.npy is 1.95 KiB"):
        copy_child_file(out, "big.npy", tmp_path / "copy", 1000)
    assert not (tmp_path / "copy").exists()
    for name in ("../grader/answers.npy", "/etc/passwd", "", ".", "out/../x", "a//b"):
        with pytest.raises(UnsafeFile, match=r"is not a plain relative file name"):
            open_child_file(out, name, 1000)


# ---------------------------------------------------------------- .npy and .npz


def test_honest_arrays_pass(tmp_path):
    arrays = {"r.0": np.arange(12.0).reshape(3, 4), "words": np.array(["a", "bc"]),
              "flags": np.array([True, False]), "empty": np.zeros((0, 3), "f4")}
    np.savez(tmp_path / "a.npz", **arrays)
    np.savez_compressed(tmp_path / "b.npz", **arrays)
    for name in ("a.npz", "b.npz"):
        assert check_npz(tmp_path / name) == {k: (v.shape, v.dtype) for k, v in arrays.items()}
        loaded = safe_load_npz(tmp_path / name)
        assert all(np.array_equal(loaded[k], v) for k, v in arrays.items())
    np.save(tmp_path / "c.npy", np.asfortranarray(np.ones((5, 2), "i8")))
    assert check_npy(tmp_path / "c.npy") == ((5, 2), np.dtype("i8"))
    assert check_npy(npy_of(np.ones(3, "f4"))) == ((3,), np.dtype("f4"))


@pytest.mark.parametrize(("data", "message"), [
    (npy_of(np.array([{}, None], dtype=object)),
     r"^the data holds Python objects \(dtype object\), expected numbers or strings$"),
    (npy((10,), data=b"\0" * 79), r"array of 80 bytes but holds 79 bytes of data$"),
    (npy((10,), data=b"\0" * 81), r"array of 80 bytes but holds 81 bytes of data$"),
    (b"PK\x03\x04" + b"\0" * 100, r"^the data is not a .npy array"),
    (b"\x93NUM", r"^the data ends inside its .npy magic \(4 of 8 bytes\)$"),
    (npy((2,), version=(2, 0), data=b"\0" * 16).replace(b"\x02\x00", b"\x03\x00", 1),
     r"is .npy format version 3.0, expected 1.0 or 2.0$"),
    (npy((10**12,), dtype="|V0", data=b""), r"declares a \(1000000000000,\) array of 10+ el"),
    (b"\x93NUMPY\x01\x00\x10\x00{'descr': 1}    ", r"^the data has a broken .npy header"),
])
def test_forged_npy_is_refused(data, message):
    with pytest.raises(UnsafeFile, match=message):
        check_npy(data)


def test_forged_npz_is_refused(tmp_path):
    ok = npy_of(np.zeros(4))
    cases = [
        ({f"m{i}.npy": ok for i in range(300)}, r"declares 300 members .* than the 256 all"),
        ({"r.npy": ok, "script.py": b"print()"}, r"member script.py is not a .npy array$"),
        ({"r.npy": npy_of(np.array(["x", 1], dtype=object))}, r"member r holds Python obj"),
        ({"a.npy": npy_of(np.zeros(100)), "b.npy": npy((100,), data=b"\0" * 800)},
         r"^\S+ declares 1.56 KiB of arrays up to member b, more than the 1000 bytes allowed"),
    ]
    for i, (members, message) in enumerate(cases):
        path = write_zip(tmp_path / f"{i}.npz", members)
        with pytest.raises(UnsafeFile, match=message):
            check_npz(path, max_bytes=1000)
    lzma = write_zip(tmp_path / "lzma.npz", {"r.npy": ok}, zipfile.ZIP_LZMA)
    with pytest.raises(UnsafeFile, match=r"member r.npy is encrypted or compressed with meth"):
        check_npz(lzma)
    duplicate = tmp_path / "dup.npz"
    with zipfile.ZipFile(duplicate, "w") as archive, pytest.warns(UserWarning):
        archive.writestr("r.npy", ok)
        archive.writestr("r.npy", ok)
    with pytest.raises(UnsafeFile, match=r"has 2 members \(1 distinct\)"):
        check_npz(duplicate)
    with pytest.raises(UnsafeFile, match=r"is not a zip archive$"):
        check_npz(ok)


def test_member_stream_longer_or_shorter_than_declared(tmp_path):
    """The zip directory and the .npy header agree, the deflate stream does not: longer
    (zipfile stops at the declared size, then its CRC fails) or shorter (counted)."""
    member = npy((100,), data=b"\0" * 800)
    longer = write_zip(tmp_path / "longer.npz", {"r.npy": member + b"\0" * 2**23},
                       zipfile.ZIP_DEFLATED)
    patch_directory_size(longer, "r.npy", len(member))
    with pytest.raises(UnsafeFile, match=r"member r is corrupt .*Bad CRC-32"):
        check_npz(longer)
    shorter = write_zip(tmp_path / "shorter.npz", {"r.npy": npy((101,), data=b"\0" * 800)},
                        zipfile.ZIP_DEFLATED)
    patch_directory_size(shorter, "r.npy", len(member) + 8)
    with pytest.raises(UnsafeFile, match=r"member r decompresses to 800 bytes, not the 808"):
        check_npz(shorter)


# ---------------------------------------------------------------- .keras


def test_real_keras_model_passes(model_keras):
    assert check_keras(model_keras) == {
        "layers/dense/vars/0": ((4, 3), np.dtype("f4")),
        "layers/dense/vars/1": ((3,), np.dtype("f4")),
        "optimizer/vars/0": ((), np.dtype("i8")),
        "optimizer/vars/1": ((), np.dtype("f4")),
    }
    assert check_keras(model_keras.read_bytes(), label="m")["layers/dense/vars/1"][0] == (3,)


def test_external_storage_reads_a_grader_file(model_keras, tmp_path, grader_secret):
    secret = grader_secret.read_bytes()

    def external(file):
        file.create_dataset("layers/dense/vars/2", shape=(len(secret),), dtype="u1",
                            external=[(str(grader_secret), 0, len(secret))])

    path = edit_keras(model_keras, tmp_path / "model.keras", external)
    weights = zipfile.ZipFile(path).read("model.weights.h5")  # plain: the secret leaks
    leaked = h5py.File(io.BytesIO(weights), "r")["layers/dense/vars/2"][()].tobytes()
    assert leaked == secret
    with pytest.raises(UnsafeFile, match=r"dataset layers/dense/vars/2 keeps its data in an "
                                         r"external file '.*answers.npy'$"):
        check_keras(path)


@pytest.mark.parametrize("attack", ["soft link", "external link", "virtual", "strings",
                                    "many chunks"])
def test_forged_weights_are_refused(attack, model_keras, tmp_path, grader_secret):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as file:
        file["x"] = np.arange(4.0)

    def edit(file):
        if attack == "soft link":
            file["layers/dense/vars/2"] = h5py.SoftLink("/layers/dense/vars/0")
        elif attack == "external link":
            file["layers/dense/vars/2"] = h5py.ExternalLink(str(other), "/x")
        elif attack == "virtual":
            layout = h5py.VirtualLayout(shape=(4,), dtype="f8")
            layout[:] = h5py.VirtualSource(str(other), "x", shape=(4,))
            file.create_virtual_dataset("layers/dense/vars/2", layout)
        elif attack == "strings":
            file["layers/dense/vars/2"] = np.array([b"x" * 10], dtype=h5py.string_dtype())
        else:
            file.create_dataset("layers/dense/vars/2", shape=(2**21,), dtype="u1", chunks=(1,))

    path = edit_keras(model_keras, tmp_path / "model.keras", edit)
    message = {"soft link": r"has a link of type SoftLink at layers/dense/vars/2, expected",
               "external link": r"has a link of type ExternalLink at layers/dense/vars/2",
               "virtual": r"dataset layers/dense/vars/2 is a virtual dataset",
               "strings": r"dataset layers/dense/vars/2 has dtype object, expected numbers",
               "many chunks": r"is split into 2097152 chunks, more than the 1000000"}[attack]
    with pytest.raises(UnsafeFile, match=message):
        check_keras(path)


@pytest.mark.parametrize(("extra", "message"), [
    ({"evil.py": b"import os"}, r"holds 'evil.py', expected only config.json, metadata"),
    ({"assets/../../etc/cron.d/x": b"* * * * *"}, r"holds 'assets/../../etc/cron.d/x'"),
    ({"model.weights.h5": None}, r"has no model.weights.h5, expected a Keras 3 model"),
    ({"config.json": b"[" * 100_000 + b"]" * 100_000}, r"config.json is not valid JSON"),
    ({"config.json": b"[1, 2]"}, r"config.json holds a JSON list, expected an object$"),
    ({"config.json": b" " * 5 * 2**20}, r"config.json is 5 MiB, more than the 4 MiB allowed"),
    ({"assets/vocab.txt": b"300 MiB"}, r"declares 300 MiB uncompressed, more than the 256"),
])
def test_forged_archive_is_refused(extra, message, model_keras, tmp_path):
    path = edit_keras(model_keras, tmp_path / "model.keras", extra=extra)
    if "assets/vocab.txt" in extra:  # declared in the zip directory only
        patch_directory_size(path, "assets/vocab.txt", 300 * 2**20 - path.stat().st_size)
    with pytest.raises(UnsafeFile, match=message):
        check_keras(path)


def test_archive_member_shorter_than_declared(model_keras, tmp_path):
    path = edit_keras(model_keras, tmp_path / "model.keras")
    size = zipfile.ZipFile(path).getinfo("config.json").file_size
    patch_directory_size(path, "config.json", size + 10)
    with pytest.raises(UnsafeFile, match=rf"config.json decompresses to {size} bytes, not"):
        check_keras(path)


def test_limits_are_module_constants():
    assert safeload.MAX_ARRAY_BYTES == 64 * 2**20
    assert safeload.MAX_MODEL_BYTES == 256 * 2**20
    assert issubclass(UnsafeFile, ValueError)
